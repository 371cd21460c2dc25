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

Rank and degeneracy (RFC-0002 §3.2). The *numerical rank* ``r`` of ``M`` counts the singular
values above ``DEGENERATE_RTOL · σ_max``. Frames that are rank-deficient **by design** — a
LayerNorm-terminated encoder emits latents that sum to zero, so they span a ``d − 1``-dimensional
subspace — still determine ``Q`` on the ``r`` directions they span: there ``Q = U_r V_rᵀ`` (the
polar factor restricted to the span). The ``d − r`` undetermined directions are completed by the
**minimal rotation**: the orthogonal map ``W`` from the source's null directions ``U_⊥`` to the
target's ``V_⊥`` that brings ``Q = U_r V_rᵀ + U_⊥ W V_⊥ᵀ`` closest to the identity (maximal
``tr Q``, i.e. ``W`` the polar factor of ``(V_⊥ᵀ U_⊥)ᵀ``; with ``proper=True`` the sign of ``det W``
is chosen so that ``det Q = +1``, which costs the objective nothing). A frame is **degenerate** only
when ``r`` is below the rank floor :func:`rank_floor` ``= max(2, ⌈MIN_RANK_FRACTION·d⌉)`` (or
``M = 0``): a collapsed frame (a point, a line, a quarter of its dimensions) still raises
:class:`~lensemble_spec.errors.DegenerateProcrustes` and is never read as an alignment or 0°.

Scale. ``S`` and ``T`` are each divided by a power of two near their largest entry before ``M`` is
formed (exact, and ``Q`` does not depend on positive scalings of either side), so latents near
1e±200 neither overflow nor underflow; ``singular_values`` are scaled back (they may be ``inf``
when ``σ`` itself exceeds the float64 range).

Two solvers for a batch of cross-covariances (both accept numpy arrays or torch tensors and
return the same kind; both are float64):

* :func:`polar_from_cross` — the reference: one batched SVD, ``Q = U Vᵀ`` (completed on the
  undetermined directions, above). The fallback of the route below.
* :func:`polar_batch` — the fast route used by :func:`procrustes_align` and
  :func:`~.drift.frame_drift`: the symmetric
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
probes (``σ_min/σ_max`` ~1e-1, see :data:`DEGENERATE_RTOL`) two decades inside the fast route.
The decision itself is safe: ``λ̂_min`` is off by at most ``~c·u·λ_max``, far below the
``1e-6·λ_max`` it is compared with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..errors import DegenerateProcrustes
from ..rfc_params import packaged as _rfc
from ._inputs import check_same_shape, is_torch_tensor, matrix_view
from ._torch_blas import _loaded_torch, _matmul, _single_threaded, _sum_sq

#: RFC-0002 §9 ``DEGENERATE_RTOL``: singular values of the cross-covariance ``M = SᵀT`` at or below
#: this fraction of the largest do not count towards its numerical rank. ``M`` is quadratic in the
#: latents, so 1e-6 drops directions carrying less than ~1e-3 of the standard deviation of the
#: strongest one, where the alignment would be decided by noise, not structure. Directions that are
#: zero by construction (fp32 latents of rank r give ``σ_{r+1}/σ_1`` around 1e-13; LayerNorm's
#: sum-zero direction ~1e-8) land many orders below; well-conditioned probes sit near 1e-1.
DEGENERATE_RTOL: float = _rfc().DEGENERATE_RTOL

#: RFC-0002 §9 ``MIN_RANK_FRACTION``: a frame whose cross-covariance has numerical rank below
#: :func:`rank_floor` is degenerate (collapsed) — the same fraction that bounds the effective rank
#: of an anchored run (GAUGE-041).
MIN_RANK_FRACTION: float = _rfc().MIN_RANK_FRACTION

#: :func:`polar_batch` solves an item through the eigendecomposition of ``MᵀM`` only when
#: ``σ_min/σ_max > EIGH_POLAR_MIN_RATIO``: the eigh route's error grows like ``u·κ²`` (module
#: docstring), which at ``κ = 1e3`` is ~1e-10 in ``Q`` and ~1e-9 relative in the condition number.
#: Everything at or below it (ill-conditioned, rank-deficient, zero) takes the SVD route.
EIGH_POLAR_MIN_RATIO = 1e-3


def rank_floor(d: int) -> int:
    """Smallest numerical rank of ``SᵀT`` that determines a frame: ``min(d, max(2, ⌈MIN_RANK_FRACTION·d⌉))``.

    At least 2 because a frame collapsed onto a line carries no rotation of its own; at most
    ``d`` (for ``d = 2`` only full rank counts).
    """
    return min(int(d), max(2, math.ceil(MIN_RANK_FRACTION * int(d) - 1e-9)))


@dataclass(frozen=True)
class ProcrustesResult:
    """Result of :func:`procrustes_align`.

    ``q``: ``(d, d)`` orthogonal, ``source @ q ≈ target`` on the span of the frames.
    ``residual``: ``‖source @ q − target‖_F / ‖target‖_F``.
    ``condition``: ``σ_max / σ_min`` of the cross-covariance ``Sᵀ T`` (``inf`` when rank-deficient).
    ``singular_values``: ``(d,)`` singular values of ``Sᵀ T``, descending.
    ``rank``: numerical rank of ``Sᵀ T`` (singular values above ``DEGENERATE_RTOL·σ_max``); below
    ``d`` the undetermined directions were completed by the minimal rotation.
    """

    q: np.ndarray
    residual: float
    condition: float
    singular_values: np.ndarray
    rank: int


def pow2_scale(peak: Any) -> Any:
    """``2^-floor(log2 peak)`` (1 where ``peak`` is 0 or non-finite): exact scaling to ``[1, 2)``."""
    peak = np.asarray(peak, dtype=np.float64)
    ok = np.isfinite(peak) & (peak > 0)
    exp = np.frexp(np.where(ok, peak, 1.0))[1] - 1
    return np.ldexp(1.0, -exp)


def cross_covariance(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``Sᵀ T`` over the last two axes (``(..., n, d) x (..., n, d) -> (..., d, d)``), float64."""
    return np.matmul(np.swapaxes(source, -1, -2), target)


def degenerate_mask(s_max: Any, rank: Any, d: int) -> np.ndarray:
    """Boolean: True where ``M`` is zero / non-finite or its numerical rank is below :func:`rank_floor`."""
    s_max = np.asarray(s_max, dtype=np.float64)
    return ~(np.isfinite(s_max) & (s_max > 0) & (np.asarray(rank) >= rank_floor(d)))


def numerical_rank(singular_values: Any, rtol: float | None = None) -> Any:
    """Count of singular values (descending, last axis) above ``rtol·σ_max`` (``DEGENERATE_RTOL``)."""
    rt = DEGENERATE_RTOL if rtol is None else rtol
    return (singular_values > rt * singular_values[..., :1]).sum(-1)


def condition_numbers(s_max: Any, s_min: Any) -> np.ndarray:
    """``σ_max / σ_min`` (``inf`` where ``σ_min = 0``)."""
    s_max, s_min = np.asarray(s_max, dtype=np.float64), np.asarray(s_min, dtype=np.float64)
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


def _bmm(a: Any, b: Any) -> Any:
    """Batched ``a @ b``. torch's float64 batched matmul on CPU does not reach BLAS (measured ~18x
    slower than numpy for 28 × 128³); a loop of 2-D products with ``out=`` does, in torch's threads."""
    if is_torch_tensor(a) and a.ndim == 3 and str(a.dtype) == "torch.float64":
        import torch

        out = a.new_empty((a.shape[0], a.shape[1], b.shape[-1]))
        for i in range(a.shape[0]):
            torch.matmul(a[i], b[i], out=out[i])
        return out
    return a @ b


def _complete(u: np.ndarray, vt: np.ndarray, r: int, proper: bool) -> tuple[np.ndarray, bool]:
    """``U_r V_rᵀ + U_⊥ W V_⊥ᵀ`` with ``W`` the completion nearest the identity (module docstring).

    Returns ``(q, flipped)``; ``flipped``: ``proper`` forced ``det W`` to the non-optimal sign.
    """
    d = u.shape[-1]
    q = u[:, :r] @ vt[:r]
    if r == d:
        return q, False
    u_perp, v_perp = u[:, r:], vt[r:].T
    b = v_perp.T @ u_perp  # maximise tr(W B) over orthogonal W
    p, _, rt = np.linalg.svd(b)
    w = rt.T @ p.T
    flipped = False
    if proper:
        want = np.sign(np.linalg.det(u) * np.linalg.det(vt))  # det Q = det U · det W · det V
        if np.sign(np.linalg.det(w)) != want:
            p = p.copy()
            p[:, -1] *= -1.0  # Kabsch on B: give up the weakest direction of the completion
            w = rt.T @ p.T
            flipped = True
    return q + u_perp @ w @ v_perp.T, flipped


def polar_from_cross(m: Any, *, proper: bool) -> tuple[Any, Any, Any, Any]:
    """Solve Procrustes for a stack of cross-covariances ``(n, d, d)`` with ONE batched SVD.

    Returns ``(q, singular_values, flipped, rank)``. Items of full numerical rank get ``Q = U Vᵀ``;
    items of rank ``1 <= r < d`` are completed by the minimal rotation (module docstring).
    ``flipped`` marks items where ``proper=True`` had to give up a direction to reach det +1 (the
    smallest singular direction at full rank, the weakest completion direction otherwise). ``m``
    may be a numpy array or a torch tensor (float64); the results are of the same kind.
    """
    xp, lin = _namespace(m)
    d = m.shape[-1]
    u, s, vt = lin.svd(m)
    q = _bmm(u, vt)
    n = q.shape[0]
    rank = numerical_rank(s)
    flipped = _zeros_bool(q, n)
    if proper:
        # det(U Vᵀ) is ±1 up to rounding; its sign is all that matters.
        flipped = lin.det(q) < 0
    full = rank == d
    if proper and bool((flipped & full).any()):
        sel = flipped & full
        u_f = u[sel]
        u_f[:, :, -1] *= -1.0
        q[sel] = u_f @ vt[sel]
    partial = (rank < d) & (rank > 0) & (s[:, 0] > 0)
    if bool(partial.any()):
        as_np = (lambda x: x.numpy()) if xp is not np else (lambda x: x)
        idx = [int(i) for i in np.flatnonzero(as_np(partial))]
        u_np, vt_np, r_np = as_np(u), as_np(vt), as_np(rank)
        for i in idx:
            qi, fi = _complete(u_np[i], vt_np[i], int(r_np[i]), proper)
            q[i] = xp.as_tensor(qi) if xp is not np else qi
            flipped[i] = bool(fi)
    return q, s, flipped, rank


class PolarBatch(NamedTuple):
    """Result of :func:`polar_batch` for ``n`` cross-covariances (arrays of the input's kind).

    ``q`` ``(n, d, d)``: the Procrustes solutions (finite but meaningless for degenerate items);
    ``s_max``, ``s_min`` ``(n,)``: extreme singular values of ``M``; ``nuclear`` ``(n,)``:
    ``tr(QᵀM)`` (``Σσ``, minus ``2σ_min`` where a Kabsch flip was applied at full rank);
    ``flipped``: a flip was applied (``proper=True`` only); ``reflection``: ``det q < 0``
    (``proper=False`` only); ``via_svd``: the item took the SVD route
    (``σ_min/σ_max <= EIGH_POLAR_MIN_RATIO``); ``rank``: numerical rank of ``M``.
    """

    q: Any
    s_max: Any
    s_min: Any
    nuclear: Any
    flipped: Any
    reflection: Any
    via_svd: Any
    rank: Any


def polar_batch(m: Any, *, proper: bool, min_ratio: float = EIGH_POLAR_MIN_RATIO,
                signs: bool = True) -> PolarBatch:
    """Procrustes for a stack ``(n, d, d)`` of cross-covariances via ``eigh(MᵀM)``, SVD fallback.

    Same solutions as :func:`polar_from_cross` to the accuracy stated in the module docstring
    (``~u·κ²``; items with ``σ_min/σ_max <= min_ratio`` are solved by :func:`polar_from_cross`
    and are therefore identical to it). ``m`` may be a numpy array or a torch tensor (float64).

    ``signs=False`` (only with ``proper=False``) skips the determinant signs: ``q`` is the O(d)
    solution and ``reflection`` is left False on every item — for callers that establish
    ``det q = +1`` another way and redo the other items with ``signs=True``.
    """
    if not signs and proper:
        raise ValueError("polar_batch(signs=False) needs proper=False")
    xp, lin = _namespace(m)
    n, d = m.shape[0], m.shape[-1]
    # Exact power-of-two scaling: MᵀM cannot overflow or underflow, and Q does not change.
    peak = xp.amax(xp.abs(m), (-2, -1))
    ok = xp.isfinite(peak) & (peak > 0)
    scale = xp.exp2(xp.floor(xp.log2(xp.where(ok, peak, 1.0))))
    ms = m / scale[:, None, None]
    if not bool(ok.all()):
        ms = xp.where(ok[:, None, None], ms, 0.0)  # non-finite / zero items: SVD route below
    lam, v = lin.eigh(_bmm(ms.swapaxes(-1, -2), ms))  # ascending
    fast = ok & (lam[:, 0] > (min_ratio * min_ratio) * lam[:, -1])
    s = xp.sqrt(lam.clip(0.0, None))
    # sign det Q = sign det M (slogdet: no underflow at d = 128)
    neg_det = (lin.slogdet(ms)[0] < 0) if signs else _zeros_bool(m, n)
    flipped = (neg_det & fast) if proper else _zeros_bool(m, n)
    mv = _bmm(ms, v) / xp.where(s > 0, s, 1.0)[:, None, :]  # U = M V Λ^{-1/2} (garbage off the fast items)
    if proper:
        # Kabsch: negate the direction of the smallest singular value (eigh column 0).
        mv[..., 0] = xp.where(flipped[:, None], -mv[..., 0], mv[..., 0])
    q = _bmm(mv, v.swapaxes(-1, -2))
    s_max = s[:, -1] * scale
    s_min = s[:, 0] * scale
    nuclear = s.sum(-1) * scale - 2.0 * xp.where(flipped, s_min, 0.0)
    reflection = _zeros_bool(m, n) if proper else (neg_det & fast)
    rank = xp.full((n,), d) if xp is np else xp.full((n,), d, dtype=xp.int64)
    slow = ~fast
    if bool(slow.any()):
        m_slow = m[slow]
        q_s, sv_s, fl_s, r_s = polar_from_cross(m_slow, proper=proper)
        q[slow] = q_s
        s_max[slow] = sv_s[:, 0]
        s_min[slow] = sv_s[:, -1]
        nuclear[slow] = (q_s * m_slow).sum((-2, -1))  # tr(QᵀM), whatever the completion
        flipped[slow] = fl_s
        rank[slow] = r_s
        if not proper and signs:
            reflection[slow] = lin.det(q_s) < 0
    return PolarBatch(q=q, s_max=s_max, s_min=s_min, nuclear=nuclear, flipped=flipped,
                      reflection=reflection, via_svd=slow, rank=rank)


#: float32 inputs: the cross-covariance is first accumulated in float32 and used when its
#: ``σ_max/σ_min`` is at most this (the same rule as :data:`~.drift.FP32_CROSS_MAX_COND`);
#: otherwise it is recomputed from float64 products.
FP32_CROSS_MAX_COND = 100.0


def _solve_direct(m: np.ndarray, proper: bool, max_cond: float | None = None) -> tuple | None:
    """``(q, singular values (descending), tr(QᵀM), rank)`` of one ``(d, d)`` cross-covariance.

    The eigh route of :func:`polar_batch` (one ``eigh(MᵀM)`` gives ``Q`` and the singular
    values), then one Newton–Schulz step so that ``Q`` is orthogonal to round-off; the SVD route
    for ill-conditioned or rank-deficient ``M``. Returns None when ``max_cond`` is given and
    ``σ_max/σ_min`` exceeds it (the caller recomputes ``M`` more accurately).
    """
    d = m.shape[0]
    peak = max(float(m.max()), -float(m.min()))  # NaN propagates through max/min
    if not (math.isfinite(peak) and peak > 0):
        q, sv, _, rank = polar_from_cross(m[None], proper=proper)
        return q[0], sv[0], float(np.sum(q[0] * m)), int(rank[0])
    scale = math.ldexp(1.0, -(math.frexp(peak)[1] - 1))  # pow2_scale(peak)
    torch = _loaded_torch()
    if torch is not None:  # the same steps on torch tensors (zero-copy; see _matmul)
        xp, mt = torch, torch.from_numpy(m)
        ms = mt * scale
        lam, v = torch.linalg.eigh(ms.T @ ms)
    else:
        xp, ms = np, m * scale
        lam, v = np.linalg.eigh(ms.T @ ms)
    lo, hi = float(lam[0]), float(lam[-1])
    if max_cond is not None and not (lo > hi / (max_cond * max_cond)):
        return None
    if not lo > (EIGH_POLAR_MIN_RATIO * EIGH_POLAR_MIN_RATIO) * hi:
        q, sv, _, rank = polar_from_cross(m[None], proper=proper)
        return q[0], sv[0], float(np.sum(q[0] * m)), int(rank[0])
    sig = xp.sqrt(lam)
    u = ms @ v
    u /= sig
    if proper and float(xp.linalg.slogdet(ms)[0]) < 0:
        u[:, 0] = -u[:, 0]  # Kabsch: the weakest direction (eigh column 0)
    q = u @ v.T
    # One Newton–Schulz step, q(3I − qᵀq)/2: orthogonal to ~1e-16 (one fused product on torch).
    qtq = q.T @ q
    if xp is torch:
        q = torch.addmm(q, q, qtq, beta=1.5, alpha=-0.5)
        nuclear = float(torch.dot(q.reshape(-1), mt.reshape(-1)))  # tr(QᵀM)
        q, sig = q.numpy(), sig.numpy()
    else:
        q = 1.5 * q - 0.5 * (q @ qtq)
        nuclear = float(np.sum(q * m))
    return q, sig[::-1] / scale, nuclear, d


def _safe_scale(peak: float, f32: bool) -> float:
    """1 when ``SᵀT`` of data peaking at ``peak`` can neither overflow nor lose its small entries
    to underflow (``peak`` within ``2^±30`` for float32, ``2^±200`` for float64), else the power of
    two :func:`pow2_scale` that brings the peak to ``[1, 2)``."""
    lim = 2.0**30 if f32 else 2.0**200
    if 1.0 / lim <= peak <= lim:
        return 1.0
    return float(pow2_scale(peak))


@_single_threaded
def procrustes_align(source: Any, target: Any, *, proper: bool = False) -> ProcrustesResult:
    """Orthogonal ``Q`` minimising ``‖source @ Q − target‖_F`` (RFC-0002 §3).

    Parameters
    ----------
    source, target:
        ``(n, d)`` numpy arrays or torch tensors with identical shapes, finite, ``n >= 2``.
        float32/float64 arrays are used in place (no float64 copy; float32 products as stated
        under Accuracy), the d × d solve is float64; results are numpy (torch inputs detached).
        Exactly two-dimensional (GAUGE-015): for many problems at once use
        :func:`~.drift.frame_drift` or :func:`polar_batch` on stacked cross-covariances.
    proper:
        ``False`` (default): minimise over O(d) (reflections allowed; the gauge group of the
        JEPA objective). ``True``: minimise over SO(d); the returned ``q`` has det +1.

    Returns
    -------
    ProcrustesResult with ``q`` ``(d, d)``, the normalised ``residual`` ``‖S Q − T‖_F / ‖T‖_F``,
    the ``condition`` ``σ_max/σ_min`` of ``M = SᵀT``, its ``singular_values`` and its numerical
    ``rank``. A frame of rank ``rank_floor(d) <= r < d`` (e.g. LayerNorm latents, rank ``d − 1``)
    is aligned on its span and completed by the minimal rotation (module docstring).

    Raises
    ------
    InputError
        NaN/Inf, not 2-D, mismatched shapes, fewer than 2 points.
    DegenerateProcrustes
        ``M = 0`` or its numerical rank is below :func:`rank_floor` (a collapsed frame): the
        rotation is not determined by the data.

    Accuracy: well-conditioned problems (``σ_min/σ_max > EIGH_POLAR_MIN_RATIO``) are solved through
    ``eigh(MᵀM)``, ``Q`` within ``~u·κ²`` of the SVD answer (module docstring); the others by the
    SVD. float32 inputs (exact in float32) first accumulate ``M`` in float32 and keep it when
    ``σ_max/σ_min <= FP32_CROSS_MAX_COND`` (``Q`` then within ~``κ·√n·u₃₂`` of the float64 answer,
    far inside ``ATOL_ORTHO``/``PROCRUSTES_ATOL``; measured ~1e-7), else recompute it from float64
    products. The residual is computed from the trace identity ``‖S‖² + ‖T‖² − 2 tr(QᵀM)`` and,
    where that cancels (normalised residual below ``1e-3``, ``3e-2`` for float32 inputs), directly
    from ``S Q − T``.

    Threads: when torch is loaded the whole call runs with torch's intra-op threads at 1 (the
    caller's count is restored on return or raise; :func:`~._torch_blas._single_threaded` says why), and no
    product goes through numpy's multi-threaded BLAS.
    """
    s_arr, s_peak = matrix_view(source, "source", layout="(n, d): n points, latent d")
    t_arr, t_peak = matrix_view(target, "target", layout="(n, d): the same n points as `source`")
    check_same_shape(s_arr, t_arr, "source", "target")
    f32 = s_arr.dtype == np.float32 and t_arr.dtype == np.float32
    if not f32:
        s_arr, t_arr = s_arr.astype(np.float64, copy=False), t_arr.astype(np.float64, copy=False)
    d = s_arr.shape[1]
    # Power-of-two scalings (exact) only where SᵀT could overflow or underflow; Q does not depend
    # on them. float32 data are scaled in float32 (still exact: only entries below 2⁻¹²⁶ of the
    # largest could be lost, far below float32 round-off).
    a = _safe_scale(s_peak, f32)
    b = _safe_scale(t_peak, f32)
    if f32 and not (2.0**-120 <= a <= 2.0**120 and 2.0**-120 <= b <= 2.0**120):  # subnormal peaks
        f32 = False
        s_arr, t_arr = s_arr.astype(np.float64), t_arr.astype(np.float64)
    ss = s_arr if a == 1.0 else s_arr * s_arr.dtype.type(a)
    ts = t_arr if b == 1.0 else t_arr * t_arr.dtype.type(b)
    if f32:  # float32 operands are exact in float32: a float32 GEMM first (see _solve_direct)
        m = _matmul(ss.T, ts).astype(np.float64)
        solved = _solve_direct(m, proper, max_cond=FP32_CROSS_MAX_COND)
        if solved is None:
            m = _matmul(ss.astype(np.float64).T, ts.astype(np.float64))
            solved = _solve_direct(m, proper)
    else:
        m = _matmul(ss.T, ts)
        solved = _solve_direct(m, proper)
    q, sv, nuclear, rank = solved
    s_max, s_min = float(sv[0]), float(sv[-1])
    cond = s_max / s_min if s_min > 0 else math.inf
    if not (math.isfinite(s_max) and s_max > 0 and rank >= rank_floor(d)):  # degenerate_mask
        raise DegenerateProcrustes(
            f"cross-covariance has numerical rank {rank} of d = {d} (below the rank floor "
            f"{rank_floor(d)} = max(2, ⌈MIN_RANK_FRACTION·d⌉)); the frame has collapsed and the "
            "rotation is not determined",
            condition_number=cond,
            min_singular_value=(s_min / a) / b,
            rank=rank,
            rcond=DEGENERATE_RTOL,
        )
    ratio = a / b  # S = ss / a, T = ts / b:  ‖SQ − T‖/‖T‖ = ‖(b/a)·ss Q − ts‖/‖ts‖
    s_sq, t_sq = _sum_sq(ss), _sum_sq(ts)
    inv = 1.0 / ratio
    resid_sq = inv * inv * s_sq + t_sq - 2.0 * inv * nuclear
    residual = math.sqrt(max(resid_sq, 0.0) / t_sq)
    if residual < (3e-2 if f32 else 1e-3):
        ss64, ts64 = ss.astype(np.float64, copy=False), ts.astype(np.float64, copy=False)
        residual = math.sqrt(_sum_sq(inv * _matmul(ss64, q) - ts64) / t_sq)
    with np.errstate(over="ignore"):
        singular_values = (sv / a) / b
    return ProcrustesResult(q=q, residual=residual, condition=cond, singular_values=singular_values, rank=rank)
