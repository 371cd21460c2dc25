"""SIGReg: sketched Epps–Pulley test of the latents against an isotropic standard Gaussian.

Sketch. ``A = build_sketch(seed, d, m)`` is a ``(d, m)`` float32 matrix of unit columns drawn from
a dedicated ``numpy.random.Generator(PCG64(seed))`` (standard normal, columns L2-normalised in
float64, then cast). It never touches a global RNG, so the same ``(seed, d, m)`` gives the same
bytes in every process and on every platform for a given numpy version. Every participant of a
round uses ``seed = round_sketch_seed(root_seed, t)``.

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
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ..errors import InputError
from ._inputs import as_samples, check_min_samples, is_torch_tensor, to_float64

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


def build_sketch(seed: int, d: int, n_directions: int) -> np.ndarray:
    """Deterministic ``(d, n_directions)`` float32 matrix of unit columns (see module docstring)."""
    for name, value, low in (("seed", seed, 0), ("d", d, 1), ("n_directions", n_directions, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(
                f"{name} must be an int >= {low}, got {value!r}",
                remediation="Pass build_sketch(seed >= 0, d >= 1, n_directions >= 1) as integers.",
            )
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    g = rng.standard_normal((int(d), int(n_directions)))
    g /= np.linalg.norm(g, axis=0, keepdims=True)
    return g.astype(np.float32)


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


def _statistic_numpy(z: np.ndarray, a: np.ndarray) -> float:
    t, w = sigreg_knots()
    u = z @ a
    u -= u.mean(axis=0)
    phi = np.exp(-0.5 * t * t)
    total = np.zeros(a.shape[1])
    for tk, wk, pk in zip(t, w, phi):  # loop over 17 knots keeps memory at (M, m)
        tu = tk * u
        c = np.cos(tu).mean(axis=0) - pk
        s = np.sin(tu).mean(axis=0)
        total += wk * (c * c + s * s)
    return float(total.mean())


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


def _statistic_torch(flat: Any, a_np: np.ndarray):
    import torch

    t_np, w_np = sigreg_knots()
    a = torch.as_tensor(a_np, dtype=flat.dtype, device=flat.device)
    t = torch.as_tensor(t_np, dtype=flat.dtype, device=flat.device)
    w = torch.as_tensor(w_np, dtype=flat.dtype, device=flat.device)
    u = flat @ a
    u = u - u.mean(dim=0, keepdim=True)
    tu = u.unsqueeze(-1) * t  # (M, m, K)
    c = torch.cos(tu).mean(dim=0) - torch.exp(-0.5 * t * t)
    s = torch.sin(tu).mean(dim=0)
    return ((c * c + s * s) @ w).mean()


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
