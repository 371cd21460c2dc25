"""The peer implementation the metrics benchmark compares against (issue #12), method for method.

A public implementation of the same metrics; its methods, reproduced exactly as described:

* **Procrustes** — per pair, float32 ``torch.linalg.svd`` of the cross-covariance ``SᵀT``,
  ``Q = U Vᵀ`` with the Kabsch flip (last column of ``U`` negated when ``det(U Vᵀ) < 0``).
* **angle** — the trace formula ``arccos((tr Q − (d − 2)) / 2)`` in degrees.
* **pairwise drift** — a Python loop over the unordered pairs, one Procrustes + angle each.
* **effective rank** — float32 ``torch.linalg.svdvals`` of the centred latents, RankMe entropy
  (the participation ratio from the same singular values).
* **SIGReg** — the torch form that materialises the ``(M, m, knots)`` tensor of ``t_k · U_ij``
  (17 knots on [0, 3], trapezoid × Gaussian weights, centred projections), differentiated by
  autograd.

scipy is a second peer, run at one thread only (its OpenBLAS has its own threading behaviour):
``scipy.linalg.orthogonal_procrustes`` per pair and ``scipy.linalg.svdvals``.

Everything takes torch tensors (scipy: numpy arrays) and returns plain Python numbers, so the
benchmark times the methods, not conversions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def procrustes(torch: Any, s: Any, t: Any) -> Any:
    """``Q`` (float32) with ``s @ Q ≈ t`` over SO(d): SVD of ``sᵀt`` + Kabsch flip."""
    u, _, vh = torch.linalg.svd(s.T @ t)
    if torch.linalg.det(u @ vh) < 0:
        u = u.clone()
        u[:, -1] = -u[:, -1]
    return u @ vh


def trace_angle_deg(torch: Any, q: Any) -> float:
    """``arccos((tr Q − (d − 2)) / 2)`` in degrees (the single-plane formula)."""
    d = q.shape[-1]
    c = torch.clamp((torch.trace(q) - (d - 2)) / 2.0, -1.0, 1.0)
    return math.degrees(float(torch.arccos(c)))


def pairwise_drift(torch: Any, frames: list[Any]) -> list[float]:
    """Angle of every unordered pair ``a < b`` (a Python loop, one SVD each)."""
    out = []
    for a in range(len(frames)):
        for b in range(a + 1, len(frames)):
            out.append(trace_angle_deg(torch, procrustes(torch, frames[a], frames[b])))
    return out


def effective_rank_and_dim(torch: Any, z: Any) -> tuple[float, float]:
    """RankMe and participation ratio from ONE float32 ``svdvals`` of the centred latents."""
    s = torch.linalg.svdvals(z - z.mean(dim=0, keepdim=True))
    p = s / s.sum()
    p = p[p > 0]
    rank = float(torch.exp(-(p * torch.log(p)).sum()))
    lam = s * s
    dim = float(lam.sum() ** 2 / (lam * lam).sum())
    return rank, dim


def sigreg(torch: Any, z: Any, a: Any, knots: int = 17, t_max: float = 3.0) -> Any:
    """SIGReg materialising ``(M, m, knots)``; differentiable by autograd."""
    t = torch.linspace(0.0, t_max, knots, dtype=z.dtype)
    trap = torch.full((knots,), float(t[1] - t[0]), dtype=z.dtype)
    trap[0] = trap[-1] = 0.5 * float(t[1] - t[0])
    w = trap * torch.exp(-0.5 * t * t)
    w = w / w.sum()
    u = z @ a
    u = u - u.mean(dim=0, keepdim=True)
    tu = u.unsqueeze(-1) * t  # (M, m, K)
    c = torch.cos(tu).mean(dim=0) - torch.exp(-0.5 * t * t)
    s = torch.sin(tu).mean(dim=0)
    return ((c * c + s * s) @ w).mean()


def scipy_pairwise_drift(frames: list[np.ndarray]) -> list[float]:
    """scipy peer: ``orthogonal_procrustes`` per pair + the trace-formula angle."""
    from scipy.linalg import orthogonal_procrustes

    out = []
    d = frames[0].shape[1]
    for a in range(len(frames)):
        for b in range(a + 1, len(frames)):
            q, _ = orthogonal_procrustes(frames[a], frames[b])
            out.append(math.degrees(math.acos(max(-1.0, min(1.0, (float(np.trace(q)) - (d - 2)) / 2.0)))))
    return out


def scipy_procrustes(s: np.ndarray, t: np.ndarray) -> np.ndarray:
    from scipy.linalg import orthogonal_procrustes

    return orthogonal_procrustes(s, t)[0]


def scipy_effective_rank_and_dim(z: np.ndarray) -> tuple[float, float]:
    from scipy.linalg import svdvals

    s = svdvals(z - z.mean(axis=0))
    p = s / s.sum()
    p = p[p > 0]
    lam = s * s
    return float(np.exp(-np.sum(p * np.log(p)))), float(lam.sum() ** 2 / np.sum(lam * lam))
