"""Rotation angles: principal angles, geodesic distance and the drift angle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm, logm

from lensemble_spec.errors import InputError
from lensemble_spec.metrics import (
    ANGLE_ATOL_DEG,
    drift_angle_deg,
    geodesic_distance,
    principal_angles,
)
from lensemble_spec.strategies import haar_orthogonal, orthogonal_matrices, plane_rotation, plane_rotations

PROPS = settings(max_examples=40, deadline=None, derandomize=True)


def upstream_trace_angle_deg(q: np.ndarray) -> float:
    """The single-plane trace formula used upstream (kept here only as the contrast)."""
    d = q.shape[0]
    return math.degrees(math.acos(np.clip((np.trace(q) - (d - 2)) / 2.0, -1.0, 1.0)))


# Catches: any angle formula that is not exact for single-plane rotations (e.g. a Frobenius
# ‖Q − I‖ proxy, a radians/degrees slip, or a factor √2 from summing both conjugate eigenvalues).
@PROPS
@given(plane_rotations(st.integers(2, 64), min_angle=0.0, max_angle=math.pi))
def test_single_plane_rotation_reads_its_angle(data):
    theta, q = data
    assert drift_angle_deg(q) == pytest.approx(math.degrees(theta), abs=0.1)
    # the precise value: within the stated noise floor, 100x tighter than the requirement
    assert abs(drift_angle_deg(q) - math.degrees(theta)) <= ANGLE_ATOL_DEG


@pytest.mark.parametrize("deg", [0.0, 1e-3, 0.5, 10.0, 90.0, 179.0, 179.999, 180.0])
def test_single_plane_known_answers_including_the_ends(deg):
    # Catches: clipping/branch-cut trouble exactly at 0° and 180° (eigenvalue −1 pair).
    q = plane_rotation(16, math.radians(deg), basis=haar_orthogonal(np.random.default_rng(5), 16))
    assert drift_angle_deg(q) == pytest.approx(deg, abs=max(ANGLE_ATOL_DEG, 1e-6))


# Catches: an asymmetric definition (e.g. reading only the upper triangle or the skew part's sign).
@PROPS
@given(orthogonal_matrices(st.integers(2, 32)))
def test_drift_angle_is_symmetric(q):
    assert drift_angle_deg(q) == pytest.approx(drift_angle_deg(q.T), abs=1e-9)


# Catches: dependence on the basis the rotation is written in (the gauge itself).
@PROPS
@given(st.integers(2, 24).flatmap(lambda d: st.tuples(orthogonal_matrices(d), orthogonal_matrices(d))))
def test_drift_angle_is_conjugation_invariant(pair):
    q, r = pair
    assert drift_angle_deg(r.T @ q @ r) == pytest.approx(drift_angle_deg(q), abs=ANGLE_ATOL_DEG)


def test_identity_reads_zero():
    for d in (2, 8, 128):
        assert drift_angle_deg(np.eye(d)) <= ANGLE_ATOL_DEG
        assert geodesic_distance(np.eye(d)) == pytest.approx(0.0, abs=1e-7)


def _geodesic(d: int = 128, seed: int = 0):
    """Q(t) = exp(tA) for a random skew A = B·diag(ω_j J)·Bᵀ with max ω_j = ‖A‖₂ = 1.

    Built from its canonical form (B Haar, one 2x2 rotation block per plane), so Q(t) is exact
    and cheap; one point is cross-checked against scipy's expm.
    """
    rng = np.random.default_rng(seed)
    basis = haar_orthogonal(rng, d)
    omega = rng.uniform(0.05, 1.0, d // 2)
    omega[0] = 1.0
    j = np.zeros((d, d))
    idx = 2 * np.arange(d // 2)
    j[idx, idx + 1], j[idx + 1, idx] = -omega, omega
    a = basis @ j @ basis.T

    def q_of(t: float) -> np.ndarray:
        blocks = np.zeros((d, d))
        c, s = np.cos(omega * t), np.sin(omega * t)
        blocks[idx, idx], blocks[idx + 1, idx + 1] = c, c
        blocks[idx, idx + 1], blocks[idx + 1, idx] = -s, s
        return basis @ blocks @ basis.T

    ts = np.linspace(0.02, math.pi - 0.02, 16)  # t·‖A‖₂ < π over the whole range
    qs = [q_of(t) for t in ts]
    assert np.allclose(qs[3], expm(ts[3] * a), atol=1e-9)  # the construction really is exp(tA)
    return a, ts, qs


# Catches upstream defect §9.3: the trace formula saturates at 180° for generic high-d drift,
# so "more drift" stops reading larger. Ours must increase strictly (and linearly) for every
# t with t·‖A‖₂ < π at d = 128.
def test_strictly_increasing_along_geodesic_d128_while_trace_formula_saturates():
    a, ts, qs = _geodesic()
    ours = drift_angle_deg(np.stack(qs))  # one batched call
    assert np.all(np.diff(ours) > 0)
    expected = np.degrees(ts * np.linalg.norm(a) / math.sqrt(2.0))
    assert np.allclose(ours, expected, rtol=1e-6)
    # the contrast: upstream's formula pins at 180° over most of the range
    trace = np.array([upstream_trace_angle_deg(q) for q in qs])
    assert np.mean(trace >= 179.999) > 0.75
    assert not np.all(np.diff(trace) > 0)


# Catches: a geodesic distance that is not ‖log Q‖_F (e.g. missing the √2 or using |θ| sums).
@settings(max_examples=15, deadline=None, derandomize=True)
@given(st.integers(2, 10).flatmap(lambda d: orthogonal_matrices(d, proper=True)))
def test_geodesic_distance_is_frobenius_norm_of_log(q):
    theta = principal_angles(q)
    if theta.max() > math.pi - 1e-3:  # principal log is ill-defined at exactly π
        return
    ref = np.linalg.norm(np.real(logm(q)))
    assert geodesic_distance(q) == pytest.approx(ref, rel=1e-6, abs=1e-8)
    assert drift_angle_deg(q) == pytest.approx(math.degrees(ref / math.sqrt(2)), rel=1e-6, abs=1e-6)


def test_principal_angles_known_answer():
    q = plane_rotation(6, 0.7)
    q[4:, 4:] = plane_rotation(2, 0.2)
    assert np.allclose(principal_angles(q), [0.7, 0.7, 0.2, 0.2, 0.0, 0.0], atol=1e-7)


# Catches: a reflected frame (det −1) reading as small drift because the −1 eigenvalue was
# dropped or folded to 0 (upstream solves over SO(d) and never sees it).
@PROPS
@given(orthogonal_matrices(st.integers(2, 32)))
def test_reflections_never_read_small(q):
    if np.linalg.det(q) < 0:
        assert drift_angle_deg(q) >= 180.0 / math.sqrt(2.0) - 1e-6
        assert geodesic_distance(q) >= math.pi - 1e-7


def test_single_axis_reflection_known_answer():
    q = np.diag([-1.0, 1.0, 1.0, 1.0])
    assert drift_angle_deg(q) == pytest.approx(180.0 / math.sqrt(2.0))
    assert geodesic_distance(q) == pytest.approx(math.pi)


def test_batched_angles_match_single():
    rng = np.random.default_rng(4)
    qs = np.stack([haar_orthogonal(rng, 12) for _ in range(5)])
    batch = drift_angle_deg(qs)
    assert batch.shape == (5,)
    assert np.allclose(batch, [drift_angle_deg(q) for q in qs], atol=1e-12)
    assert principal_angles(qs).shape == (5, 12)


# Catches: float32 round-off read as rotation (√(1e-7) rad ≈ 0.02° of fake drift per plane).
def test_float32_orthogonal_matrix_is_reorthogonalised():
    q = plane_rotation(64, math.radians(0.5), basis=haar_orthogonal(np.random.default_rng(0), 64))
    got = drift_angle_deg(q.astype(np.float32))
    assert got == pytest.approx(0.5, abs=1e-3)
    assert drift_angle_deg(np.eye(64, dtype=np.float32)) <= ANGLE_ATOL_DEG


def test_non_orthogonal_input_is_rejected():
    with pytest.raises(InputError) as info:
        drift_angle_deg(np.random.default_rng(0).standard_normal((4, 4)))
    assert "orthogonal" in info.value.remediation


# Catches: the certified trace series of the batched frame drift (drift_from_orthogonal_fast)
# drifting from the eigvalsh definition in either stage (wrong coefficient, wrong trace of a power,
# items mixed up when only some are candidates), certifying a rotation its tail bound does not
# cover, or certifying a reflection (its certificate is what lets frame_drift skip det Q).
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_series_fast_path_matches_eigvalsh_and_certifies_only_what_it_may(kind):
    from lensemble_spec.metrics.angles import drift_from_orthogonal, drift_from_orthogonal_fast

    rng = np.random.default_rng(11)
    d = 16
    basis = haar_orthogonal(rng, d)
    # 5° and 12°: first stage; 30° and 40°: second stage (up to A⁸); 100°, 170°: eigvalsh.
    degs = [5.0, 30.0, 100.0, 12.0, 40.0, 170.0]
    qs = [plane_rotation(d, math.radians(a), basis=basis) for a in degs]
    two = plane_rotation(d, math.radians(9.0)) @ plane_rotation(d, math.radians(7.0), basis=basis)
    reflection = basis @ np.diag([-1.0] + [1.0] * (d - 1)) @ basis.T
    generic = haar_orthogonal(rng, d)  # tr(A) near d: not even a series candidate
    q = np.stack([generic, *qs, two, reflection])
    if kind == "torch":
        torch = pytest.importorskip("torch")
        got, cert = drift_from_orthogonal_fast(torch.from_numpy(q), with_certificate=True)
    else:
        got, cert = drift_from_orthogonal_fast(q, with_certificate=True)
    want = drift_from_orthogonal(q)
    assert cert.tolist() == [False, True, True, False, True, True, False, True, False]
    # certified: Σθ² to SERIES_RTOL = 1e-8, i.e. the angle to 5e-9 relative; eigvalsh items agree
    # to the two LAPACKs' resolution near θ = π (~1e-6°)
    assert np.all(np.abs(got - want)[cert] <= 5e-9 * want[cert])
    assert np.all(np.abs(got - want)[~cert] <= 1e-5)
    assert np.allclose(got[1:7], degs, rtol=5e-9, atol=1e-5)
    # Only some candidates, in another order: the same values item by item.
    sub, sub_cert = drift_from_orthogonal_fast(q[[3, 0, 2, 7]], with_certificate=True)
    assert np.allclose(sub, got[[3, 0, 2, 7]], rtol=1e-8, atol=0)
    assert sub_cert.tolist() == [False, False, True, True]
