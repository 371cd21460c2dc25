"""Mutants of the gauge part (RFC-0002 §3, §7): each is the reference gauge with one upstream defect."""

from __future__ import annotations

import math

import numpy as np

from lensemble_spec.errors import DegenerateProcrustes

from ._base import Wrapped
from ._registry import PRIMITIVES, register


@register(
    "procrustes-transpose",
    PRIMITIVES,
    {"GAUGE-011", "GAUGE-012", "GAUGE-013", "GAUGE-014"},
    "procrustes_align returns Qᵀ",
    part="gauge",
)
class _ProcrustesTranspose(Wrapped):
    """Returns ``Qᵀ`` (the column convention): ``S @ Qᵀ`` is not ``T``."""

    def procrustes_align(self, source, target):
        return np.asarray(self._inner.procrustes_align(source, target)).T


@register(
    "trace-angle",
    PRIMITIVES,
    {"GAUGE-016", "GAUGE-018", "GAUGE-020"},
    "saturating arccos((tr Q − (d−2))/2) angle (self-consistent: not charged to GAUGE-019)",
    part="gauge",
)
class _TraceAngle(Wrapped):
    """Upstream's single-plane formula ``arccos((tr Q − (d − 2)) / 2)``: saturates at 180°."""

    def rotation_angle_deg(self, q):
        q = np.asarray(q, dtype=np.float64)
        c = np.clip((np.trace(q) - (q.shape[0] - 2)) / 2.0, -1.0, 1.0)
        return math.degrees(math.acos(c))

    def frame_drift_deg(self, source, target):
        return self.rotation_angle_deg(self._inner.procrustes_align(source, target))


@register("degenerate-zero", PRIMITIVES, {"GAUGE-020"}, "degenerate frame reported as 0° drift", part="gauge")
class _DegenerateZero(Wrapped):
    """Upstream's ``degenerate_safe=True``: a degenerate frame is reported as 0° drift."""

    def frame_drift_deg(self, source, target):
        try:
            return self._inner.frame_drift_deg(source, target)
        except DegenerateProcrustes:
            return 0.0


@register(
    "rank-floor",
    PRIMITIVES,
    {"GAUGE-037", "GAUGE-038"},
    "eigenvalues floored at 1e-12: a constant latent reads full rank, a tiny-scale rank-r spectrum reads high",
    part="gauge",
)
class _RankFloor(Wrapped):
    """Upstream's eigenvalue floor alone: ``λ`` clamped at 1e-12 before RankMe over ``σ = sqrt(λ)``
    (no constant check). The other upstream defect, entropy over ``λ``, is ``eigen-entropy-rank``."""

    def effective_rank(self, z):
        x = np.asarray(z, dtype=np.float64).reshape(-1, np.shape(z)[-1])
        xc = x - x.mean(axis=0)
        lam = np.linalg.svd(xc, compute_uv=False) ** 2 / max(1, x.shape[0] - 1)
        sigma = np.sqrt(np.maximum(lam, 1e-12))
        p = sigma / sigma.sum()
        return float(np.exp(-np.sum(p * np.log(p))))


@register(
    "procrustes-lstsq",
    PRIMITIVES,
    {"GAUGE-010", "GAUGE-014", "GAUGE-015"},
    "least-squares map instead of an orthogonal one",
    part="gauge",
)
class _ProcrustesLeastSquares(Wrapped):
    """Unconstrained least squares ``pinv(S) T``: not orthogonal, and never refuses a degenerate frame."""

    def procrustes_align(self, source, target):
        return np.linalg.pinv(np.asarray(source, dtype=np.float64)) @ np.asarray(target, dtype=np.float64)


@register(
    "no-degenerate-check", PRIMITIVES, {"GAUGE-014", "GAUGE-015"}, "rank-deficient SᵀT aligned anyway", part="gauge"
)
class _NoDegenerateCheck(Wrapped):
    """``U Vᵀ`` of whatever SVD comes out, however rank-deficient ``SᵀT`` is."""

    def procrustes_align(self, source, target):
        u, _s, vt = np.linalg.svd(np.asarray(source, dtype=np.float64).T @ np.asarray(target, dtype=np.float64))
        return u @ vt


@register("float32-angles", PRIMITIVES, {"GAUGE-017"}, "arccos in float32: noise floor near 0°", part="gauge")
class _Float32Angles(Wrapped):
    """The eigen-angle formula with each angle taken as ``arccos(Re λ)`` in float32: a noise floor
    of a few hundredths of a degree near 0°."""

    def rotation_angle_deg(self, q):
        lam = np.linalg.eigvals(np.asarray(q, dtype=np.float64))
        args = np.arccos(np.clip(lam.real.astype(np.float32), -1, 1)).astype(np.float64)
        return math.degrees(math.sqrt(0.5 * float(np.sum(args**2))))


@register("sample-std", PRIMITIVES, {"GAUGE-039"}, "latent_std_mean with ddof=1", part="gauge")
class _SampleStd(Wrapped):
    """``latent_std_mean`` with the sample (n − 1) standard deviation."""

    def latent_std_mean(self, z):
        x = np.asarray(z, dtype=np.float64).reshape(-1, np.shape(z)[-1])
        return float(np.mean(np.std(x, axis=0, ddof=1)))


@register("eigen-entropy-rank", PRIMITIVES, {"GAUGE-036"}, "entropy of eigenvalues, not singular values", part="gauge")
class _EigenEntropyRank(Wrapped):
    """Entropy of the eigenvalues ``σ_k²`` instead of RankMe's singular values ``σ_k`` (GAUGE-036)."""

    def effective_rank(self, z):
        x = np.asarray(z, dtype=np.float64).reshape(-1, np.shape(z)[-1])
        xc = x - x.mean(axis=0)
        if np.linalg.norm(xc) <= 1e-12 * np.linalg.norm(x):
            return 0.0
        lam = np.linalg.svd(xc, compute_uv=False) ** 2
        p = lam / lam.sum()
        p = p[p > 0]
        return float(np.exp(-np.sum(p * np.log(p))))


@register(
    "drift-over-sod",
    PRIMITIVES,
    {"GAUGE-019"},
    "frame_drift_deg over SO(d) while procrustes_align is over O(d)",
    part="gauge",
)
class _DriftOverSOd(Wrapped):
    """``frame_drift_deg`` measures the SO(d)-restricted alignment while ``procrustes_align`` ranges
    over O(d): the two disagree whenever the best alignment is a reflection (GAUGE-019 is a
    self-consistency rule, so only this inconsistency — not a wrong angle formula — breaks it)."""

    def frame_drift_deg(self, source, target):
        from lensemble_spec.metrics import procrustes_align

        return self._inner.rotation_angle_deg(procrustes_align(source, target, proper=True).q)


@register(
    "full-rank-only",
    PRIMITIVES,
    {"GAUGE-014", "GAUGE-020"},
    "a rank d − 1 (LayerNorm) frame refused as degenerate",
    part="gauge",
)
class _FullRankOnly(Wrapped):
    """The pre-amendment rule: any ``σ_min <= DEGENERATE_RTOL·σ_max`` is degenerate, so every
    LayerNorm-terminated frame (rank d − 1 by design) is refused and its drift is null."""

    def _check(self, source, target):
        sv = np.linalg.svd(
            np.asarray(source, dtype=np.float64).T @ np.asarray(target, dtype=np.float64), compute_uv=False
        )
        if not sv[0] > 0 or sv[-1] <= 1e-6 * sv[0]:
            raise DegenerateProcrustes("σ_min/σ_max of SᵀT at or below 1e-6")

    def procrustes_align(self, source, target):
        q = self._inner.procrustes_align(source, target)  # bad input: the inner InputError first
        self._check(source, target)
        return q

    def frame_drift_deg(self, source, target):
        value = self._inner.frame_drift_deg(source, target)
        self._check(source, target)
        return value
