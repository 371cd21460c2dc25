"""Collapse metrics: effective rank / dimension, latent scale, and the collapse verdict."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lensemble_spec.metrics import (
    MIN_LATENT_STD,
    collapse_report,
    effective_dim,
    effective_rank,
    latent_rms,
    latent_std_mean,
)
from lensemble_spec.strategies import embeddings, orthogonal_matrices

PROPS = settings(max_examples=30, deadline=None, derandomize=True)


def upstream_effective_rank(z: np.ndarray) -> float:
    """Upstream's formula (eigenvalues clamped at 1e-12), kept only as the contrast."""
    x = z.reshape(-1, z.shape[-1]).astype(np.float32)
    x = x - x.mean(0)
    lam = np.linalg.svd(x, compute_uv=False) ** 2 / max(1, x.shape[0] - 1)
    lam = np.maximum(lam, 1e-12)
    p = lam / lam.sum()
    return float(np.exp(-np.sum(p * np.log(p))))


def _latents_and_gauge():
    return st.integers(2, 24).flatmap(lambda d: st.tuples(
        embeddings(4 * d, d, max_condition=30.0), orthogonal_matrices(d),
        st.floats(1e-4, 1e4), st.floats(-5, 5)))


# Catches: an uncentred or non-normalised spectrum (not scale invariant), per-coordinate stds
# instead of singular values (not rotation invariant), or a clamp that depends on magnitude.
@PROPS
@given(_latents_and_gauge())
def test_spectrum_metrics_invariant_to_rotation_scale_and_offset(data):
    z, q, scale, offset = data
    moved = scale * (z @ q) + offset
    assert effective_rank(moved) == pytest.approx(effective_rank(z), rel=1e-9)
    assert effective_dim(moved) == pytest.approx(effective_dim(z), rel=1e-9)


# Catches: scale metrics that are secretly normalised (blind to magnitude collapse), or a
# sample (ddof=1) std where the documented population std is used.
@PROPS
@given(_latents_and_gauge())
def test_scale_metrics_scale_with_the_latents(data):
    z, q, scale, _ = data
    assert latent_std_mean(scale * z) == pytest.approx(scale * latent_std_mean(z), rel=1e-9)
    assert latent_rms(scale * z) == pytest.approx(scale * latent_rms(z), rel=1e-9)
    assert latent_rms(z @ q) == pytest.approx(latent_rms(z), rel=1e-9)
    assert latent_std_mean(z) == pytest.approx(np.mean(np.std(z, axis=0, ddof=0)), rel=1e-12)


def test_known_answers():
    # k orthogonal, equal-energy centred directions: RankMe and the participation ratio read k.
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.standard_normal((40, 6)))
    u = u - u.mean(0)
    u, _ = np.linalg.qr(u)  # still orthonormal and (numerically) centred
    z = u[:, :3] @ np.eye(3, 8)
    z = z - z.mean(0)
    assert effective_rank(z) == pytest.approx(3.0, rel=1e-9)
    assert effective_dim(z) == pytest.approx(3.0, rel=1e-9)
    # spectrum σ = (2, 1): RankMe exp(H(2/3, 1/3)); participation (4 + 1)² / (16 + 1)
    z2 = u[:, :2] * np.array([2.0, 1.0])
    p = np.array([2 / 3, 1 / 3])
    assert effective_rank(z2) == pytest.approx(float(np.exp(-(p * np.log(p)).sum())), rel=1e-9)
    assert effective_dim(z2) == pytest.approx(25 / 17, rel=1e-9)
    # latent scale known answers
    w = np.array([[1.0, -2.0], [3.0, 2.0]])
    assert latent_std_mean(w) == pytest.approx((1.0 + 2.0) / 2)
    assert latent_rms(w) == pytest.approx(np.sqrt((1 + 4 + 9 + 4) / 4))


# Catches upstream defect §9.1: a constant latent reading as FULL rank (16 at d = 16) because
# the clamped spectrum is uniform. Ours reads 0.0 and is flagged, at any offset.
@pytest.mark.parametrize("value", [0.0, 0.1, 3.7, -1e4])
def test_constant_latent_reads_zero_and_collapsed(value):
    z = np.full((64, 16), value)
    z[:, 3] = value / 3  # not all coordinates equal, still constant across samples
    if value == 0.0:
        assert upstream_effective_rank(z) > 15.9  # the contrast: upstream says "full rank"
    # (with an offset, centring leaves rounding residue; without a stated floor it reads as signal)
    assert effective_rank(z) == 0.0
    assert effective_dim(z) == 0.0
    rep = collapse_report(z)
    assert rep["collapsed"] and rep["reasons"][0] == "constant"
    assert rep["latent_std_mean"] <= 1e-12 * max(1.0, abs(value))  # rounding residue only


# Catches upstream defect §9.1 (second half): a rank-1 latent at scale 1e-6 reads ≈ 6 upstream
# (the clamp floods the spectrum); scale-invariant metrics alone cannot see it shrink.
def test_rank_one_latent_at_1e_minus_6_is_collapsed():
    rng = np.random.default_rng(1)
    z = 1e-6 * np.outer(rng.standard_normal(256), rng.standard_normal(16))
    assert upstream_effective_rank(z) > 4.0  # the contrast
    assert effective_rank(z) == pytest.approx(1.0, abs=1e-6)
    rep = collapse_report(z)
    assert rep["collapsed"]
    assert "magnitude" in rep["reasons"] and "rank" in rep["reasons"]


# Catches: a verdict that only looks at the spectrum (full-rank shrinkage passes) or only at
# the scale (a unit-scale rank-1 latent passes).
def test_each_kind_of_collapse_is_named():
    rng = np.random.default_rng(2)
    healthy = rng.standard_normal((512, 32))
    assert collapse_report(healthy) == {**collapse_report(healthy), "collapsed": False, "reasons": []}
    assert effective_rank(healthy) > 0.8 * 32
    shrunk = 1e-4 * healthy  # full rank, std 1e-4 per coordinate
    assert collapse_report(shrunk)["reasons"] == ["magnitude"]
    line = np.outer(rng.standard_normal(512), np.ones(32))  # unit scale, rank 1
    assert collapse_report(line)["reasons"] == ["rank"]
    # the floor is a stated constant: just above it passes, just below it fails
    std = MIN_LATENT_STD
    unit = (healthy - healthy.mean(0)) / healthy.std(0)
    assert "magnitude" not in collapse_report(1.01 * std * unit)["reasons"]
    assert "magnitude" in collapse_report(0.99 * std * unit)["reasons"]


def test_report_keys_and_leading_dims_are_samples():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((4, 32, 8))
    rep = collapse_report(z)
    assert set(rep) == {"effective_rank", "effective_dim", "latent_std_mean", "latent_rms", "collapsed", "reasons"}
    assert rep["effective_rank"] == pytest.approx(effective_rank(z.reshape(-1, 8)))


# Catches: the float32 one-pass Gram (shifted by the first chunk's mean or by 0, corrected by
# n·δδᵀ) disagreeing with the exact-mean route, or being used where that correction would cancel
# (rows sorted, or only the later rows offset, so the shift is far from the mean) instead of
# falling back; an offset batch not shifted at all (it must take one pass, not fall back).
@pytest.mark.parametrize("kind", ["plain", "offset", "sorted", "late-offset", "nan"])
def test_float32_one_pass_gram_matches_the_exact_mean_route(kind):
    from lensemble_spec.errors import InputError
    from lensemble_spec.metrics import collapse as collapse_module
    from lensemble_spec.metrics import collapse_metrics

    rng = np.random.default_rng(7)
    z = (rng.standard_normal((5000, 24)) * np.geomspace(1.0, 0.05, 24)).astype(np.float32)
    if kind == "offset":
        z = z + np.float32(1e3)
    if kind == "sorted":
        z = np.sort(z, axis=0)
    if kind == "late-offset":  # the first chunk is centred (no shift taken), the batch is not
        z[collapse_module.CHUNK_ROWS :] += np.float32(50.0)
    if kind == "nan":
        z[4321, 5] = np.nan
        assert collapse_module._float32_one_pass(z) is None
        with pytest.raises(InputError):
            collapse_metrics(z)
        return
    assert (collapse_module._float32_one_pass(z) is None) == (kind in ("sorted", "late-offset"))
    got, want = collapse_metrics(z), collapse_metrics(z.astype(np.float64))
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-12)


# Catches: the column sums taken from the Gram's bordered row (the buffer's column of ones) wrong —
# the ones column missing or not 1, the sums read from the wrong triangle or row, a partial last
# chunk's stale rows counted — or the Gram block carrying the border; shifted and unshifted.
@pytest.mark.parametrize("shifted", [False, True])
def test_shifted_gram_sums_come_from_the_ones_column(shifted):
    from lensemble_spec.metrics import collapse as collapse_module

    rng = np.random.default_rng(3)
    n = 2 * collapse_module._gram_rows(20) + 333  # two full chunks and a partial one
    z = (rng.standard_normal((n, 20)) * np.geomspace(1.0, 0.05, 20) + 2.0).astype(np.float32)
    shift = z[:100].mean(axis=0, dtype=np.float64) if shifted else None
    gram, sums = collapse_module._shifted_gram(z, shift, 1.0, sums=True)
    c = z.astype(np.float64) - (0.0 if shift is None else shift)
    assert gram.shape == (20, 20) and gram.flags.f_contiguous and sums.shape == (20,)
    np.testing.assert_allclose(sums, c.sum(axis=0), rtol=1e-12, atol=1e-12 * np.abs(c).sum(axis=0).max())
    want = c.T @ c
    np.testing.assert_allclose(np.triu(gram), np.triu(want), rtol=1e-12, atol=1e-12 * np.abs(want).max())
    plain, none = collapse_module._shifted_gram(z, shift, 1.0, sums=False)
    assert none is None
    np.testing.assert_allclose(np.triu(plain), np.triu(gram), rtol=1e-13)


def _svd_definition(z: np.ndarray) -> tuple[float, float, np.ndarray]:
    """RFC-0002 §7.1 by its letter: float64 SVD of the centred latents, RankMe, participation ratio."""
    x = z.reshape(-1, z.shape[-1]).astype(np.float64)
    s = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    p = s / s.sum()
    p = p[p >= 1e-12]
    lam = (s / s[0]) ** 2
    return float(np.exp(-np.sum(p * np.log(p)))), float(lam.sum() ** 2 / np.sum(lam * lam)), s


def _spectrum_case(kind: str, dtype: type) -> np.ndarray:
    rng = np.random.default_rng(11)
    if kind == "anisotropic":
        z = rng.standard_normal((3000, 40)) * np.geomspace(1.0, 0.01, 40)
    elif kind == "n<d":
        z = rng.standard_normal((25, 64))
    elif kind == "rank-deficient":  # rank 5 in d = 30: the small Gram eigenvalues are round-off
        z = rng.standard_normal((2000, 5)) @ rng.standard_normal((5, 30))
    elif kind == "offset":  # mean 1e4 times the spread: centring must not cancel
        z = 1e4 + rng.standard_normal((2500, 16)) * np.geomspace(1.0, 0.1, 16)
    else:  # "many-chunks": several Gram chunks and a last partial one
        z = rng.standard_normal((2 * 8192 + 77, 128)) * np.geomspace(1.0, 0.05, 128)
    return z.astype(dtype)


# Catches: the Gram pass or the eigenvalue call reading the wrong triangle, a chunk dropped or
# counted twice, a wrong mean correction (n·δδᵀ), or the TSQR fallback not taken for rank-deficient
# latents — on both routes (float32 one pass, float64 two passes), against the SVD definition.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["anisotropic", "n<d", "rank-deficient", "offset", "many-chunks"])
def test_spectrum_metrics_equal_the_svd_definition(kind, dtype):
    from lensemble_spec.metrics import centred_spectrum, collapse_metrics

    z = _spectrum_case(kind, dtype)
    rank, dim, s = _svd_definition(z)
    got = collapse_metrics(z)
    assert got["effective_rank"] == pytest.approx(rank, rel=1e-12)
    assert got["effective_dim"] == pytest.approx(dim, rel=1e-12)
    sigma = centred_spectrum(z).sigma  # in units of the route's power-of-two scale
    # σ_k / σ_1 to ~d·u·σ_1/σ_k (Gram route, σ_k² ≥ GRAM_MIN_RATIO·σ_1²) or ~u (QR fallback below it)
    assert np.allclose(sigma[: s.size] / sigma[0], s / s[0], rtol=0, atol=1e-11)
    x = z.astype(np.float64)
    assert got["latent_std_mean"] == pytest.approx(float(np.mean(x.std(axis=0))), rel=1e-12)
    assert got["latent_rms"] == pytest.approx(float(np.sqrt(np.mean(x * x))), rel=1e-12)


# Catches: a non-finite value slipping through either route as a number (NaN rank) or as a bare
# numpy/LAPACK error instead of the typed InputError.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, 9000])  # first chunk (the one-pass shift) or a later one
def test_non_finite_latents_are_input_errors_on_both_routes(dtype, bad, where):
    from lensemble_spec.errors import InputError
    from lensemble_spec.metrics import collapse_metrics

    z = np.random.default_rng(5).standard_normal((9500, 8)).astype(dtype)
    z[where, 3] = bad
    with pytest.raises(InputError, match="non-finite"):
        collapse_metrics(z)
