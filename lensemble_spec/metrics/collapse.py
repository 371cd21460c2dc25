"""Collapse metrics: spectrum shape (effective rank / dimension) and magnitude (std, RMS).

Conventions: latents ``z`` are ``(..., d)`` row vectors; all leading dimensions are samples and
are flattened to ``X`` ``(n, d)``, ``n >= 2``. Computation is in float64. The spectrum metrics use
the **centred** latents ``Xc = X − mean(X)`` and their singular values ``σ_1 ≥ … ≥ σ_r``,
``r = min(n, d)``; the covariance eigenvalues are ``λ_k = σ_k² / n``.

Why both kinds of metric. ``effective_rank`` and ``effective_dim`` are invariant to scaling, so
they are blind to *magnitude* collapse (every latent shrinking towards one point while the shape
of the cloud is preserved); ``latent_std_mean`` and ``latent_rms`` are blind to *dimensional*
collapse. :func:`collapse_report` combines them with stated thresholds.

Constant latents. Upstream clamps eigenvalues at 1e-12 before normalising, so a constant latent
has a *uniform* clamped spectrum and reads as full rank (the worst possible failure for a collapse
metric). Here a latent whose centred energy is zero to float64 resolution
(``‖Xc‖_F <= CONSTANT_RTOL·‖X‖_F``) has, by definition, an empty spectrum, and both
``effective_rank`` and ``effective_dim`` return **0.0** — the only value below the ``>= 1`` that
any non-constant latent reads. No error is raised: 0.0 is a valid, maximally-collapsed reading.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._inputs import as_samples

#: Centred energy below this fraction of the raw energy counts as exactly zero. Subtracting a
#: float64 mean leaves a residue of a few ulps (~1e-16·log n) of the raw magnitude even for an
#: exactly constant latent; anything under 1e-12 is that residue, not variation in the data
#: (float32 latents cannot even represent relative variation below ~6e-8).
CONSTANT_RTOL = 1e-12

#: Normalised singular values ``p_k`` below this are treated as exact zeros in the entropy
#: (RankMe's ε). Their contribution ``−p log p`` is < 3e-11 each, far below any reported digit,
#: and unlike adding ε to every ``p_k`` this keeps a rank-r latent with a flat spectrum at exactly r.
SPECTRUM_EPS = 1e-12

#: Magnitude floor: mean per-coordinate variance below this is "magnitude collapse". SIGReg pins
#: latents to unit variance, so 1e-4 (RMS std 1e-2) is 100x below the target scale; upstream's
#: collapsed SO-100 run sat at a per-element variance of 7.5e-6, well under the floor.
COLLAPSE_VARIANCE_FLOOR = 1e-4

#: Dimensional floor: ``effective_rank`` below ``max(COLLAPSE_MIN_RANK, COLLAPSE_RANK_FRACTION·min(n, d))``
#: is "rank collapse". 1.5 means "essentially one direction" at any d; 10% of the available rank
#: catches the upstream pre-fix run (effective rank 2.7 -> 1.15) while a healthy SIGReg latent sits
#: near 0.9·d. Both are heuristics (upstream has no calibrated threshold); override per call.
COLLAPSE_MIN_RANK = 1.5
COLLAPSE_RANK_FRACTION = 0.1


def _centred_spectrum(z: Any, name: str = "z") -> tuple[np.ndarray, np.ndarray]:
    """Return (flattened latents, singular values of the centred latents; empty if constant)."""
    x = as_samples(z, name)
    xc = x - x.mean(axis=0)
    raw = np.linalg.norm(x)
    centred = np.linalg.norm(xc)
    if centred == 0.0 or centred <= CONSTANT_RTOL * raw:
        return x, np.zeros(0)
    return x, np.linalg.svd(xc, compute_uv=False)


def _effective_rank_from(sv: np.ndarray) -> float:
    if sv.size == 0:
        return 0.0
    p = sv / sv.sum()
    p = p[p >= SPECTRUM_EPS]
    return float(np.exp(-np.sum(p * np.log(p))))


def _effective_dim_from(sv: np.ndarray) -> float:
    if sv.size == 0:
        return 0.0
    lam = sv * sv
    lam = lam / lam.max()  # scale-free and overflow-safe
    return float(lam.sum() ** 2 / np.sum(lam * lam))


def effective_rank(z: Any) -> float:
    """RankMe: ``exp(−Σ_k p_k log p_k)``, ``p_k = σ_k / Σ_j σ_j`` over the centred latents.

    Range: 0.0 for a constant latent (see module docstring), otherwise ``[1, min(n, d)]``; exactly
    invariant to rotations ``z -> z Q`` and to scaling ``z -> a·z``. ``p_k < SPECTRUM_EPS`` count
    as zero. Raises InputError for NaN/Inf, ``ndim < 2`` or ``n < 2``.
    """
    _, sv = _centred_spectrum(z)
    return _effective_rank_from(sv)


def effective_dim(z: Any) -> float:
    """Participation ratio ``(Σ λ_k)² / Σ λ_k²`` of the covariance eigenvalues ``λ_k ∝ σ_k²``.

    Range: 0.0 for a constant latent, otherwise ``[1, min(n, d)]``; rotation and scale invariant.
    Weighs large eigenvalues more than :func:`effective_rank` does (it is the "collapse guard"
    of upstream RFC-0005). Raises InputError for NaN/Inf, ``ndim < 2`` or ``n < 2``.
    """
    _, sv = _centred_spectrum(z)
    return _effective_dim_from(sv)


def latent_std_mean(z: Any) -> float:
    """Mean over coordinates of the population standard deviation: ``mean_j sqrt(mean_i (x_ij − x̄_j)²)``.

    Scales with the latents (``a·z`` reads ``|a|×``); not rotation invariant in general. 0 for a
    constant latent. Raises InputError for NaN/Inf, ``ndim < 2`` or ``n < 2``.
    """
    x = as_samples(z, "z")
    return float(np.mean(np.std(x, axis=0)))


def latent_rms(z: Any) -> float:
    """Uncentred root-mean-square ``sqrt(mean_ij x_ij²)``: scales with the latents, rotation invariant.

    Raises InputError for NaN/Inf, ``ndim < 2`` or ``n < 2``.
    """
    x = as_samples(z, "z")
    return float(np.sqrt(np.mean(x * x)))


def collapse_report(
    z: Any,
    *,
    variance_floor: float = COLLAPSE_VARIANCE_FLOOR,
    min_rank: float = COLLAPSE_MIN_RANK,
    rank_fraction: float = COLLAPSE_RANK_FRACTION,
) -> dict[str, Any]:
    """All collapse metrics plus a verdict.

    Returns ``{effective_rank, effective_dim, latent_std_mean, latent_rms, collapsed, reasons}``
    where ``reasons`` lists, in this order, whichever apply:

    * ``"constant"`` — no variance at all (``effective_rank == 0``);
    * ``"magnitude"`` — mean per-coordinate variance ``< variance_floor`` (scale collapse, which
      the scale-invariant spectrum metrics cannot see: a rank-1 latent at scale 1e-6 lands here);
    * ``"rank"`` — ``effective_rank < max(min_rank, rank_fraction·min(n, d))``.

    ``collapsed`` is ``bool(reasons)``.
    """
    x, sv = _centred_spectrum(z)
    n, d = x.shape
    er = _effective_rank_from(sv)
    ed = _effective_dim_from(sv)
    mean_var = float(np.sum(sv * sv) / (n * d))
    reasons: list[str] = []
    if sv.size == 0:
        reasons.append("constant")
    if mean_var < variance_floor:
        reasons.append("magnitude")
    if er < max(min_rank, rank_fraction * min(n, d)):
        reasons.append("rank")
    return {
        "effective_rank": er,
        "effective_dim": ed,
        "latent_std_mean": float(np.mean(np.std(x, axis=0))),
        "latent_rms": float(np.sqrt(np.mean(x * x))),
        "collapsed": bool(reasons),
        "reasons": reasons,
    }
