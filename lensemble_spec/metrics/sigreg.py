"""SIGReg: sketched Epps–Pulley test of the latents against an isotropic standard Gaussian.

Sketch. ``A = build_sketch(seed, d, m)`` is a ``(d, m)`` float32 matrix of unit columns from the
generator of :mod:`lensemble_spec.metrics.sketch` (SplitMix64 words, ratio-of-uniforms normals,
columns normalised in float64; RFC-0003 §6.2 states it bit for bit). It never touches a global
RNG, so the same ``(seed, d, m)`` gives the same bytes in every process, on every platform and in
every language. Every participant of a round uses ``seed = round_sketch_seed(root_seed, t)``.

Statistic. Flatten the latents to ``Z`` ``(M, d)`` (all leading dims are samples; every token
counts, as in upstream). Project and **centre**: ``U = Z A − mean(Z A)`` ``(M, m)``. For each
direction ``j`` compare the empirical characteristic function with that of N(0, 1)::

    D_j = Σ_k w_k [ (mean_i cos(t_k U_ij) − e^{−t_k²/2})² + (mean_i sin(t_k U_ij))² ]
    SIGReg = mean_j D_j

* knots ``t_k = linspace(0, SIGREG_T_MAX, SIGREG_KNOTS)`` = 17 points on [0, 3] (the integrand
  is even in t for real data, so the half-line suffices; e^{−9/2} ≈ 0.011 leaves <2% of the
  window's mass beyond 3);
* weights ``w_k ∝ trapezoid_k · e^{−t_k²/2}`` (trapezoid rule on the grid × Gaussian window),
  normalised to ``Σ_k w_k = 1``, so ``D_j`` is a weighted mean squared characteristic-function
  error in [0, 4];
* no ``M`` multiplier: the value estimates a population discrepancy, and its null floor shrinks
  like ``1/M``: for i.i.d. N(0, I) samples ``E = Σ_k w_k (1 − e^{−t_k²}) / M ≈ 0.42/M`` before
  centring; with centring we measure 0.2–0.3/M (d = 2…32).

Centre, do not scale. A global offset carries no information for the JEPA objective (the
predictor absorbs it) and its batch estimate is noisy, so it is removed. The variance is *not*
standardised away: matching ``e^{−t²/2}`` is what pins every projection to unit variance, and a
standardised statistic would score a latent shrunk to scale 1e-6 as perfectly Gaussian — exactly
the magnitude collapse SIGReg exists to prevent. (Upstream RFC text says "standardised"; the code
only centres; we follow the code, deliberately.)

Invariance. ``(Z Q)(Qᵀ A) = Z A``, so the statistic is exactly invariant (to fp round-off) when
latents and sketch co-rotate: ``z -> z Q``, ``A -> Qᵀ A``.

Backends. numpy input → Python float (float64 arithmetic). torch input → 0-dim tensor in the
input's floating dtype and device, differentiable w.r.t. the embeddings.

How it is computed (both backends). The knots are equally spaced, ``t_k = k·Δ``, so
``cos(t_k u) + i sin(t_k u) = (cos(Δu) + i sin(Δu))^k``: one ``cos`` and one ``sin`` of ``Δ·U``
and then a complex multiplication per knot (the angle-addition recurrence; its rounding error grows
like ``k·u``, ~1e-15 in float64 and ~1e-6 relative in float32 at k = 16). The ``(M, m)`` projections
are processed in row blocks of about :data:`BLOCK_ELEMENTS` entries, so every intermediate stays in
cache and nothing of size ``(M, m, knots)`` is ever formed: memory is ``O(M·m)``. The torch path
has a hand-written backward (``torch.autograd.Function``): with ``C_kj``, ``S_kj`` the empirical
characteristic function,
``∂SIGReg/∂U_ij = (2/(M·m)) Σ_k w_k t_k [S_kj cos(t_k U_ij) − (C_kj − e^{−t_k²/2}) sin(t_k U_ij)]``,
then the centring's backward (subtract the column mean) and ``· Aᵀ``. It is first-order only
(no double backward).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import numpy as np

from ..errors import InputError
from ._inputs import as_samples, check_min_samples, is_torch_tensor, to_float64
from .sketch import build_sketch  # noqa: F401  (its historical home; defined in .sketch)

#: Number of characteristic-function knots (LeWM / LeJEPA default; odd so the grid is symmetric
#: about its midpoint for the trapezoid rule).
SIGREG_KNOTS = 17

#: Upper end of the knot range; e^{−t²/2} at t = 3 is 0.011 (LeJEPA's t_max).
SIGREG_T_MAX = 3.0

#: Sketch columns must be unit vectors within this tolerance (float32 storage rounds norms to
#: ~1e-7; a co-rotated sketch ``Qᵀ A`` stays within ~1e-6). A non-unit sketch silently rescales
#: the latents the test sees.
SKETCH_NORM_ATOL = 1e-4

_SEED_MASK = (1 << 63) - 1

#: Entries of ``U`` processed per row block (64 Ki: 256 KiB in float32, 512 KiB in float64).
BLOCK_ELEMENTS = 1 << 16


def sigreg_knots() -> tuple[np.ndarray, np.ndarray]:
    """The knots ``t_k`` and normalised weights ``w_k`` (float64, both length SIGREG_KNOTS)."""
    t = np.linspace(0.0, SIGREG_T_MAX, SIGREG_KNOTS)
    trap = np.full(SIGREG_KNOTS, t[1] - t[0])
    trap[0] = trap[-1] = 0.5 * (t[1] - t[0])
    w = trap * np.exp(-0.5 * t * t)
    return t, w / w.sum()


def derive_seed(root_seed: int, label: str) -> int:
    """63-bit seed: the first 8 bytes (big-endian) of ``sha256(f"{root_seed}:{label}")``, masked to 2⁶³−1.

    Pure and process-independent. ``root_seed`` must be a non-negative int, ``label`` a str.
    """
    if isinstance(root_seed, bool) or not isinstance(root_seed, (int, np.integer)) or root_seed < 0:
        raise InputError(
            f"root_seed must be a non-negative int, got {root_seed!r}",
            remediation="Pass the run's integer root seed (>= 0).",
        )
    if not isinstance(label, str):
        raise InputError(f"label must be a str, got {type(label).__name__}",
                         remediation="Pass a text label such as 'sketch:3'.")
    digest = hashlib.sha256(f"{int(root_seed)}:{label}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & _SEED_MASK


def round_sketch_seed(root_seed: int, round_index: int) -> int:
    """``derive_seed(root_seed, f"sketch:{round_index}")``: the sketch seed of round ``t``."""
    if isinstance(round_index, bool) or not isinstance(round_index, (int, np.integer)) or round_index < 0:
        raise InputError(f"round_index must be a non-negative int, got {round_index!r}",
                         remediation="Pass the 0-based round index.")
    return derive_seed(root_seed, f"sketch:{int(round_index)}")


def _check_sketch(sketch: Any, d: int) -> np.ndarray:
    a = to_float64(sketch, "sketch")
    if a.ndim != 2 or a.shape[0] != d:
        raise InputError(
            f"`sketch` has shape {a.shape}, expected ({d}, m) to match latent dimension {d}",
            remediation="Build the sketch with build_sketch(seed, d, m) for the latents' d.",
        )
    if not np.all(np.isfinite(a)):
        raise InputError("`sketch` contains NaN/Inf", remediation="Rebuild the sketch with build_sketch.")
    check_min_samples(a.shape[1], "sketch (directions)", 1)
    dev = float(np.max(np.abs(np.linalg.norm(a, axis=0) - 1.0)))
    if dev > SKETCH_NORM_ATOL:
        raise InputError(
            f"`sketch` columns are not unit vectors (max | ‖a_j‖ − 1 | = {dev:.3g})",
            remediation="Use build_sketch (unit columns) or co-rotate it as Qᵀ A with orthogonal Q.",
        )
    return a


def _block_rows(m: int) -> int:
    return max(1, BLOCK_ELEMENTS // max(1, m))


def _ecf_numpy(u: np.ndarray, delta: float, n_knots: int) -> tuple[np.ndarray, np.ndarray]:
    """Column sums ``Σ_i cos(k·Δ·u_ij)``, ``Σ_i sin(k·Δ·u_ij)`` for ``k = 0 … n_knots − 1`` (float64)."""
    m = u.shape[1]
    cs = np.zeros((n_knots, m))
    ss = np.zeros((n_knots, m))
    rows = _block_rows(m)
    for i in range(0, u.shape[0], rows):
        ub = u[i : i + rows]
        c1, s1 = np.cos(delta * ub), np.sin(delta * ub)
        ck, sk = c1.copy(), s1.copy()
        a, b = np.empty_like(c1), np.empty_like(c1)
        cs[0] += ub.shape[0]
        for k in range(1, n_knots):
            cs[k] += ck.sum(axis=0)
            ss[k] += sk.sum(axis=0)
            if k + 1 == n_knots:
                break
            np.multiply(ck, c1, out=a)
            np.multiply(sk, s1, out=b)
            a -= b  # cos((k+1)x)
            np.multiply(sk, c1, out=b)
            np.multiply(ck, s1, out=ck)
            b += ck  # sin((k+1)x)
            ck, a = a, ck
            sk, b = b, sk
    return cs, ss


def _statistic_numpy(z: np.ndarray, a: np.ndarray) -> float:
    t, w = sigreg_knots()
    u = z @ a
    u -= u.mean(axis=0)
    cs, ss = _ecf_numpy(u, float(t[1] - t[0]), t.size)
    n = u.shape[0]
    c = cs / n - np.exp(-0.5 * t * t)[:, None]
    sn = ss / n
    return float((w @ (c * c + sn * sn)).mean())


def _validate_torch(z: Any):
    import torch

    if not torch.is_floating_point(z):
        raise InputError("torch `embeddings` must be a floating-point tensor",
                         remediation="Pass float32 or float64 latents.")
    if z.ndim < 2:
        raise InputError(f"`embeddings` has {z.ndim} dimension(s), expected at least 2",
                         remediation="Pass `embeddings` shaped (..., d): samples first, latent last.")
    if not bool(torch.isfinite(z.detach()).all()):
        raise InputError("`embeddings` contains non-finite values (NaN or Inf)",
                         remediation="Fix the source of NaN/Inf (usually a diverged model) first.")
    flat = z.reshape(-1, z.shape[-1])
    check_min_samples(int(flat.shape[0]), "embeddings")
    return flat


def _ecf_torch(torch: Any, u: Any, delta: float, n_knots: int, coef: tuple[Any, Any] | None = None):
    """Forward (``coef`` None): column sums of ``cos``/``sin`` at every knot, ``(K, m)`` each.

    Backward (``coef = (alpha, beta)``, ``(K, m)``): ``G = Σ_k alpha_k·cos(t_k u) + beta_k·sin(t_k u)``
    ``(M, m)``. Row blocks keep every intermediate in cache (module docstring).
    """
    m = u.shape[1]
    rows = _block_rows(m)
    if coef is None:
        cs = u.new_zeros((n_knots, m))
        ss = u.new_zeros((n_knots, m))
    else:
        alpha, beta = coef
        g = torch.empty_like(u)
    for i in range(0, u.shape[0], rows):
        ub = u[i : i + rows]
        c1 = torch.cos(ub * delta)
        s1 = torch.sin(ub * delta)
        ck, sk = c1.clone(), s1.clone()
        a, b = torch.empty_like(c1), torch.empty_like(c1)
        if coef is None:
            cs[0] += ub.shape[0]
        else:
            gb = g[i : i + rows]
            gb.copy_(alpha[0].expand_as(gb))
        for k in range(1, n_knots):
            if coef is None:
                cs[k] += ck.sum(dim=0)
                ss[k] += sk.sum(dim=0)
            else:
                gb.addcmul_(ck, alpha[k])
                gb.addcmul_(sk, beta[k])
            if k + 1 == n_knots:
                break
            torch.mul(ck, c1, out=a)
            a.addcmul_(sk, s1, value=-1.0)  # cos((k+1)x)
            torch.mul(sk, c1, out=b)
            b.addcmul_(ck, s1)  # sin((k+1)x)
            ck, a = a, ck
            sk, b = b, sk
    return (cs, ss) if coef is None else g


@functools.lru_cache(maxsize=1)
def _sigreg_function(torch: Any) -> Any:
    """``torch.autograd.Function`` computing SIGReg of ``(flat, sketch)`` with the hand-written backward."""

    class _SIGReg(torch.autograd.Function):
        @staticmethod
        def forward(ctx, flat, a, t, w):
            y = flat.detach() @ a
            u = y - y.mean(dim=0, keepdim=True)
            n_knots = t.shape[0]
            delta = float(t[1] - t[0])
            cs, ss = _ecf_torch(torch, u, delta, n_knots)
            n = u.shape[0]
            c = cs / n - torch.exp(-0.5 * t * t)[:, None]
            sn = ss / n
            ctx.save_for_backward(u, a, t, w, c, sn)
            return ((c * c + sn * sn) * w[:, None]).sum(dim=0).mean()

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx, grad_out):
            u, a, t, w, c, sn = ctx.saved_tensors
            n, m = u.shape
            scale = 2.0 / (n * m)
            wt = (w * t)[:, None] * scale
            alpha = wt * sn  # multiplies cos(t_k u)
            beta = -wt * c  # multiplies sin(t_k u)
            g = _ecf_torch(torch, u, float(t[1] - t[0]), t.shape[0], (alpha, beta))
            g -= g.mean(dim=0, keepdim=True)  # backward of the centring
            grad_flat = (g * grad_out) @ a.T
            return grad_flat, None, None, None

    return _SIGReg


def _statistic_torch(flat: Any, a_np: np.ndarray):
    import torch

    t_np, w_np = sigreg_knots()
    a = torch.as_tensor(a_np, dtype=flat.dtype, device=flat.device)
    t = torch.as_tensor(t_np, dtype=flat.dtype, device=flat.device)
    w = torch.as_tensor(w_np, dtype=flat.dtype, device=flat.device)
    return _sigreg_function(torch).apply(flat, a, t, w)


def sigreg_statistic(embeddings: Any, sketch: Any):
    """Sketched Epps–Pulley statistic of ``embeddings`` ``(..., d)`` against N(0, I).

    ``sketch`` is ``(d, m)`` with unit columns (:func:`build_sketch`). Returns a float for numpy
    input; for a torch tensor, a differentiable 0-dim tensor (same dtype/device). Formula, knots,
    weights and the centre-only convention are in the module docstring. ~0 (≲ 0.4/M) for
    i.i.d. N(0, I) samples; grows for wrong scale, wrong shape or low rank.

    Raises InputError for NaN/Inf, ``ndim < 2``, fewer than 2 samples, or a sketch whose shape
    does not match ``d`` or whose columns are not unit vectors.
    """
    if is_torch_tensor(embeddings):
        flat = _validate_torch(embeddings)
        a = _check_sketch(sketch, int(flat.shape[1]))
        return _statistic_torch(flat, a)
    z = as_samples(embeddings, "embeddings")
    a = _check_sketch(sketch, z.shape[1])
    return _statistic_numpy(z, a)
