"""Rotation angles of an orthogonal matrix: principal angles, geodesic distance, drift angle.

Every orthogonal ``Q`` is normal, so ``Q = W diag(e^{iθ_j}) W^H`` with eigen-angles
``θ_j = |arg λ_j| ∈ [0, π]``: each rotation plane contributes a conjugate pair ``e^{±iθ}``, a fixed
axis ``λ = 1`` (θ = 0) and a reflected axis ``λ = −1`` (θ = π).

How the angles are computed (float64). The symmetric part ``(Q + Qᵀ)/2 = W diag(cos θ_j) W^H``
has exactly the real parts of the eigenvalues of ``Q`` as its eigenvalues, so we take
``θ_j = arccos(clip(eigvalsh((Q + Qᵀ)/2), −1, 1))``. A symmetric eigensolver is backward stable
(absolute error ~1e-16), has no branch cut at ±π (the sign of ``arg λ`` never matters: only
``θ²`` enters the distances) and batches cheaply — a general ``eig``/Schur solve costs several
times more and has to disentangle ``arg`` near ``−1``. The price is resolution near θ = 0 and
θ = π, where ``arccos`` turns an eigenvalue error ``δ`` into ``√(2δ)`` ≈ 2e-8 rad per angle:
well inside :data:`ANGLE_ATOL_DEG`.

Inputs are validated to be orthogonal within :data:`ATOL_ORTHO` and then projected onto
O(d) (nearest orthogonal matrix, the polar factor) if they deviate by more than
:data:`REORTHOGONALIZE_ATOL`, so float32 round-off is not mistaken for rotation.

Reflections (det = −1). Such a ``Q`` lies in the other component of O(d): no geodesic from the
identity reaches it and it has no real logarithm. We keep the same formulas, counting each
eigenvalue −1 as a half-turn θ = π, i.e. we use the principal complex logarithm. A single-axis
reflection therefore reads ``geodesic_distance = π`` and ``drift_angle_deg = 180/√2 ≈ 127.3°``:
a reflected frame never reads as small drift. Use ``np.linalg.det`` (or ``ProcrustesResult``
with ``proper=True``) when the distinction matters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError
from ..rfc_params import packaged as _rfc
from ._inputs import as_square, is_torch_tensor

#: RFC-0002 §9 ``ATOL_ORTHO``: largest ``max |QᵀQ − I|`` accepted as "orthogonal". An orthogonal
#: matrix built in float32 at d = 128 deviates by up to ~d·eps32 ≈ 8e-6, inside 1e-5; a generic
#: matrix deviates by O(1).
ATOL_ORTHO: float = _rfc().ATOL_ORTHO

#: Above this deviation the input is replaced by its polar factor before the angles are read, so
#: a 1e-6 orthogonality error cannot show up as √(1e-6) ≈ 0.06° of spurious rotation.
REORTHOGONALIZE_ATOL = 1e-12

#: RFC-0002 §9 ``ANGLE_ATOL_DEG``: the accuracy promised for :func:`drift_angle_deg` (and each
#: principal angle near 0 and π): arccos maps the ~1e-16 eigenvalue error to ~2e-8 rad per
#: eigen-angle; combined over d = 128 eigenvalues the identity reads up to ~2e-5° (measured), a
#: 50x margin inside 1e-3°, which is far below any drift that matters.
ANGLE_ATOL_DEG: float = _rfc().ANGLE_ATOL_DEG


def _orthogonal(q: Any, name: str = "q") -> np.ndarray:
    arr = as_square(q, name)
    if arr.size == 0:
        raise InputError(
            f"`{name}` is an empty batch of shape {arr.shape}",
            remediation=f"Pass at least one (d, d) matrix in `{name}`.",
            shape=tuple(arr.shape),
        )
    d = arr.shape[-1]
    gram = np.matmul(np.swapaxes(arr, -1, -2), arr)
    dev = np.max(np.abs(gram - np.eye(d)), axis=(-2, -1))
    worst = float(np.max(dev))
    if not worst <= ATOL_ORTHO:
        raise InputError(
            f"`{name}` is not orthogonal: max |QᵀQ − I| = {worst:.3g} > ATOL_ORTHO = {ATOL_ORTHO:g}",
            remediation=f"Pass an orthogonal matrix in `{name}` (e.g. ProcrustesResult.q); rotation "
            "angles are undefined for a general matrix.",
            deviation=worst,
        )
    if worst > REORTHOGONALIZE_ATOL:
        u, _, vt = np.linalg.svd(arr)
        arr = np.matmul(u, vt)
    return arr


def cos_spectrum(q: Any) -> Any:
    """Real parts of the eigenvalues of orthogonal ``q`` ``(..., d, d)``, ascending, clipped to [−1, 1].

    Internal fast path (no validation): ``q`` must already be float64 and orthogonal. A torch
    tensor is solved with ``torch.linalg`` and the result stays a tensor (used by the batched
    frame drift); anything else goes through numpy.
    """
    lin = np.linalg
    if is_torch_tensor(q):
        import torch

        lin = torch.linalg
    sym = 0.5 * (q + q.swapaxes(-1, -2))
    return lin.eigvalsh(sym).clip(-1.0, 1.0)


def drift_from_cos(cos: Any) -> np.ndarray:
    """Drift angle in degrees from a cos spectrum ``(..., d)`` (:func:`cos_spectrum`): numpy out."""
    theta = np.arccos(np.asarray(cos, dtype=np.float64))
    return np.degrees(np.sqrt(0.5 * np.sum(theta * theta, axis=-1)))


#: Coefficients of ``θ² = Σ_{n≥1} a_n x^n`` with ``x = 1 − cos θ`` (``a_n = 2^{n+1} / (n² C(2n, n))``,
#: from ``θ = 2 arcsin √(x/2)``): ``2, 1/3, 4/45, 1/35, …``. All positive, ``a_{n+1}/a_n < ½``.
_THETA_SQ_COEFFS = tuple(2.0 ** (n + 1) / (n * n * math.comb(2 * n, n)) for n in range(1, 10))

#: :func:`drift_from_orthogonal_fast` accepts the trace series when its tail bound is at most this
#: fraction of ``Σθ²`` (the drift angle then within ~5e-9 relative, i.e. ≤ 1e-6° at 180°).
SERIES_RTOL = 1e-8


def _series_tail_ok(t_top: Any, t1: Any, n_top: int, xp: Any) -> Any:
    """True where ``Σ_{n>N} a_n tr(Aⁿ) <= SERIES_RTOL · 2 tr(A)`` is guaranteed (``N = n_top``).

    ``A = I − sym(Q)`` is positive semidefinite with eigenvalues ``x_j = 1 − cos θ_j ∈ [0, 2]``, so
    ``x_max <= b = tr(A^N)^{1/N}`` and ``tr(Aⁿ) <= b^{n−N} tr(A^N)``; with ``a_{n+1} < a_n/2`` the
    tail is at most ``a_{N+1} · tr(A^N) · b / (1 − b/2)``, and ``Σθ² >= 2 tr(A)``.
    """
    t_top = t_top.clip(0.0, None)
    b = t_top ** (1.0 / n_top)
    a_next = _THETA_SQ_COEFFS[n_top]
    return (b < 1.0) & (a_next * t_top * b <= SERIES_RTOL * 2.0 * t1.clip(0.0, None) * (1.0 - 0.5 * b))


def drift_from_orthogonal_fast(q: Any, *, with_certificate: bool = False) -> Any:
    """Drift angles (degrees) of a batch ``(n, d, d)`` of float64 orthogonal ``q`` (numpy or torch).

    Internal fast path of the batched frame drift (no validation), same value as
    :func:`drift_from_orthogonal` without an eigendecomposition where the rotation is moderate:
    with ``A = I − (Q + Qᵀ)/2`` (eigenvalues ``1 − cos θ_j``),
    ``Σ_j θ_j² = Σ_n a_n tr(Aⁿ)`` (:data:`_THETA_SQ_COEFFS`), and ``tr(A)…tr(A⁴)`` come from ONE
    matrix product (``tr A²`` = ``‖A‖_F²``, ``tr A³ = ⟨A, A²⟩``, ``tr A⁴ = ‖A²‖_F²``), ``tr(A⁵)…tr(A⁸)``
    from two more. An item is taken from the series only when the tail bound of
    :func:`_series_tail_ok` certifies ``Σθ²`` to :data:`SERIES_RTOL`; the rest (large rotations,
    reflections) go through ``eigvalsh`` (:func:`cos_spectrum`). The series sums the same
    eigenvalues the eigensolver would return, so both routes agree to round-off.

    ``with_certificate=True`` also returns the boolean mask of the series items: their tail bound
    ``b < 1`` puts every ``cos θ_j`` above 0, so none of their eigenvalues is −1 and ``det q = +1``.
    """
    torch_in = is_torch_tensor(q)
    if torch_in:
        import torch

        xp = torch
        mm = _bmm64
    else:
        xp = np
        mm = np.matmul
    n = q.shape[0]
    out = np.full(n, np.nan)
    if n == 0:
        return (out, np.zeros(0, bool)) if with_certificate else out
    a = q + q.swapaxes(-1, -2)  # A = I − (Q + Qᵀ)/2, built in place
    a *= -0.5
    diag = a.diagonal(0, -2, -1) if torch_in else np.einsum("...ii->...i", a)
    diag += 1.0
    d = q.shape[-1]
    # The per-item traces are d² times smaller than the matrices: their bookkeeping runs in numpy
    # (a few µs per operation instead of a torch dispatch each).
    t1_all = np.asarray(_diag_sum(a, xp), dtype=np.float64)
    y_np = np.zeros(n)
    done_np = np.zeros(n, dtype=bool)
    # x_max >= mean x = tr(A)/d, and x_max >= (tr(A⁴)/d)^{1/4}: above 0.35 not even the
    # eighth-order tail (a₉·x⁸ ≈ 6e-8) can pass, so those items go straight to eigvalsh.
    cand = t1_all < 0.35 * d
    if cand.any():
        ci = np.flatnonzero(cand)
        if ci.size < n:
            a = a[torch.from_numpy(ci)] if torch_in else a[ci]
        a2 = mm(a, a)
        t = [None, t1_all[ci], *(np.asarray(_fro(u, v, xp)) for u, v in ((a, a), (a, a2), (a2, a2)))]
        yc = sum(_THETA_SQ_COEFFS[i - 1] * t[i] for i in range(1, 5))
        donec = _series_tail_ok(t[4], t[1], 4, np)
        rest = ~donec & (t[4].clip(0.0, None) < 0.35**4 * d)
        if rest.any():  # up to A⁸ for the others: two more products
            idx = np.flatnonzero(rest)
            sel = torch.from_numpy(idx) if torch_in else idx
            ar, a2r = a[sel], a2[sel]
            a3 = mm(ar, a2r)
            a4 = mm(a2r, a2r)
            t5to8 = [np.asarray(_fro(u, v, xp)) for u, v in ((a2r, a3), (a3, a3), (a3, a4), (a4, a4))]
            yc[idx] = yc[idx] + sum(c * tt for c, tt in zip(_THETA_SQ_COEFFS[4:8], t5to8))
            donec[idx] = _series_tail_ok(t5to8[3], t[1][idx], 8, np)
        y_np[ci] = yc  # items neither stage certified take the eigvalsh route below
        done_np[ci] = donec
    out[done_np] = np.degrees(np.sqrt(0.5 * y_np[done_np].clip(0.0, None)))
    if not done_np.all():
        slow = np.flatnonzero(~done_np)
        qs = q[torch.from_numpy(slow)] if torch_in else q[slow]
        out[slow] = drift_from_cos(cos_spectrum(qs))
    return (out, done_np.copy()) if with_certificate else out


def _fro(x: Any, y: Any, xp: Any) -> Any:
    """``⟨x, y⟩_F`` over the last two axes without a full-size temporary where possible."""
    if xp is np:
        return np.einsum("...ij,...ij->...", x, y)
    if x is y:
        return xp.linalg.vector_norm(x, dim=(-2, -1)).square()
    return (x * y).sum((-2, -1))


def _diag_sum(a: Any, xp: Any) -> Any:
    return xp.diagonal(a, 0, -2, -1).sum(-1) if xp is not np else np.trace(a, axis1=-2, axis2=-1)


def _bmm64(a: Any, b: Any) -> Any:
    """Batched float64 torch product through 2-D BLAS calls (torch's float64 bmm on CPU is slow)."""
    import torch

    out = a.new_empty((a.shape[0], a.shape[1], b.shape[-1]))
    for i in range(a.shape[0]):
        torch.matmul(a[i], b[i], out=out[i])
    return out


def _sum_sq_angles(q: np.ndarray) -> np.ndarray:
    theta = np.arccos(cos_spectrum(q))
    return np.sum(theta * theta, axis=-1)


def drift_from_orthogonal(q: np.ndarray) -> np.ndarray:
    """Fast path for already-orthogonal float64 ``q`` ``(..., d, d)``: drift angle in degrees."""
    return drift_from_cos(cos_spectrum(q))


def _scalar_or_array(x: np.ndarray) -> Any:
    return float(x) if np.ndim(x) == 0 else x


def principal_angles(q: Any) -> np.ndarray:
    """Eigen-angles ``θ_j = |arg λ_j(Q)|`` in radians, ``(..., d)``, sorted descending.

    One entry per eigenvalue: a rotation plane by θ contributes θ twice, a fixed axis 0 and a
    reflected axis π. Computed as ``arccos`` of the eigenvalues of ``(Q + Qᵀ)/2`` (see module
    docstring); accurate to ~2e-8 rad (worst near 0 and π).

    Raises InputError for NaN/Inf, non-square or ``d < 2`` input, or a matrix that is not
    orthogonal within :data:`ATOL_ORTHO`.
    """
    arr = _orthogonal(q)
    theta = np.arccos(cos_spectrum(arr))  # eigvalsh ascending -> arccos descending
    return theta


def geodesic_distance(q: Any) -> Any:
    """``‖log Q‖_F = sqrt(Σ_j θ_j²)`` in radians: the Riemannian distance from I to Q in SO(d).

    For det = −1 it is the Frobenius norm of the principal complex logarithm (each eigenvalue −1
    counts as π). Returns a float for a single matrix, an array over batch dimensions otherwise.
    """
    arr = _orthogonal(q)
    return _scalar_or_array(np.sqrt(_sum_sq_angles(arr)))


def drift_angle_deg(q: Any) -> Any:
    """Scalar drift angle ``sqrt(½ Σ_j arg(λ_j)²)`` in degrees ( = geodesic distance / √2 ).

    Properties (all tested):

    * a single-plane rotation by θ ∈ [0°, 180°] reads exactly θ (its eigen-angles are ±θ);
    * along a geodesic ``Q(t) = exp(tA)`` (A skew-symmetric) it equals ``t·‖A‖_F/√2`` for every
      ``t`` with ``t·‖A‖₂ < π``: linear, hence strictly increasing, in any dimension;
    * symmetric: ``drift_angle_deg(Q) = drift_angle_deg(Qᵀ)``; 0 for the identity (to within
      :data:`ANGLE_ATOL_DEG`); invariant under conjugation ``RᵀQR``.

    Unlike the single-plane trace formula ``acos((tr Q − (d − 2))/2)``, it does not saturate at
    180° for generic multi-plane rotations: it can exceed 180° (max ``180°·sqrt(d/2)``), which is
    the point — "more drift" always reads larger. Reflections: see the module docstring.
    """
    arr = _orthogonal(q)
    return _scalar_or_array(drift_from_orthogonal(arr))
