"""Input validation shared by every metric.

Every public metric funnels its array arguments through these helpers so that bad input fails
the same way everywhere: an :class:`~lensemble_spec.errors.InputError` whose message names the
argument and whose remediation says what to pass instead. Checked, in this order:

* the value is array-like with a real numeric dtype (bool, complex, object and strings refused);
* the rank (number of dimensions) is what the metric needs;
* every value is finite (NaN / ±Inf usually mean a diverged model);
* the number of samples is at least :data:`MIN_SAMPLES`.

torch tensors are accepted anywhere an array is: they are detached, moved to CPU and converted to
float64 numpy arrays. torch is never imported here (the check is by module name), so importing the
metrics package stays cheap; only the differentiable SIGReg path touches torch itself.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError

#: Every statistic here (means, variances, centred spectra, fits) needs at least two samples.
MIN_SAMPLES = 2


def is_torch_tensor(x: Any) -> bool:
    """True for a ``torch.Tensor`` (checked without importing torch)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _refuse_special(x: Any, name: str) -> None:
    """Refuse inputs whose values an array conversion would silently change."""
    if isinstance(x, np.ma.MaskedArray):
        raise InputError(
            f"`{name}` is a numpy masked array; its masked entries would silently count as data",
            remediation=f"Pass `{name}.compressed()` (drop masked samples) or `{name}.filled(value)` "
            "as a plain array.",
        )
    if is_torch_tensor(x):
        if getattr(x, "is_meta", False) or str(getattr(x, "device", "")) == "meta":
            raise InputError(
                f"`{name}` is a torch meta tensor (shape only, no values)",
                remediation=f"Pass `{name}` as a tensor with data (not on device 'meta').",
            )
        layout = str(getattr(x, "layout", "torch.strided"))
        if layout != "torch.strided":
            raise InputError(
                f"`{name}` is a torch tensor with layout {layout}",
                remediation=f"Pass `{name}.to_dense()` (a strided tensor).",
            )


def _torch_to_numpy(x: Any, name: str, dtype: Any) -> np.ndarray:
    t = x.detach()
    if t.is_complex():
        raise InputError(
            f"`{name}` is a complex tensor",
            remediation=f"Pass `{name}` as a real floating-point tensor.",
        )
    if str(t.dtype) == "torch.bool":
        return t.to(device="cpu").numpy()  # refused by the caller with the generic dtype message
    if dtype is None:  # keep float32/float64 (no copy on CPU); widen half types to float32
        if str(t.dtype) in ("torch.float16", "torch.bfloat16"):
            t = t.float()
        return t.to(device="cpu").numpy()
    return t.to(device="cpu").double().numpy()  # also covers bfloat16 / float16


def _as_numeric(x: Any, name: str, dtype: Any) -> np.ndarray:
    if x is None:
        raise InputError(
            f"`{name}` is None",
            remediation=f"Pass `{name}` as a numeric array (numpy array or torch tensor).",
        )
    _refuse_special(x, name)
    if is_torch_tensor(x):
        arr = _torch_to_numpy(x, name, dtype)
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists etc.
            raise InputError(
                f"`{name}` cannot be converted to an array: {exc}",
                remediation=f"Pass `{name}` as a rectangular numeric array.",
            ) from exc
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise InputError(
            f"`{name}` has dtype {arr.dtype}, expected a real number type",
            remediation=f"Pass `{name}` as a float (or integer) array; booleans, complex numbers, "
            "strings and objects are not latents.",
        )
    return arr if dtype is None else np.asarray(arr, dtype=dtype)


def to_float64(x: Any, name: str) -> np.ndarray:
    """Return ``x`` as a float64 numpy array, refusing non-numeric input.

    Does not check rank or finiteness (see :func:`check_finite` and the ``as_*`` helpers).
    Refuses numpy masked arrays and torch meta / sparse tensors (their values are not what a
    plain conversion would give).
    """
    return _as_numeric(x, name, np.float64)


def samples_view(x: Any, name: str, *, min_samples: int = 2) -> np.ndarray:
    """Validate latents ``(..., d)`` and return them as ``(n, d)`` **without** a float64 copy.

    float32/float64 data come back in their own dtype (a view where possible); integer data as
    float64. Finiteness is NOT checked here: callers that stream the rows check each chunk
    (:func:`float64_chunks`), so a 200000 × 256 float32 batch never needs a second full copy.
    """
    arr = _as_numeric(x, name, None)
    if arr.dtype.kind in "iu" or arr.dtype.itemsize < 4:
        arr = arr.astype(np.float64)
    check_ndim(arr, name, minimum=2, layout="(..., d): samples in the leading dimensions, latent last")
    if arr.shape[-1] < 1:
        raise InputError(f"`{name}` has latent dimension 0",
                         remediation=f"Pass `{name}` with at least one latent coordinate.")
    flat = arr.reshape(-1, arr.shape[-1])
    check_min_samples(flat.shape[0], name, min_samples)
    return flat


def float64_chunks(view: np.ndarray, name: str, rows: int) -> Any:
    """Yield ``view`` in float64 row chunks of at most ``rows`` rows, checking each is finite."""
    for i in range(0, view.shape[0], rows):
        chunk = np.array(view[i : i + rows], dtype=np.float64)  # always a copy: callers centre in place
        check_finite(chunk, name)
        yield chunk


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise :class:`InputError` if ``arr`` holds NaN or ±Inf."""
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InputError(
            f"`{name}` contains {bad} non-finite value(s) (NaN or Inf)",
            remediation=f"Fix the source of NaN/Inf in `{name}` (usually a diverged model or a "
            "division by zero upstream) before computing the metric.",
            n_nonfinite=bad,
        )


def check_ndim(arr: np.ndarray, name: str, *, exact: int | None = None, minimum: int | None = None,
               layout: str = "") -> None:
    """Raise :class:`InputError` unless ``arr.ndim`` matches ``exact`` / is at least ``minimum``."""
    ok = (exact is None or arr.ndim == exact) and (minimum is None or arr.ndim >= minimum)
    if not ok:
        want = f"exactly {exact}" if exact is not None else f"at least {minimum}"
        raise InputError(
            f"`{name}` has {arr.ndim} dimension(s) (shape {arr.shape}), expected {want}",
            remediation=f"Pass `{name}` shaped {layout or 'as documented'}.",
            shape=tuple(arr.shape),
        )


def check_min_samples(n: int, name: str, minimum: int = MIN_SAMPLES) -> None:
    if n < minimum:
        raise InputError(
            f"`{name}` has {n} sample(s); at least {minimum} are needed",
            remediation=f"Pass at least {minimum} samples (rows) in `{name}`; a statistic over "
            "fewer samples is undefined.",
            n_samples=n,
        )


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise InputError(
            f"`{name_a}` has shape {a.shape} but `{name_b}` has shape {b.shape}",
            remediation=f"Pass `{name_a}` and `{name_b}` with identical shapes (the same samples "
            "in the same order, the same latent dimension).",
            shapes=(tuple(a.shape), tuple(b.shape)),
        )


def as_samples(x: Any, name: str, *, min_samples: int = MIN_SAMPLES) -> np.ndarray:
    """Validate latents ``(..., d)`` and return them flattened to float64 ``(n, d)``.

    All leading dimensions count as samples (e.g. ``(T, B, d)`` tokens give ``n = T·B``).
    """
    arr = to_float64(x, name)
    check_ndim(arr, name, minimum=2, layout="(..., d): samples in the leading dimensions, latent last")
    if arr.shape[-1] < 1:
        raise InputError(f"`{name}` has latent dimension 0",
                         remediation=f"Pass `{name}` with at least one latent coordinate.")
    check_finite(arr, name)
    flat = arr.reshape(-1, arr.shape[-1])
    check_min_samples(flat.shape[0], name, min_samples)
    return flat


def as_matrix(x: Any, name: str, *, min_rows: int = MIN_SAMPLES, layout: str = "(n, d)") -> np.ndarray:
    """Validate an exactly 2-D float64 matrix with at least ``min_rows`` rows."""
    return _checked_matrix(to_float64(x, name), name, min_rows, layout)[0]


def matrix_view(x: Any, name: str, *, min_rows: int = MIN_SAMPLES,
                layout: str = "(n, d)") -> tuple[np.ndarray, float]:
    """:func:`as_matrix` without the float64 copy, and the peak ``max |x|`` its finiteness check
    found (so the caller need not pass over the data again): float32/float64 come back in their
    own dtype (no copy where possible), half types as float32, integers as float64. Same checks,
    same errors."""
    arr = _as_numeric(x, name, None)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float32 if arr.dtype == np.float16 else np.float64)
    return _checked_matrix(arr, name, min_rows, layout)


def _checked_matrix(arr: np.ndarray, name: str, min_rows: int, layout: str) -> tuple[np.ndarray, float]:
    """The checks of :func:`as_matrix` / :func:`matrix_view`, in order: exactly 2-D, finite,
    at least ``min_rows`` rows, at least one column. Returns the array and its peak ``max |arr|``."""
    check_ndim(arr, name, exact=2, layout=layout)
    peak = finite_peak(arr, name) if arr.size else 0.0  # the same InputError as check_finite
    check_min_samples(arr.shape[0], name, min_rows)
    if arr.shape[1] < 1:
        raise InputError(f"`{name}` has zero columns",
                         remediation=f"Pass `{name}` with at least one latent coordinate.")
    return arr, peak


def finite_peak(arr: np.ndarray, name: str) -> float:
    """``max |arr|`` of a non-empty float array; raises :class:`InputError` on NaN/±Inf.

    Two SIMD reductions instead of a boolean mask: ``max``/``min`` propagate NaN, and ±Inf shows
    in one of them, so both are finite exactly when every entry is.
    """
    hi, lo = float(arr.max()), float(arr.min())
    if not (math.isfinite(hi) and math.isfinite(lo)):
        check_finite(arr, name)
    return max(hi, -lo)


def as_batched_samples(x: Any, name: str) -> np.ndarray:
    """Validate ``(..., n, d)`` (batch dims, samples, latent) as float64 with ``n >= 2``."""
    arr = to_float64(x, name)
    check_ndim(arr, name, minimum=2, layout="(..., n, d): optional batch dims, samples, latent")
    check_finite(arr, name)
    check_min_samples(arr.shape[-2], name)
    if arr.shape[-1] < 1:
        raise InputError(f"`{name}` has latent dimension 0",
                         remediation=f"Pass `{name}` with at least one latent coordinate.")
    return arr


def as_square(x: Any, name: str) -> np.ndarray:
    """Validate a (batch of) square matrices ``(..., d, d)`` with ``d >= 2`` as float64."""
    arr = to_float64(x, name)
    check_ndim(arr, name, minimum=2, layout="(..., d, d): a square matrix or a batch of them")
    if arr.shape[-1] != arr.shape[-2]:
        raise InputError(
            f"`{name}` has shape {arr.shape}; its last two dimensions must be equal",
            remediation=f"Pass `{name}` as a square (d, d) orthogonal matrix or a batch (..., d, d).",
            shape=tuple(arr.shape),
        )
    check_finite(arr, name)
    check_min_samples(arr.shape[-1], f"{name} (dimension d)")
    return arr
