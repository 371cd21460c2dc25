"""Collapse metrics: spectrum shape (effective rank / dimension) and magnitude (std, RMS).

Conventions: latents ``z`` are ``(..., d)`` row vectors; all leading dimensions are samples and
are flattened to ``X`` ``(n, d)``, ``n >= 2``. Computation is in float64. The spectrum metrics use
the **centred** latents ``Xc = X − mean(X)`` and their singular values ``σ_1 ≥ … ≥ σ_r``,
``r = min(n, d)``; the covariance eigenvalues are ``λ_k = σ_k² / n``.

Why both kinds of metric. ``effective_rank`` and ``effective_dim`` are invariant to scaling, so
they are blind to *magnitude* collapse (every latent shrinking towards one point while the shape
of the cloud is preserved); ``latent_std_mean`` and ``latent_rms`` are blind to *dimensional*
collapse. :func:`collapse_report` combines them with the RFC-0002 §9 floors.

Constant latents. Upstream clamps eigenvalues at 1e-12 before normalising, so a constant latent
has a *uniform* clamped spectrum and reads as full rank (the worst possible failure for a collapse
metric). Here a latent whose centred energy is zero to float64 resolution
(``‖Xc‖_F <= CONSTANT_RTOL·‖X‖_F``) has, by definition, an empty spectrum, and both
``effective_rank`` and ``effective_dim`` return **0.0** — the only value below the ``>= 1`` that
any non-constant latent reads. No error is raised: 0.0 is a valid, maximally-collapsed reading.

How the spectrum is computed (:func:`centred_spectrum`, shared by every metric here). Two
streaming passes over row chunks, never a full float64 copy of the batch: the first takes the
float64 column means and the largest magnitude; the second widens each chunk to float64, scales
it by a power of two near the largest magnitude (exact; the metrics are ratios, so latents at
1e±150 neither overflow nor underflow), centres it and accumulates the Gram matrix
``G = Xcᵀ Xc`` (BLAS ``syrk``). float32 latents take ONE pass (:func:`_float32_one_pass`:
shifted by the first chunk's mean, or not at all when that mean is small against the spread,
corrected exactly by ``n·δδᵀ``; two passes when that correction would cancel; no scaling,
float32 squares cannot overflow float64). ``λ = eigvalsh(G)``; ``syrk`` and the eigenvalues come
from one BLAS library (see :func:`_lapack`). The Gram squares the condition number: eigenvalue
errors are ``~d·u·λ_max``, harmless for ``λ_k`` above :data:`GRAM_MIN_RATIO`·``λ_max`` (σ
relative error ≲ 1e-9). When any ``λ_k`` is below that (rank-deficient or very ill-conditioned
latents), the small singular values are recomputed from the chunked QR factor ``R`` of ``Xc``
(tall-skinny QR: backward stable, ``σ`` accurate to ``~u·σ_max``, as a full SVD of ``Xc`` would
be). Every arithmetic step is float64, whatever the input dtype; the result equals the float64
SVD definition (RFC-0002 §7.1) to ~1e-12 relative, far inside ``METRIC_RTOL``. Memory:
``O(chunk·d + d²)`` above the input. The scale metrics come from the same pass (``diag G`` and
the means), so one pass over the data gives all four.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..rfc_params import packaged as _rfc
from ._inputs import float64_chunks, samples_view
from .procrustes import pow2_scale

#: RFC-0002 §9 ``CONSTANT_RTOL``: centred energy at or below this fraction of the raw energy is
#: exactly zero. Subtracting a float64 mean leaves a residue of a few ulps (~1e-16·log n) of the
#: raw magnitude even for an exactly constant latent; anything under 1e-12 is that residue.
CONSTANT_RTOL: float = _rfc().CONSTANT_RTOL

#: RFC-0002 §9 ``MIN_LATENT_STD``: ``latent_std_mean`` below this is magnitude collapse.
MIN_LATENT_STD: float = _rfc().MIN_LATENT_STD

#: RFC-0002 §9 ``MIN_RANK_FRACTION``: ``effective_rank`` below this fraction of ``min(d, n − 1)``
#: (the largest rank a centred batch of ``n`` samples can have) is rank collapse.
MIN_RANK_FRACTION: float = _rfc().MIN_RANK_FRACTION

#: Normalised singular values ``p_k`` below this are treated as exact zeros in the entropy
#: (RankMe's ε). Their contribution ``−p log p`` is < 3e-11 each, far below any reported digit,
#: and unlike adding ε to every ``p_k`` this keeps a rank-r latent with a flat spectrum at exactly r.
SPECTRUM_EPS = 1e-12

#: Gram eigenvalues below this fraction of the largest are not trusted (their absolute error is
#: ``~d·u·λ_max``); the spectrum is then taken from the chunked QR factor instead.
GRAM_MIN_RATIO = 1e-6

#: Rows per streamed chunk of the QR fallback: 1024 × d float64 is 2 MiB at d = 256.
CHUNK_ROWS = 1024

#: Bytes of one float64 chunk of the Gram pass (2 MiB: 1024 rows at d = 256, at least
#: :data:`CHUNK_ROWS` rows): sized to stay in a core's cache between the widening and the ``syrk``
#: (docs/metrics-speed.md). The buffer is the only allocation of that size above the input.
GRAM_CHUNK_BYTES = 2 * 2**20


def _gram_rows(d: int) -> int:
    return max(CHUNK_ROWS, GRAM_CHUNK_BYTES // (8 * d))


@dataclass(frozen=True)
class CentredSpectrum:
    """Everything the collapse metrics need, from one streaming pass (:func:`centred_spectrum`).

    ``sigma``: singular values of the centred latents, descending, in units of ``scale`` (empty
    for a constant batch); ``n``, ``d``: the flattened shape; ``std_mean``, ``rms``: the scale
    metrics in the latents' own units.
    """

    sigma: np.ndarray
    n: int
    d: int
    std_mean: float
    rms: float


def _lapack() -> tuple[Any, Any]:
    """``dsyrk`` and ``dsyevr`` from ONE BLAS library (scipy's): a library's idle worker
    threads spin after each call, and a second library's threads would compete with them for the
    cores."""
    from scipy.linalg.blas import dsyrk
    from scipy.linalg.lapack import dsyevr

    return dsyrk, dsyevr


def centred_spectrum(z: Any, name: str = "z") -> CentredSpectrum:
    """The singular values of the centred latents and the scale metrics, computed once."""
    view = samples_view(z, name)
    n, d = view.shape
    one_pass = _float32_one_pass(view) if view.dtype == np.float32 else None
    if one_pass is not None:
        gram, mu = one_pass
        return _from_gram(view, name, gram, mu, 1.0, n, d)
    with np.errstate(over="ignore", invalid="ignore"):
        total = view.sum(axis=0, dtype=np.float64)  # no copy; NaN/Inf (or float64 overflow) propagate
        peak = float(max(view.max(), -view.min()))
    if not (np.all(np.isfinite(total)) and math.isfinite(peak)):
        total, peak = _checked_pass(view, name)
    mu = total / n
    if peak == 0.0:
        return CentredSpectrum(np.zeros(0), n, d, 0.0, 0.0)
    if view.dtype == np.float32 and n * d < 2**200:
        scale = 1.0  # float32 magnitudes squared, times n·d, stay far inside the float64 range
    else:
        scale = float(np.ldexp(1.0, -int(np.frexp(peak)[1])))  # exact, brings entries into [0.5, 1)
    gram, _ = _shifted_gram(view, mu * scale, scale, sums=False)  # every value is finite (checked above)
    return _from_gram(view, name, gram, mu, scale, n, d)


def _shifted_gram(view: np.ndarray, shift: np.ndarray | None, scale: float, *,
                  sums: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``G₀ = Σ cᵀc`` (upper triangle, Fortran order) and, if ``sums``, ``s = Σ c`` over the rows
    ``c = scale·x − shift`` (``shift=None``: no shift).

    One streaming pass: each row chunk is widened to float64 into one reusable buffer, shifted
    and added to the Gram by one ``syrk``. With ``sums`` the buffer carries an extra column of
    ones, so the same ``syrk`` accumulates ``[G₀ s; sᵀ n]`` (the sums in float64, each product by
    1.0 exact) and no separate pass over the chunk is needed. NaN/Inf in the data reach
    ``diag G₀`` and ``s``.
    """
    n, d = view.shape
    dsyrk = _lapack()[0]
    step = _gram_rows(d)
    width = d + 1 if sums else d
    buf = np.empty((min(step, n), width))
    if sums:
        buf[:, d] = 1.0
    gram = np.zeros((width, width), order="F")
    for i in range(0, n, step):
        rows = view[i : i + step]
        chunk = buf[: rows.shape[0]]
        data = chunk[:, :d] if sums else chunk
        if scale == 1.0:
            np.copyto(data, rows)  # widen to float64 (a plain cast: faster than a mixed-type ufunc)
        else:
            np.multiply(rows, scale, out=data)  # exact: a power of two
        if shift is not None:
            data -= shift
        gram = dsyrk(1.0, chunk.T, beta=1.0, c=gram, trans=0, lower=0, overwrite_c=1)
    if not sums:
        return gram, None
    return np.asfortranarray(gram[:d, :d]), gram[:d, d].copy()


def _float32_one_pass(view: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Gram of the centred float32 latents and their mean in ONE streaming pass, or None.

    Shifts by ``μ₀`` instead of the exact mean, accumulating ``G₀ = Σ (x − μ₀)(x − μ₀)ᵀ`` and
    ``s = Σ (x − μ₀)``; then ``δ = s/n`` and the centred Gram is exactly ``G₀ − n δδᵀ``. ``μ₀`` is
    the float64 mean of the first chunk, or 0 when that mean is small against the spread of the
    first rows (``|μ₀|² <= max_j var_j / 4``: the shift would change nothing that matters and costs
    a pass). The round-off is ``~u·‖G₀‖``, at most twice that of centring on the exact mean when
    ``n|δ|² <= max diag(G)`` (``<= λ_max``) — checked; otherwise (first rows unrepresentative of
    the mean, e.g. sorted data) None, and the caller takes the two-pass route.
    None also for NaN/Inf anywhere (the two-pass route raises the InputError). No scaling:
    float32 magnitudes squared, summed over any realistic ``n``, stay inside the float64 range.
    """
    n, d = view.shape
    if n * d >= 2**200:  # pragma: no cover - beyond any memory
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        head = view[:CHUNK_ROWS]
        mu0 = head.mean(axis=0, dtype=np.float64)
        if not np.all(np.isfinite(mu0)):
            return None
        spread = float(np.max(head[: CHUNK_ROWS // 4].var(axis=0, dtype=np.float64)))  # a cheap estimate
        if float(mu0 @ mu0) <= 0.25 * spread:
            mu0 = np.zeros(d)
            gram, colsum = _shifted_gram(view, None, 1.0, sums=True)
        else:
            gram, colsum = _shifted_gram(view, mu0, 1.0, sums=True)
    diag = np.diag(gram)
    if not (np.all(np.isfinite(colsum)) and np.all(np.isfinite(diag))):
        return None  # NaN/Inf propagate into both (an Inf off the diagonal also reaches its diagonal)
    delta = colsum / n
    if n * float(delta @ delta) > float(np.max(diag)):
        return None
    gram -= n * np.outer(delta, delta)
    return gram, mu0 + delta


def _eigvalsh_upper(gram: np.ndarray) -> np.ndarray:
    """Eigenvalues (descending) of the symmetric matrix held in the upper triangle of ``gram``."""
    dsyevr = _lapack()[1]
    lam, _, _, _, info = dsyevr(gram, compute_v=0, lower=0, overwrite_a=1)
    if info != 0:  # pragma: no cover - LAPACK's own failure; numpy raises its LinAlgError
        lam = np.linalg.eigvalsh(gram, UPLO="U")
    return lam[::-1]


def _from_gram(view: np.ndarray, name: str, gram: np.ndarray, mu: np.ndarray, scale: float, n: int,
               d: int) -> CentredSpectrum:
    """The spectrum and scale metrics from the (scaled, upper-triangle) centred Gram."""
    mu_s = mu * scale
    diag = np.clip(np.diag(gram), 0.0, None)  # n · per-coordinate variance (scaled units)
    centred_sq = float(diag.sum())
    raw_sq = centred_sq + n * float(mu_s @ mu_s)
    std_mean = float(np.mean(np.sqrt(diag / n))) / scale
    rms = float(np.sqrt(raw_sq / (n * d))) / scale
    if centred_sq == 0.0 or np.sqrt(centred_sq) <= CONSTANT_RTOL * np.sqrt(raw_sq):
        return CentredSpectrum(np.zeros(0), n, d, std_mean, rms)
    lam = _eigvalsh_upper(gram)
    if lam[-1] > GRAM_MIN_RATIO * lam[0]:
        sigma = np.sqrt(lam)
    else:
        sigma = _tsqr_singular_values(view, name, scale, mu_s)
    return CentredSpectrum(sigma, n, d, std_mean, rms)


def _checked_pass(view: np.ndarray, name: str) -> tuple[np.ndarray, float]:
    """Column sums and largest magnitude, chunk by chunk: raises InputError on NaN/Inf, and keeps
    float64 latents near 1e308 from overflowing (each chunk is summed after scaling)."""
    peak = 0.0
    for chunk in float64_chunks(view, name, CHUNK_ROWS):
        peak = max(peak, float(np.max(np.abs(chunk))))
    scale = float(pow2_scale(peak)) if peak > 0 else 1.0
    total = np.zeros(view.shape[1])
    for chunk in float64_chunks(view, name, CHUNK_ROWS):
        total += (chunk * scale).sum(axis=0)
    return total / scale, peak


def _tsqr_singular_values(view: np.ndarray, name: str, scale: float, mu_s: np.ndarray) -> np.ndarray:
    """Singular values of the scaled centred latents via a chunked (tall-skinny) QR."""
    r = np.zeros((0, view.shape[1]))
    for chunk in float64_chunks(view, name, CHUNK_ROWS):
        chunk *= scale
        chunk -= mu_s
        r = np.linalg.qr(np.vstack([r, chunk]), mode="r")
    return np.linalg.svd(r, compute_uv=False)


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

    Range: 0.0 for a constant latent (see module docstring), otherwise ``[1, min(n − 1, d)]``;
    invariant to rotations ``z -> z Q`` and to scaling ``z -> a·z`` at every float64 scale.
    ``p_k < SPECTRUM_EPS`` count as zero. Raises InputError for NaN/Inf, ``ndim < 2`` or ``n < 2``.
    Computing several collapse metrics? :func:`collapse_metrics` shares one spectrum.
    """
    return _effective_rank_from(centred_spectrum(z).sigma)


def effective_dim(z: Any) -> float:
    """Participation ratio ``(Σ λ_k)² / Σ λ_k²`` of the covariance eigenvalues ``λ_k ∝ σ_k²``.

    Range: 0.0 for a constant latent, otherwise ``[1, min(n − 1, d)]``; rotation and scale
    invariant. Weighs large eigenvalues more than :func:`effective_rank` does (it is the "collapse
    guard" of upstream RFC-0005). Raises InputError for NaN/Inf, ``ndim < 2`` or ``n < 2``.
    """
    return _effective_dim_from(centred_spectrum(z).sigma)


def latent_std_mean(z: Any) -> float:
    """Mean over coordinates of the population standard deviation: ``mean_j sqrt(mean_i (x_ij − x̄_j)²)``.

    Scales with the latents (``a·z`` reads ``|a|×``); not rotation invariant in general. 0 for a
    constant latent. Raises InputError for NaN/Inf, ``ndim < 2`` or ``n < 2``.
    """
    return centred_spectrum(z).std_mean


def latent_rms(z: Any) -> float:
    """Uncentred root-mean-square ``sqrt(mean_ij x_ij²)``: scales with the latents, rotation invariant.

    Raises InputError for NaN/Inf, ``ndim < 2`` or ``n < 2``.
    """
    return centred_spectrum(z).rms


def collapse_metrics(z: Any) -> dict[str, float]:
    """``{effective_rank, effective_dim, latent_std_mean, latent_rms}`` from ONE shared spectrum."""
    spec = centred_spectrum(z)
    return {
        "effective_rank": _effective_rank_from(spec.sigma),
        "effective_dim": _effective_dim_from(spec.sigma),
        "latent_std_mean": spec.std_mean,
        "latent_rms": spec.rms,
    }


def collapse_report(
    z: Any,
    *,
    min_latent_std: float = MIN_LATENT_STD,
    rank_fraction: float = MIN_RANK_FRACTION,
) -> dict[str, Any]:
    """All collapse metrics plus a verdict by the RFC-0002 §9 floors.

    Returns ``{effective_rank, effective_dim, latent_std_mean, latent_rms, collapsed, reasons}``
    where ``reasons`` lists, in this order, whichever apply:

    * ``"constant"`` — no variance at all (``effective_rank == 0``);
    * ``"magnitude"`` — ``latent_std_mean < min_latent_std`` (``MIN_LATENT_STD``; scale collapse,
      which the scale-invariant spectrum metrics cannot see);
    * ``"rank"`` — ``effective_rank < rank_fraction · min(d, n − 1)`` (``MIN_RANK_FRACTION``; a
      centred batch of ``n`` samples has rank at most ``n − 1``).

    ``collapsed`` is ``bool(reasons)``. The floors are those GAUGE-041/042 apply to anchored runs.
    """
    spec = centred_spectrum(z)
    out: dict[str, Any] = {
        "effective_rank": _effective_rank_from(spec.sigma),
        "effective_dim": _effective_dim_from(spec.sigma),
        "latent_std_mean": spec.std_mean,
        "latent_rms": spec.rms,
    }
    reasons: list[str] = []
    if spec.sigma.size == 0:
        reasons.append("constant")
    if spec.std_mean < min_latent_std:
        reasons.append("magnitude")
    if out["effective_rank"] < rank_fraction * min(spec.d, spec.n - 1):
        reasons.append("rank")
    out["collapsed"] = bool(reasons)
    out["reasons"] = reasons
    return out
