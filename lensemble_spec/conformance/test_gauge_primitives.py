"""RFC-0002 §3 and §7: the implementation's gauge primitives against their definitions.

Inputs come from Hypothesis (``lensemble_spec.strategies``: Haar-random orthogonal matrices,
single-plane rotations, Gaussian embeddings with a chosen spectrum); expected values come from
the RFC formulas transcribed in :mod:`conformance._oracle` and, where the library implements the
same definition, from ``lensemble_spec.metrics``. The defects these tests exist for: an alignment
that returns ``Qᵀ`` or is restricted to SO(d), the saturating ``arccos((tr Q − (d−2))/2)`` angle,
a degenerate frame reported as 0°, a frame that is rank-deficient by design (LayerNorm latents)
misjudged as degenerate, and an effective rank whose eigenvalue floor reads a constant or tiny
latent as full rank.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.linalg import expm

from lensemble_spec.errors import DegenerateProcrustes, EvaluationError, InputError
from lensemble_spec.metrics import procrustes_align as library_procrustes
from lensemble_spec.strategies import (
    embeddings,
    haar_orthogonal,
    near_degenerate_matrices,
    orthogonal_matrices,
    plane_rotation,
)

from . import _assertions as check
from . import _oracle as oracle
from . import bounds
from ._expect import raises

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
DIMS = st.integers(min_value=2, max_value=10)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def conditioned_frame(rng: np.random.Generator, n: int, d: int, cond: float) -> np.ndarray:
    """``(n, d)`` with singular values log-spaced from 1 to ``1/cond`` exactly (condition ``cond``)."""
    u, _ = np.linalg.qr(rng.standard_normal((n, d)))
    return (u * np.geomspace(1.0, 1.0 / cond, d)) @ haar_orthogonal(rng, d).T


def reflection(rng: np.random.Generator, d: int) -> np.ndarray:
    """A Haar-random orthogonal matrix with determinant −1."""
    q = haar_orthogonal(rng, d)
    if np.linalg.det(q) > 0:
        q[:, 0] = -q[:, 0]
    return q


def _q(gauge_part, s, t) -> np.ndarray:
    return np.asarray(check.as_array(gauge_part.procrustes_align(s, t)), dtype=np.float64)


# --- §3.1 alignment --------------------------------------------------------------------------------
@pytest.mark.requirement("GAUGE-010")
@given(s=embeddings(st.integers(12, 40), 6, max_condition=20.0), t_seed=SEEDS)
def test_procrustes_returns_an_orthogonal_matrix(gauge_part, s, t_seed):
    t = _rng(t_seed).standard_normal(s.shape)
    q = _q(gauge_part, s, t)
    assert q.shape == (6, 6), f"expected a (6, 6) matrix; got shape {q.shape}"
    err = float(np.max(np.abs(q.T @ q - np.eye(6))))
    assert err <= bounds.ATOL_ORTHO, (
        f"expected an orthogonal Q (max|QᵀQ − I| ≤ ATOL_ORTHO {bounds.ATOL_ORTHO}); got {err:.3g}"
    )


#: Condition number of ``S`` used for recovery. RFC-0002 states recovery up to
#: PROCRUSTES_MAX_COND, but ``cond(SᵀT) = cond(S)²`` then reaches ``1/DEGENERATE_RTOL`` at
#: ``cond(S) = 1e3``, where the weakest direction stops counting towards the rank (§3.2); the
#: suite stays below that boundary.
RECOVERY_COND = min(bounds.PROCRUSTES_MAX_COND, 0.3 / math.sqrt(bounds.DEGENERATE_RTOL))


@pytest.mark.requirement("GAUGE-011")
@given(seed=SEEDS, d=DIMS, cond=st.floats(1.0, RECOVERY_COND))
def test_procrustes_recovers_a_known_rotation_in_the_row_convention(gauge_part, seed, d, cond):
    rng = _rng(seed)
    s = conditioned_frame(rng, 4 * d, d, cond)
    r = haar_orthogonal(rng, d, proper=True)
    q = _q(gauge_part, s, s @ r)
    err = float(np.max(np.abs(q - r)))
    assert err <= bounds.PROCRUSTES_ATOL, (
        f"expected Q = R for T = S @ R (row convention) within PROCRUSTES_ATOL {bounds.PROCRUSTES_ATOL}; got max|Q − "
        f"R| = {err:.3g} "
        f"(max|Q − Rᵀ| = {float(np.max(np.abs(q - r.T))):.3g})"
    )


@pytest.mark.requirement("GAUGE-012")
@given(seed=SEEDS, d=DIMS, cond=st.floats(1.0, 30.0))
def test_procrustes_recovers_a_reflection(gauge_part, seed, d, cond):
    rng = _rng(seed)
    s = conditioned_frame(rng, 4 * d, d, cond)
    r = reflection(rng, d)
    q = _q(gauge_part, s, s @ r)
    det = float(np.linalg.det(q))
    assert abs(det + 1.0) <= 1e-6, (
        f"expected det Q = −1 for a reflected target (alignment over O(d), not SO(d)); got det {det:+.6f}"
    )
    err = float(np.max(np.abs(q - r)))
    assert err <= bounds.PROCRUSTES_ATOL, (
        f"expected Q = R within PROCRUSTES_ATOL {bounds.PROCRUSTES_ATOL}; got max|Q − R| = {err:.3g}"
    )


@pytest.mark.requirement("GAUGE-013")
@given(seed=SEEDS, d=DIMS)
def test_procrustes_is_optimal(gauge_part, seed, d):
    rng = _rng(seed)
    s = rng.standard_normal((3 * d, d))
    t = rng.standard_normal((3 * d, d)) + s @ haar_orthogonal(rng, d)  # related, noisy targets
    q = _q(gauge_part, s, t)
    ours = np.linalg.norm(s @ q - t)
    candidates = [np.asarray(library_procrustes(s, t).q), np.asarray(library_procrustes(s, t, proper=True).q)]
    candidates += [haar_orthogonal(rng, d) for _ in range(4)]
    for i, other in enumerate(candidates):
        theirs = float(np.linalg.norm(s @ other - t))
        assert ours <= theirs * (1.0 + bounds.RTOL_LOSS), (
            f"expected an optimal Q: ‖S Q − T‖ = {ours:.6g} exceeds candidate {i}'s {theirs:.6g} by more than "
            f"RTOL_LOSS {bounds.RTOL_LOSS}"
        )


# --- §3.2 rank-deficient and degenerate frames -------------------------------------------------------
def _degenerate_pairs(seed: int, d: int, tail: float) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Frames below the rank floor (collapsed to ``rank_floor(d) − 1`` directions, a point, zero).

    A frame that spans fewer than d directions but at least the rank floor (a LayerNorm-terminated
    encoder spans d−1) is NOT degenerate (RFC-0002 §3.2); these are all below it.
    """
    rng = _rng(seed)
    base = rng.standard_normal((4 * d, d))
    u, _ = np.linalg.qr(rng.standard_normal((4 * d, d)))
    sv = np.ones(d)
    sv[oracle.rank_floor(d) - 1 :] = tail
    collapsed = (u * sv) @ haar_orthogonal(rng, d).T
    constant = np.tile(rng.standard_normal(d), (4 * d, 1))
    return [
        ("collapsed source", collapsed, base),
        ("collapsed target", base, collapsed),
        ("constant source", constant, base),
        ("all-zero source", np.zeros_like(base), base),
    ]


@pytest.mark.requirement("GAUGE-014")
@given(seed=SEEDS, d=st.integers(2, 16), tail=st.sampled_from([0.0, 1e-9, 1e-8]))
def test_procrustes_raises_on_a_degenerate_frame(gauge_part, seed, d, tail):
    for name, s, t in _degenerate_pairs(seed, d, tail):
        with raises(DegenerateProcrustes, f"for a {name} frame (d={d}, rank {oracle.rank_floor(d) - 1}, tail {tail})"):
            gauge_part.procrustes_align(s, t)


@pytest.mark.requirement("GAUGE-014")
@given(m=near_degenerate_matrices(24, st.integers(2, 6), max_rank=1, tail=0.0))
def test_procrustes_raises_for_rank_deficient_strategy_frames(gauge_part, m):
    with raises(DegenerateProcrustes, f"for a rank-1 frame of d={m.shape[1]}"):
        gauge_part.procrustes_align(m, m)


#: GAUGE-015 is a SHOULD: InputError, except that a one-row frame is also degenerate, so
#: DegenerateProcrustes is an acceptable typed answer for it.
BAD_INPUT_ERRORS = {"one-row": (InputError, DegenerateProcrustes)}


@pytest.mark.requirement("GAUGE-015")
@pytest.mark.parametrize(
    "source, target",
    [
        pytest.param(np.ones(5), np.ones(5), id="one-dimensional"),
        pytest.param(np.ones((6, 3)), np.ones((6, 4)), id="shape-mismatch"),
        pytest.param(np.ones((1, 3)), np.ones((1, 3)), id="one-row"),
        pytest.param(np.full((6, 3), np.nan), np.ones((6, 3)), id="non-finite"),
    ],
)
def test_procrustes_bad_input_raises_input_error(gauge_part, source, target, request):
    case = request.node.callspec.id
    with raises(BAD_INPUT_ERRORS.get(case, InputError), f"for {case} input"):
        gauge_part.procrustes_align(source, target)


def _hyperplane_frame(rng: np.random.Generator, k: int, d: int, *, frame_layer: bool) -> np.ndarray:
    """LayerNorm-like latents: every row sums to zero (rank ``d − 1`` by design), optionally
    followed by an invertible linear frame layer; stored in float32 like an encoder's output."""
    x = rng.standard_normal((k, d))
    x = x - x.mean(axis=1, keepdims=True)
    x = x / x.std(axis=1, keepdims=True)
    if frame_layer:
        x = x @ (np.eye(d) + 0.3 * rng.standard_normal((d, d)))
    return x.astype(np.float32).astype(np.float64)


def _small_rotation(rng: np.random.Generator, d: int, max_angle: float) -> np.ndarray:
    """``expm(X)`` with every eigen-angle at most ``max_angle`` (< π/2: the minimal completion is R)."""
    return expm(_skew(rng, d, max_angle))


def _hyperplane_case(seed: int, d: int, angle: float, frame_layer: bool) -> tuple[np.ndarray, np.ndarray]:
    """A rank d − 1 frame ``S`` (``_hyperplane_frame``) and a rotation ``R`` of eigen-angles at most ``angle``."""
    rng = _rng(seed)
    return _hyperplane_frame(rng, 6 * d, d, frame_layer=frame_layer), _small_rotation(rng, d, angle)


@pytest.mark.requirement("GAUGE-014")
@given(seed=SEEDS, d=st.integers(3, 12), angle=st.floats(0.01, 1.4), frame_layer=st.booleans())
def test_procrustes_aligns_a_hyperplane_frame_on_its_span(gauge_part, seed, d, angle, frame_layer):
    s, r = _hyperplane_case(seed, d, angle, frame_layer)
    t = s @ r
    expected = oracle.procrustes(s, t)
    assert expected is not None and np.max(np.abs(expected - r)) <= bounds.PROCRUSTES_ATOL
    try:
        q = _q(gauge_part, s, t)
    except DegenerateProcrustes:
        pytest.fail("procrustes_align refused a rank d − 1 frame (rows summing to zero, e.g. LayerNorm "
                    "latents); RFC-0002 §3.2 aligns it on its span and completes it by the minimal rotation")
    assert np.max(np.abs(q - r)) <= bounds.PROCRUSTES_ATOL, (
        f"expected the rotation R on the span, completed by the minimal rotation; max |Q − R| = "
        f"{np.max(np.abs(q - r)):.3g}")


@pytest.mark.requirement("GAUGE-020")
@given(seed=SEEDS, d=st.integers(3, 12), angle=st.floats(0.01, 1.4), frame_layer=st.booleans())
def test_frame_drift_of_a_hyperplane_frame_reads_the_rotation(gauge_part, seed, d, angle, frame_layer):
    s, r = _hyperplane_case(seed, d, angle, frame_layer)
    expected = oracle.eigen_angle_deg(r)
    try:
        got = float(gauge_part.frame_drift_deg(s, s @ r))
    except DegenerateProcrustes:
        pytest.fail("frame_drift_deg refused a rank d − 1 frame (LayerNorm-like latents); RFC-0002 §3.2 "
                    f"defines its drift: expected {expected:.4f}°")
    assert abs(got - expected) <= bounds.ANGLE_ATOL_DEG, f"expected {expected:.6f}°, got {got:.6f}°"


# --- §3.3 rotation angle ----------------------------------------------------------------------------
def _angle(gauge_part, q) -> float:
    return float(gauge_part.rotation_angle_deg(q))


def _expect_angle(got: float, expected: float, what: str) -> None:
    assert abs(got - expected) <= bounds.ANGLE_ATOL_DEG, (
        f"expected rotation_angle_deg = {expected:.6g}° for {what} (ANGLE_ATOL_DEG {bounds.ANGLE_ATOL_DEG}); got "
        f"{got:.6g}°"
    )


@pytest.mark.requirement("GAUGE-016")
@given(q=orthogonal_matrices(DIMS))
def test_rotation_angle_is_the_eigen_angle_formula(gauge_part, q):
    _expect_angle(
        _angle(gauge_part, q),
        oracle.eigen_angle_deg(q),
        f"(180/π)·sqrt(½ Σ arg(λ)²) of a {q.shape[0]}-d orthogonal Q (det {np.linalg.det(q):+.0f})",
    )


@pytest.mark.requirement("GAUGE-016")
@pytest.mark.parametrize("d", [2, 3, 5, 8])
def test_rotation_angle_of_a_reflection(gauge_part, d):
    q = np.eye(d)
    q[0, 0] = -1.0
    _expect_angle(
        _angle(gauge_part, q), 180.0 / math.sqrt(2.0), f"a single-axis reflection in d={d} (one eigenvalue −1)"
    )


@pytest.mark.requirement("GAUGE-017")
@given(theta_deg=st.floats(0.0, 180.0), d=st.integers(2, 12), seed=SEEDS)
@example(theta_deg=1e-4, d=8, seed=0)
@example(theta_deg=0.05, d=16, seed=1)
@example(theta_deg=0.01, d=8, seed=0)  # 10× ANGLE_ATOL_DEG: inside a float32 arccos's noise floor
@example(theta_deg=179.999, d=5, seed=2)
@example(theta_deg=180.0, d=3, seed=3)
def test_single_plane_rotation_reads_its_angle(gauge_part, theta_deg, d, seed):
    q = plane_rotation(d, math.radians(theta_deg), basis=haar_orthogonal(_rng(seed), d))
    _expect_angle(_angle(gauge_part, q), theta_deg, f"a single-plane rotation by {theta_deg}° in d={d}")


def _skew(rng: np.random.Generator, d: int, max_angle: float) -> np.ndarray:
    """A skew-symmetric ``X`` whose eigen-angles (|imag of eigenvalues|) are at most ``max_angle``."""
    a = rng.standard_normal((d, d))
    x = a - a.T
    top = np.max(np.abs(np.linalg.eigvals(x).imag))
    return x * (max_angle / top)


@pytest.mark.requirement("GAUGE-018")
@given(seed=SEEDS, d=st.integers(3, 10))
@settings(max_examples=20)
def test_rotation_angle_grows_along_a_geodesic(gauge_part, seed, d):
    x = _skew(_rng(seed), d, 0.95 * math.pi)
    ts = np.linspace(0.05, 1.0, 12)
    angles = [_angle(gauge_part, expm(t * x)) for t in ts]
    assert all(b > a for a, b in zip(angles, angles[1:])), (
        f"expected strictly increasing angles along a geodesic; got {np.round(angles, 3)}"
    )
    _expect_angle(angles[-1], oracle.eigen_angle_deg(expm(x)), "the end of the geodesic")


@pytest.mark.requirement("GAUGE-018")
@pytest.mark.parametrize("d, planes, theta", [(8, 4, 170.0), (6, 3, 120.0), (4, 2, 150.0)])
def test_rotation_angle_reports_values_above_180(gauge_part, d, planes, theta):
    q = np.eye(d)
    c, s = math.cos(math.radians(theta)), math.sin(math.radians(theta))
    for p in range(planes):
        i = 2 * p
        q[i : i + 2, i : i + 2] = [[c, -s], [s, c]]
    q = (basis := haar_orthogonal(_rng(d), d)) @ q @ basis.T
    expected = theta * math.sqrt(planes)
    assert expected > 180.0
    _expect_angle(_angle(gauge_part, q), expected, f"{planes} planes rotated by {theta}° (no saturation at 180°)")


@pytest.mark.requirement("GAUGE-019")
@given(seed=SEEDS, d=DIMS, noise=st.sampled_from([0.0, 0.01, 0.1]))
def test_frame_drift_is_the_angle_of_the_alignment(gauge_part, seed, d, noise):
    """Self-consistency: the implementation's drift is its own angle of its own alignment.

    Whether those two are right is GAUGE-010 to GAUGE-018's business; a defect there is not
    charged again here.
    """
    rng = _rng(seed)
    s = conditioned_frame(rng, 6 * d, d, 5.0)
    t = s @ haar_orthogonal(rng, d) + noise * rng.standard_normal(s.shape) / math.sqrt(d)
    q = _q(gauge_part, s, t)
    if q.shape != (d, d) or not np.max(np.abs(q.T @ q - np.eye(d))) <= bounds.ATOL_ORTHO:
        pytest.skip("not checkable: procrustes_align returned a non-orthogonal matrix (GAUGE-010 fails); GAUGE-019 "
            "compares drift with the angle of an orthogonal alignment")
    own = float(gauge_part.rotation_angle_deg(q))
    got = float(gauge_part.frame_drift_deg(s, t))
    assert abs(got - own) <= bounds.ANGLE_ATOL_DEG, (
        f"frame_drift_deg = {got:.6g}° but rotation_angle_deg(procrustes_align(S, T)) = {own:.6g}° (ANGLE_ATOL_DEG "
        f"{bounds.ANGLE_ATOL_DEG})"
    )


@pytest.mark.requirement("GAUGE-020")
@given(seed=SEEDS, d=st.integers(2, 16), tail=st.sampled_from([0.0, 1e-9]))
def test_frame_drift_refuses_a_degenerate_frame(gauge_part, seed, d, tail):
    for name, s, t in _degenerate_pairs(seed, d, tail):
        try:
            value = gauge_part.frame_drift_deg(s, t)
        except DegenerateProcrustes:
            continue
        pytest.fail(f"expected DegenerateProcrustes for a {name} frame (d={d}); frame_drift_deg returned {value!r}")


# --- §7 collapse metrics ----------------------------------------------------------------------------
def _low_rank(seed: int, n: int, d: int, rank: int, scale: float, offset: float) -> np.ndarray:
    """``rank`` centred directions of exactly equal variance, scaled, plus a constant offset."""
    rng = _rng(seed)
    raw = rng.standard_normal((n, rank))
    u, _ = np.linalg.qr(raw - raw.mean(axis=0))
    v = haar_orthogonal(rng, d)[:rank]
    return scale * (u @ v) + offset * rng.standard_normal(d)


@pytest.mark.requirement("GAUGE-036")
@given(z=embeddings(st.integers(8, 64), st.integers(2, 12), max_condition=1e3), offset=st.floats(-3, 3))
def test_effective_rank_is_the_entropy_rank(gauge_part, z, offset):
    z = z + offset
    _expect_rank(
        float(gauge_part.effective_rank(z)),
        oracle.effective_rank(z),
        f"Gaussian latents {z.shape} + offset {offset:.3g}",
    )


@pytest.mark.requirement("GAUGE-036")
@given(seed=SEEDS, d=st.integers(3, 12), rank=st.integers(1, 3), tail=st.sampled_from([1e-3, 1e-5]))
def test_effective_rank_has_no_eigenvalue_floor(gauge_part, seed, d, rank, tail):
    rng = _rng(seed)
    z = _low_rank(seed, 48, d, min(rank, d - 1), 1.0, 0.0) + tail * rng.standard_normal((48, d))
    _expect_rank(
        float(gauge_part.effective_rank(z)),
        oracle.effective_rank(z),
        f"rank-{min(rank, d - 1)} latents with a {tail:g} tail in d={d}",
    )


@pytest.mark.requirement("GAUGE-037")
@pytest.mark.parametrize("value", [0.0, 1.0, -3.5, 1e6, 1e-8])
@pytest.mark.parametrize("n, d", [(32, 8), (5, 16)])
def test_effective_rank_of_a_constant_batch_is_zero(gauge_part, value, n, d):
    z = np.full((n, d), value, dtype=np.float32) + np.linspace(0, 1, d, dtype=np.float32) * (value != 0.0)
    try:
        got = float(gauge_part.effective_rank(z))
    except EvaluationError:
        return
    assert got == 0.0, f"a constant latent batch read effective rank {got} (collapse reported as healthy)"


@pytest.mark.requirement("GAUGE-038")
@given(seed=SEEDS, d=st.integers(4, 16), rank=st.integers(1, 4), scale=st.sampled_from([1e-9, 1e-6, 1e-3, 1.0, 1e3]))
def test_effective_rank_reads_r_at_every_scale(gauge_part, seed, d, rank, scale):
    rank = min(rank, d)
    z = _low_rank(seed, 64, d, rank, scale, 0.0)
    got = float(gauge_part.effective_rank(z))
    assert abs(got - rank) <= bounds.METRIC_RTOL * rank, (
        f"expected effective rank {rank} for {rank} equal directions at scale {scale:g} (METRIC_RTOL "
        f"{bounds.METRIC_RTOL}); got {got:.6g}"
    )


@pytest.mark.requirement("GAUGE-039")
@given(z=embeddings(st.integers(2, 64), st.integers(1, 12), max_condition=100.0, scale=3.0), offset=st.floats(-5, 5))
def test_latent_std_mean_is_the_population_std(gauge_part, z, offset):
    z = z + offset
    got, expected = float(gauge_part.latent_std_mean(z)), oracle.latent_std_mean(z)
    assert check.close_scalar(got, expected, rtol=bounds.METRIC_RTOL, atol=1e-12), (
        f"expected the mean population std {expected:.6g} (ddof 0) within METRIC_RTOL {bounds.METRIC_RTOL}; got "
        f"{got:.6g}"
    )


def _expect_rank(got: float, expected: float, what: str) -> None:
    assert check.close_scalar(got, expected, rtol=bounds.METRIC_RTOL, atol=0.0), (
        f"expected effective_rank = {expected:.6g} (RankMe over singular values, no floor) for {what} (METRIC_RTOL "
        f"{bounds.METRIC_RTOL}); got {got:.6g}"
    )
