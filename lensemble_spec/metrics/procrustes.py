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

Two solvers for a batch of cross-covariances (both accept numpy arrays or torch tensors and
return the same kind; both are float64):

* :func:`polar_from_cross` — the reference: one batched SVD, ``Q = U Vᵀ``. Used by
  :func:`procrustes_align` and as the fallback below.
* :func:`polar_batch` — the fast route used by :func:`~.drift.frame_drift`: the symmetric
  eigendecomposition ``MᵀM = V Λ Vᵀ`` (about half the cost of the SVD at d = 128, because only one
  set of singular vectors is accumulated), ``σ = √λ`` and ``Q = M V Λ^{-1/2} Vᵀ``. Items whose
  ``σ_min/σ_max`` is at most :data:`EIGH_POLAR_MIN_RATIO` take the SVD route instead.

Error bound of the eigh route (``u = 2⁻⁵³``, ``κ = σ_max/σ_min``, ``c`` a modest function of d).
``M`` is first scaled by a power of two (exact; ``Q`` is scale-invariant), so ``MᵀM`` can neither
overflow nor underflow. Forming ``MᵀM`` and the backward-stable symmetric eigensolver together
return the exact eigensystem of ``MᵀM + E`` with ``‖E‖ ≲ c·u·σ_max²``. In the eigenbasis of
``H = (MᵀM)^{1/2}`` the first-order change of ``H^{-1}`` is ``−E_ab / (σ_a σ_b (σ_a + σ_b))``,
so ``Q̂ − Q = M·δ(H^{-1})`` has entries ``E_ab / (σ_b (σ_a + σ_b))``: at most
``‖E‖/(2σ_min²) ≈ ½·c·u·κ²`` (squared condition number, against ``~u·κ`` for the SVD). Likewise
``σ̂_j = √λ̂_j`` has absolute error ``≲ c·u·σ_max²/(2σ_j)``, i.e. the condition number is good to
a relative ``~c·u·κ²`` and the nuclear norm ``Σσ`` to ``~c·u·κ``. With ``κ < 1/EIGH_POLAR_MIN_RATIO
= 1e3`` that is ``Q`` within ~1e-10 of the SVD answer. Measured at d = 128 (max entry of
``Q̂ − Q``, relative condition error): 2e-13 / 4e-12 at κ = 1e2, 2e-11 / 3e-10 at κ = 1e3,
1e-9 / 2e-8 at κ = 1e4, 2e-7 / 6e-6 at κ = 1e5 — hence the threshold, which still leaves healthy
probes (``σ_min/σ_max`` ~1e-1, see :data:`PROCRUSTES_RCOND`) two decades inside the fast route.
The decision itself is safe: ``λ̂_min`` is off by at most ``~c·u·λ_max``, far below the
``1e-6·λ_max`` it is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..errors import DegenerateProcrustes
from ._inputs import as_batched_samples, check_same_shape, is_torch_tensor

#: Relative rank tolerance on the singular values of the cross-covariance ``M = SᵀT``.
#: ``M`` is quadratic in the latents, so 1e-6 flags frames whose weakest shared direction carries
#: less than ~1e-3 of the standard deviation of the strongest one: in that plane the alignment is
#: decided by noise, not structure. Exactly collapsed frames land many orders below (fp32 latents
#: of rank r give ``σ_{r+1}/σ_1`` around 1e-13), well-conditioned probes (k ≥ 2d Gaussian-like
#: points) sit near 1e-1, so the threshold has several decades of margin on both sides.
PROCRUSTES_RCOND = 1e-6

#: :func:`polar_batch` solves an item through the eigendecomposition of ``MᵀM`` only when
#: ``σ_min/σ_max > EIGH_POLAR_MIN_RATIO``: the eigh route's error grows like ``u·κ²`` (module
#: docstring), which at ``κ = 1e3`` is ~1e-10 in ``Q`` and ~1e-9 relative in the condition number.
#: Everything at or below it (ill-conditioned, degenerate, zero) takes the SVD route.
EIGH_POLAR_MIN_RATIO = 1e-3


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


def _namespace(x: Any) -> tuple[Any, Any]:
    """``(module, linalg)`` for ``x``: torch for a torch tensor (already imported then), else numpy."""
    if is_torch_tensor(x):
        import torch

        return torch, torch.linalg
    return np, np.linalg


def _zeros_bool(x: Any, n: int) -> Any:
    return x.new_zeros(n, dtype=bool) if is_torch_tensor(x) else np.zeros(n, dtype=bool)


def polar_from_cross(m: Any, *, proper: bool) -> tuple[Any, Any, Any]:
    """Solve Procrustes for a stack of cross-covariances ``(..., d, d)`` with ONE batched SVD.

    Returns ``(q, singular_values, flipped)``; ``flipped`` marks items where ``proper=True``
    negated the last singular direction to reach det +1 (the objective then loses ``2σ_min``).
    ``m`` may be a numpy array or a torch tensor; the results are of the same kind.
    """
    _, lin = _namespace(m)
    batch = tuple(m.shape[:-2])
    d = m.shape[-1]
    u, s, vt = lin.svd(m.reshape((-1, d, d)))
    q = u @ vt
    flipped = _zeros_bool(q, q.shape[0])
    if proper:
        # det(U Vᵀ) is ±1 up to rounding; its sign is all that matters.
        flipped = lin.det(q) < 0
        if bool(flipped.any()):
            u_f = u[flipped]
            u_f[:, :, -1] *= -1.0
            q[flipped] = u_f @ vt[flipped]
    return q.reshape(batch + (d, d)), s.reshape(batch + (d,)), flipped.reshape(batch)


class PolarBatch(NamedTuple):
    """Result of :func:`polar_batch` for ``n`` cross-covariances (arrays of the input's kind).

    ``q`` ``(n, d, d)``: the Procrustes solutions (finite but meaningless for degenerate items);
    ``s_max``, ``s_min`` ``(n,)``: extreme singular values of ``M``; ``nuclear`` ``(n,)``:
    ``tr(QᵀM)`` (``Σσ``, minus ``2σ_min`` where a Kabsch flip was applied); ``flipped``: the
    flip was applied (``proper=True`` only); ``reflection``: ``det q < 0`` (``proper=False`` only);
    ``via_svd``: the item took the SVD route (``σ_min/σ_max <= EIGH_POLAR_MIN_RATIO``).
    """

    q: Any
    s_max: Any
    s_min: Any
    nuclear: Any
    flipped: Any
    reflection: Any
    via_svd: Any


def polar_batch(m: Any, *, proper: bool, min_ratio: float = EIGH_POLAR_MIN_RATIO) -> PolarBatch:
    """Procrustes for a stack ``(n, d, d)`` of cross-covariances via ``eigh(MᵀM)``, SVD fallback.

    Same solutions as :func:`polar_from_cross` to the accuracy stated in the module docstring
    (``~u·κ²``; items with ``σ_min/σ_max <= min_ratio`` are solved by :func:`polar_from_cross`
    and are therefore identical to it). ``m`` may be a numpy array or a torch tensor (float64).
    """
    xp, lin = _namespace(m)
    n, d = m.shape[0], m.shape[-1]
    # Exact power-of-two scaling: MᵀM cannot overflow or underflow, and Q does not change.
    peak = xp.amax(xp.abs(m), (-2, -1))
    ok = xp.isfinite(peak) & (peak > 0)
    scale = xp.exp2(xp.floor(xp.log2(xp.where(ok, peak, 1.0))))
    ms = m / scale[:, None, None]
    if not bool(ok.all()):
        ms = xp.where(ok[:, None, None], ms, 0.0)  # non-finite / zero items: SVD route below
    lam, v = lin.eigh(ms.swapaxes(-1, -2) @ ms)  # ascending
    fast = ok & (lam[:, 0] > (min_ratio * min_ratio) * lam[:, -1])
    s = xp.sqrt(lam.clip(0.0, None))
    neg_det = lin.slogdet(ms)[0] < 0  # sign det Q = sign det M (slogdet: no underflow at d = 128)
    flipped = (neg_det & fast) if proper else _zeros_bool(m, n)
    mv = (ms @ v) / xp.where(s > 0, s, 1.0)[:, None, :]  # U = M V Λ^{-1/2} (garbage off the fast items)
    if proper:
        # Kabsch: negate the direction of the smallest singular value (eigh column 0).
        mv[..., 0] = xp.where(flipped[:, None], -mv[..., 0], mv[..., 0])
    q = mv @ v.swapaxes(-1, -2)
    s_max = s[:, -1] * scale
    s_min = s[:, 0] * scale
    nuclear = s.sum(-1) * scale - 2.0 * xp.where(flipped, s_min, 0.0)
    reflection = _zeros_bool(m, n) if proper else (neg_det & fast)
    slow = ~fast
    if bool(slow.any()):
        q_s, sv_s, fl_s = polar_from_cross(m[slow], proper=proper)
        q[slow] = q_s
        s_max[slow] = sv_s[:, 0]
        s_min[slow] = sv_s[:, -1]
        nuclear[slow] = sv_s.sum(-1) - 2.0 * xp.where(fl_s, sv_s[:, -1], 0.0)
        flipped[slow] = fl_s
        if not proper:
            reflection[slow] = lin.det(q_s) < 0
    return PolarBatch(q=q, s_max=s_max, s_min=s_min, nuclear=nuclear, flipped=flipped,
                      reflection=reflection, via_svd=slow)


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
