"""Gauge arithmetic on latent frames, in float64 numpy.

Procrustes is solved through the eigen-decomposition of ``MᵀM`` for ``M = SᵀT`` (not a direct
SVD): ``M = U Σ Vᵀ`` with ``V`` from ``eigh(MᵀM)`` and ``U = M V Σ⁻¹`` on the spanned directions.
Frames that span fewer than all directions (this package's LayerNorm-terminated encoder spans
``d − 1``) are aligned on what they span; the unspanned block is completed by the orthogonal map
closest to the identity. A frame is singular only below a quarter of the dimensions.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import BadArray, SingularFrame

#: Relative singular-value cut-off of ``SᵀT`` (RFC-0002 DEGENERATE_RTOL).
RANK_RTOL = 1e-6
#: Fewest spanned directions, as a fraction of d, that still define a frame (RFC-0002 MIN_RANK_FRACTION).
MIN_SPAN_FRACTION = 0.25


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.array(a, dtype=np.float64)
    b = np.array(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2:
        raise BadArray(f"frames must be (k, d) matrices, got {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise BadArray(f"frames differ in shape: {a.shape} vs {b.shape}")
    if a.shape[0] < 2:
        raise BadArray(f"a frame needs at least two points, got {a.shape[0]}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise BadArray("frames contain NaN or Inf")
    return a, b


def align(source, target) -> np.ndarray:
    """Orthogonal ``Q`` minimising ``‖source Q − target‖`` over O(d)."""
    s, t = _pair(source, target)
    d = s.shape[1]
    m = s.T @ t
    evals, v = np.linalg.eigh(m.T @ m)
    order = np.argsort(evals)[::-1]
    evals, v = np.clip(evals[order], 0.0, None), v[:, order]
    sigma = np.sqrt(evals)
    if sigma[0] == 0.0 or not np.isfinite(sigma[0]):
        raise SingularFrame("the cross-covariance of the two frames is zero")
    # eigh squares the spectrum: a singular value below RANK_RTOL·σ_max has eigenvalue below
    # RANK_RTOL²·λ_max, which float64 still resolves (≈1e-12 ≫ 2e-16).
    r = int(np.sum(sigma > RANK_RTOL * sigma[0]))
    floor = min(d, max(2, math.ceil(MIN_SPAN_FRACTION * d)))  # RFC-0002 §3.2: never fewer than two
    if r < floor:
        raise SingularFrame(f"the frames span {r} of {d} directions (fewer than the floor {floor})")
    v_r = v[:, :r]
    u_r = (m @ v_r) / sigma[:r]
    u_r, _ = _orthonormal(u_r)
    q = u_r @ v_r.T
    if r < d:
        u_perp = _complement(u_r)
        v_perp = v[:, r:]
        a, _s, bt = np.linalg.svd(v_perp.T @ u_perp)
        q = q + u_perp @ (bt.T @ a.T) @ v_perp.T
    return q


def _orthonormal(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Polar factor of ``u`` (re-orthonormalises columns computed as ``M V Σ⁻¹``)."""
    w, _s, vt = np.linalg.svd(u, full_matrices=False)
    return w @ vt, _s


def _complement(u: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the orthogonal complement of ``u``'s columns."""
    full, _ = np.linalg.qr(np.hstack([u, np.eye(u.shape[0])]))
    return full[:, u.shape[1] : u.shape[0]]


def angle_deg(q) -> float:
    """``(180/π)·sqrt(½ Σ arg(λ)²)`` over the eigenvalues of ``q``."""
    q = np.array(q, dtype=np.float64)
    if q.ndim != 2 or q.shape[0] != q.shape[1]:
        raise BadArray(f"expected a square matrix, got {q.shape}")
    phases = np.angle(np.linalg.eigvals(q))
    return math.degrees(math.sqrt(0.5 * float(np.dot(phases, phases))))


def drift_deg(source, target) -> float:
    return angle_deg(align(source, target))


def _rows(z) -> np.ndarray:
    z = np.array(z, dtype=np.float64)
    if z.ndim < 2:
        raise BadArray(f"latents must be (N, d), got {z.shape}")
    z = z.reshape(-1, z.shape[-1])
    if not np.isfinite(z).all():
        raise BadArray("latents contain NaN or Inf")
    return z


def rankme(z) -> float:
    """exp(entropy) of the normalised singular values of the centred latents; 0.0 when constant."""
    z = _rows(z)
    centred = z - z.mean(axis=0, keepdims=True)
    scale = np.linalg.norm(z)
    if scale == 0.0 or np.linalg.norm(centred) <= 1e-12 * scale:
        return 0.0
    s = np.linalg.svd(centred, compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


def mean_std(z) -> float:
    z = _rows(z)
    return float(np.sqrt(((z - z.mean(axis=0)) ** 2).mean(axis=0)).mean())
