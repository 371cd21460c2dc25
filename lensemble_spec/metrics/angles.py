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
