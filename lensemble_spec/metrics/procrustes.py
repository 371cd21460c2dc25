"""Orthogonal Procrustes alignment between two embeddings of the same points.

Conventions (RFC-0002 §2): latents are **row vectors**, ``source`` and ``target`` are ``(n, d)``
embeddings of the same ``n`` points in the same order, and the solution ``Q`` satisfies
``source @ Q ≈ target``. A gauge transform acts as ``z -> z @ Q``.

Formula. With the cross-covariance ``M = Sᵀ T = U Σ Vᵀ`` (SVD), the minimiser of ``‖S Q − T‖_F``
over the orthogonal group O(d) is ``Q = U Vᵀ`` (it maximises ``tr(Qᵀ M)``). Over the rotation group
SO(d) (``proper=True``) the last column of ``U`` — the one paired with the smallest singular value —
is negated when ``det(U Vᵀ) = −1`` (Kabsch), which is the cheapest way to reach det +1.

No centring is applied: the gauge group is rotations about the origin, and the latent mean rotates
with everything else.

Tolerance. The problem is well posed only if ``M`` has full rank; otherwise ``Q`` is not unique
(e.g. any rotation of the null space, or a sign flip of a direction both sets lack). We call the
problem degenerate when ``σ_min(M) <= PROCRUSTES_RCOND · σ_max(M)`` (or ``M = 0``) and raise
:class:`~lensemble_spec.errors.DegenerateProcrustes` instead of returning an arbitrary ``Q``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DegenerateProcrustes
from ._inputs import as_batched_samples, check_same_shape

#: Relative rank tolerance on the singular values of the cross-covariance ``M = SᵀT``.
#: ``M`` is quadratic in the latents, so 1e-6 flags frames whose weakest shared direction carries
#: less than ~1e-3 of the standard deviation of the strongest one: in that plane the alignment is
#: decided by noise, not structure. Exactly collapsed frames land many orders below (fp32 latents
#: of rank r give ``σ_{r+1}/σ_1`` around 1e-13), well-conditioned probes (k ≥ 2d Gaussian-like
#: points) sit near 1e-1, so the threshold has several decades of margin on both sides.
PROCRUSTES_RCOND = 1e-6


@dataclass(frozen=True)
class ProcrustesResult:
    """Result of :func:`procrustes_align`.

    ``q``: ``(..., d, d)`` orthogonal, ``source @ q ≈ target``.
    ``residual``: ``‖source @ q − target‖_F / ‖target‖_F`` (float, or array over batch dims).
    ``condition``: ``σ_max / σ_min`` of the cross-covariance ``Sᵀ T`` (float or array).
    ``singular_values``: ``(..., d)`` singular values of ``Sᵀ T``, descending.
    """

    q: np.ndarray
    residual: Any
    condition: Any
    singular_values: np.ndarray


def cross_covariance(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``Sᵀ T`` over the last two axes (``(..., n, d) x (..., n, d) -> (..., d, d)``), float64."""
    return np.matmul(np.swapaxes(source, -1, -2), target)


def degenerate_mask(singular_values: np.ndarray, rcond: float = PROCRUSTES_RCOND) -> np.ndarray:
    """Boolean ``(...)``: True where the cross-covariance is rank-deficient beyond ``rcond``."""
    s_max = singular_values[..., 0]
    s_min = singular_values[..., -1]
    return ~(np.isfinite(s_max) & (s_max > 0) & (s_min > rcond * s_max))


def condition_numbers(singular_values: np.ndarray) -> np.ndarray:
    """``σ_max / σ_min`` (``inf`` where ``σ_min = 0``)."""
    s_max = singular_values[..., 0]
    s_min = singular_values[..., -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = np.where(s_min > 0, s_max / np.where(s_min > 0, s_min, 1.0), np.inf)
    return cond


def polar_from_cross(m: np.ndarray, *, proper: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve Procrustes for a stack of cross-covariances ``(..., d, d)`` with ONE batched SVD.

    Returns ``(q, singular_values, flipped)``; ``flipped`` marks items where ``proper=True``
    negated the last singular direction to reach det +1 (the objective then loses ``2σ_min``).
    """
    batch = m.shape[:-2]
    d = m.shape[-1]
    u, s, vt = np.linalg.svd(m.reshape((-1, d, d)))
    q = np.matmul(u, vt)
    flipped = np.zeros(q.shape[0], dtype=bool)
    if proper:
        # det(U Vᵀ) is ±1 up to rounding; its sign is all that matters.
        flipped = np.linalg.det(q) < 0
        if np.any(flipped):
            u_f = u[flipped]
            u_f[:, :, -1] *= -1.0
            q[flipped] = np.matmul(u_f, vt[flipped])
    return q.reshape(batch + (d, d)), s.reshape(batch + (d,)), flipped.reshape(batch)


def procrustes_align(source: Any, target: Any, *, proper: bool = False) -> ProcrustesResult:
    """Orthogonal ``Q`` minimising ``‖source @ Q − target‖_F``; batched over leading dims.

    Parameters
    ----------
    source, target:
        ``(..., n, d)`` numpy arrays or torch tensors with identical shapes, finite, ``n >= 2``.
        Computation is in float64; results are numpy (torch inputs are detached and copied).
    proper:
        ``False`` (default): minimise over O(d) (reflections allowed; the gauge group of the
        JEPA objective). ``True``: minimise over SO(d); the returned ``q`` has det +1.

    Returns
    -------
    ProcrustesResult with ``q`` ``(..., d, d)``, the normalised ``residual``
    ``‖S Q − T‖_F / ‖T‖_F``, the ``condition`` ``σ_max/σ_min`` of ``M = SᵀT`` and its
    ``singular_values``. For 2-D inputs ``residual`` and ``condition`` are Python floats.

    Raises
    ------
    InputError
        NaN/Inf, rank < 2, mismatched shapes, fewer than 2 points.
    DegenerateProcrustes
        ``σ_min(M) <= PROCRUSTES_RCOND · σ_max(M)`` (in any batch item): the solution is not
        unique, typically because a frame has collapsed or ``n < d``.

    Accuracy: for well-conditioned ``M``, ``Q`` is exact to ~``cond(M) · 1e-16``; the residual is
    computed directly from ``S Q − T`` (no cancellation-prone trace identity).
    """
    s_arr = as_batched_samples(source, "source")
    t_arr = as_batched_samples(target, "target")
    check_same_shape(s_arr, t_arr, "source", "target")
    m = cross_covariance(s_arr, t_arr)
    q, sv, _ = polar_from_cross(m, proper=proper)
    bad = degenerate_mask(sv)
    cond = condition_numbers(sv)
    if np.any(bad):
        idx = [tuple(int(i) for i in ix) for ix in np.argwhere(np.atleast_1d(bad))]
        worst = float(np.max(np.atleast_1d(cond)))
        raise DegenerateProcrustes(
            f"cross-covariance is rank-deficient (condition {worst:.3g} > 1/PROCRUSTES_RCOND = "
            f"{1 / PROCRUSTES_RCOND:.3g}); the rotation is not determined"
            + (f" for batch item(s) {idx[:8]}" if m.ndim > 2 else ""),
            condition_number=worst,
            min_singular_value=float(np.min(sv[..., -1])),
            rcond=PROCRUSTES_RCOND,
        )
    t_norm = np.linalg.norm(t_arr, axis=(-2, -1))
    diff = np.matmul(s_arr, q) - t_arr
    residual = np.linalg.norm(diff, axis=(-2, -1)) / t_norm  # t_norm > 0: M != 0 was checked
    if m.ndim == 2:
        return ProcrustesResult(q=q, residual=float(residual), condition=float(cond), singular_values=sv)
    return ProcrustesResult(q=q, residual=residual, condition=cond, singular_values=sv)
