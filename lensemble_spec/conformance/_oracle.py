"""Independent numpy statements of the RFC formulas the suite checks implementations against.

Each function is a direct transcription of one RFC definition, written without reference to any
implementation and kept deliberately plain (float64, no batching tricks), so that a reader can
check it against the RFC text line by line. Where ``lensemble_spec.metrics`` provides the same
definition the suite uses the library (it is the normative implementation of its own docstrings);
these transcriptions cover what the RFCs define more precisely than a library call would show
(eigen-angle formula, entropy rank with no floor, the outer step of RFC-0003 §5.1, the verdict
rule of RFC-0005 §5). The byte layouts of RFC-0010 §3/§4 are in ``_bytes.py``; how results are
compared with these, in ``_assertions.py``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import bounds
from ._assertions import as_array

# --- RFC-0002 §3: Procrustes and angles --------------------------------------------------------------


def frame_rank(source: Any, target: Any) -> tuple[int, np.ndarray]:
    """Numerical rank of ``SᵀT`` (singular values above ``DEGENERATE_RTOL·σ_max``) and its spectrum."""
    s = np.asarray(source, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    sv = np.linalg.svd(s.T @ t, compute_uv=False)
    if not np.all(np.isfinite(sv)) or sv[0] == 0.0:
        return 0, sv
    return int(np.sum(sv > bounds.DEGENERATE_RTOL * sv[0])), sv


def rank_floor(d: int) -> int:
    """``min(d, max(2, ⌈MIN_RANK_FRACTION·d⌉))``: the smallest numerical rank of ``SᵀT`` that
    determines a frame (RFC-0002 §3.2)."""
    return min(d, max(2, math.ceil(bounds.MIN_RANK_FRACTION * d - 1e-9)))


def procrustes(source: Any, target: Any) -> np.ndarray | None:
    """RFC-0002 §3.1–3.2: ``None`` when degenerate (GAUGE-014), else the span map + minimal completion.

    ``SᵀT = U Σ Vᵀ``; the numerical rank ``r`` counts ``σ_i > DEGENERATE_RTOL·σ_1``. Full rank:
    ``Q = U Vᵀ``. ``rank_floor(d) <= r < d`` (GAUGE-014): ``Q = U_r V_rᵀ + U_⊥ W V_⊥ᵀ`` with ``W``
    the orthogonal matrix maximising ``tr Q``, i.e. ``tr(W V_⊥ᵀ U_⊥)``.
    """
    s = np.asarray(source, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    s = s / max(float(np.max(np.abs(s))), 1e-300)  # Q does not depend on positive scalings
    t = t / max(float(np.max(np.abs(t))), 1e-300)
    u, sv, vt = np.linalg.svd(s.T @ t)
    d = sv.size
    if not np.isfinite(sv[0]) or sv[0] == 0.0:
        return None
    r = int(np.sum(sv > bounds.DEGENERATE_RTOL * sv[0]))
    if r < rank_floor(d):
        return None
    q = u[:, :r] @ vt[:r]
    if r < d:
        b = vt[r:] @ u[:, r:]  # V_⊥ᵀ U_⊥
        p, _, wt = np.linalg.svd(b)
        q = q + u[:, r:] @ (wt.T @ p.T) @ vt[r:]
    return q


def eigen_angle_deg(q: Any) -> float:
    """``(180/π) · sqrt(½ Σ arg(λ_i)²)`` over the eigenvalues of ``Q`` (RFC-0002 §3.3)."""
    lam = np.linalg.eigvals(np.asarray(q, dtype=np.float64))
    args = np.angle(lam)  # in (−π, π]
    return float(np.degrees(math.sqrt(0.5 * float(np.sum(args**2)))))


def drift_deg(source: Any, target: Any) -> float | None:
    """``frame_drift_deg`` by definition; ``None`` for a degenerate frame."""
    q = procrustes(source, target)
    return None if q is None else eigen_angle_deg(q)


# --- RFC-0002 §7: collapse metrics ---------------------------------------------------------------------


def _flat(z: Any) -> np.ndarray:
    x = np.asarray(as_array(z), dtype=np.float64)
    return x.reshape(-1, x.shape[-1])


def _spectrum(z: Any) -> np.ndarray:
    """Eigenvalues of ``X_cᵀ X_c`` (empty for a constant batch, RFC-0002 §7)."""
    x = _flat(z)
    xc = x - x.mean(axis=0)
    if np.linalg.norm(xc) <= bounds.CONSTANT_RTOL * np.linalg.norm(x):
        return np.zeros(0)
    return np.linalg.svd(xc, compute_uv=False) ** 2


def effective_rank(z: Any) -> float:
    """RankMe over the singular values ``σ_k = sqrt(λ_k)`` of the centred latents (GAUGE-036)."""
    lam = _spectrum(z)
    if lam.size == 0 or lam.sum() <= 0:
        return 0.0
    sigma = np.sqrt(lam)
    p = sigma / sigma.sum()
    p = p[p > 0]
    return float(math.exp(-float(np.sum(p * np.log(p)))))


def effective_dim(z: Any) -> float:
    lam = _spectrum(z)
    if lam.size == 0 or lam.sum() <= 0:
        return 0.0
    return float(lam.sum() ** 2 / np.sum(lam**2))


def latent_std_mean(z: Any) -> float:
    return float(np.mean(np.std(_flat(z), axis=0)))


def latent_rms(z: Any) -> float:
    return float(math.sqrt(float(np.mean(_flat(z) ** 2))))


COLLAPSE_METRICS = {
    "effective_rank": effective_rank,
    "effective_dim": effective_dim,
    "latent_std_mean": latent_std_mean,
    "latent_rms": latent_rms,
}


# --- RFC-0003 §5.1: the outer step -------------------------------------------------------------------


def outer_step(
    theta: Mapping[str, Any],
    deltas: Mapping[str, Mapping[str, Any]],
    velocity: Mapping[str, np.ndarray] | None,
    *,
    lr: float,
    momentum: float,
    nesterov: bool,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One step of §5.1 in float64: ``g = mean Δ`` (sorted ids), ``v' = μv + g``, ``u``, ``θ + ηu``."""
    new_theta: dict[str, np.ndarray] = {}
    new_v: dict[str, np.ndarray] = {}
    ids = sorted(deltas)
    for name in sorted(theta):
        g = np.zeros(np.shape(theta[name]), dtype=np.float64)
        for pid in ids:
            g = g + np.asarray(deltas[pid][name], dtype=np.float64)
        g = g / len(ids)
        v = np.zeros_like(g) if velocity is None else np.asarray(velocity[name], dtype=np.float64)
        v_new = momentum * v + g
        u = g + momentum * v_new if nesterov else v_new
        new_theta[name] = np.asarray(theta[name], dtype=np.float64) + lr * u
        new_v[name] = v_new
    return new_theta, new_v


# --- RFC-0003 §6: seeds ------------------------------------------------------------------------------


def derive_seed(root: int, label: str) -> int:
    digest = hashlib.sha256(f"{int(root)}:{label}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


# --- RFC-0005 §5: verdicts ---------------------------------------------------------------------------

VERDICTS = ("diverged", "collapsed", "drifted", "gauge-held")


def verdict(metrics: Mapping[str, Any], series: Mapping[str, Sequence[Any]]) -> str:
    """The first matching rule of RFC-0005 §5, from the row's own numbers."""
    if any(metrics.get(k) is None for k in ("effective_rank", "latent_std_mean", "latent_rms", "state_probe_r2")):
        return "diverged"
    d = metrics.get("latent_dim")
    if (
        (d is not None and metrics["effective_rank"] < bounds.MIN_RANK_FRACTION * d)
        or metrics["latent_std_mean"] < bounds.MIN_LATENT_STD
        or metrics.get("drift_to_reference_deg") is None
    ):
        return "collapsed"
    drift = [v for v in series.get("drift_to_reference_deg", []) if v is not None]
    if any(v > bounds.MAX_DRIFT_TO_REFERENCE_DEG for v in drift):
        return "drifted"
    return "gauge-held"
