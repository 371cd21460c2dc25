"""Procrustes alignment: known answers and properties (row convention, ``S @ Q ≈ T``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm

from lensemble_spec.errors import DegenerateProcrustes, ErrorCode, InputError
from lensemble_spec.metrics import DEGENERATE_RTOL, procrustes_align, rank_floor
from lensemble_spec.strategies import (
    embeddings,
    haar_orthogonal,
    near_degenerate_matrices,
    orthogonal_matrices,
    rotated_embeddings,
)

PROPS = settings(max_examples=30, deadline=None, derandomize=True)
DIMS = st.integers(min_value=2, max_value=64)


def _rotated(proper: bool = False):
    # n = 2d + 4 points keep the cross-covariance well conditioned at every d.
    return DIMS.flatmap(lambda d: rotated_embeddings(2 * d + 4, d, proper=proper))


def _pair():
    return DIMS.flatmap(lambda d: st.tuples(embeddings(2 * d + 4, d), embeddings(2 * d + 4, d),
                                            orthogonal_matrices(d)))


# Catches: the column-convention solution V Uᵀ (returns Qᵀ), a forced det = +1 (upstream Kabsch
# always applied, so a reflection gauge is "recovered" wrongly), fp32 arithmetic (misses 1e-6).
@PROPS
@given(_rotated())
def test_recovers_random_orthogonal_to_1e6_in_fp64(data):
    s, q, t = data
    res = procrustes_align(s, t)
    assert np.max(np.abs(res.q - q)) < 1e-6
    assert res.residual < 1e-9
    assert np.allclose(res.q.T @ res.q, np.eye(q.shape[0]), atol=1e-12)


# Catches: a solution that is not equivariant (e.g. one that centres or rescales only one side,
# or solves T ≈ Q S in the column convention).
@PROPS
@given(_pair())
def test_equivariance_under_orthogonal_reparametrisation(data):
    s, t, r = data
    base = procrustes_align(s, t).q
    left = procrustes_align(s @ r, t).q
    right = procrustes_align(s, t @ r).q
    assert np.allclose(left, r.T @ base, atol=1e-8)
    assert np.allclose(right, base @ r, atol=1e-8)


# Catches: a sub-optimal solver (wrong factor order, missing transpose, a premature Kabsch flip).
@PROPS
@given(_pair(), st.floats(min_value=1e-4, max_value=0.3))
def test_residual_not_beaten_by_perturbed_rotations(data, eps):
    s, t, _ = data
    d = s.shape[1]
    res = procrustes_align(s, t)
    rng = np.random.default_rng(d)
    for _ in range(3):
        k = rng.standard_normal((d, d))
        k = k - k.T
        cand = res.q @ expm(eps * k / np.linalg.norm(k, 2))
        other = np.linalg.norm(s @ cand - t) / np.linalg.norm(t)
        assert res.residual <= other + 1e-12
    # also beats an arbitrary orthogonal matrix
    other = np.linalg.norm(s @ haar_orthogonal(rng, d) - t) / np.linalg.norm(t)
    assert res.residual <= other + 1e-12


# Catches: `proper=True` ignored (det −1 returned) or flipping the wrong singular direction.
@PROPS
@given(_rotated(proper=False))
def test_proper_returns_det_plus_one_and_is_optimal_in_so_d(data):
    s, q, t = data
    res = procrustes_align(s, t, proper=True)
    assert np.linalg.det(res.q) == pytest.approx(1.0, abs=1e-9)
    if np.linalg.det(q) > 0:
        assert np.max(np.abs(res.q - q)) < 1e-6
    else:
        # the O(d) answer is a reflection; the SO(d) answer must fit worse but stay orthogonal
        assert res.residual > procrustes_align(s, t).residual
        assert np.allclose(res.q.T @ res.q, np.eye(q.shape[0]), atol=1e-12)


def test_proper_known_answer_for_single_axis_reflection():
    # Catches: a Kabsch flip on the largest instead of the smallest singular direction.
    rng = np.random.default_rng(3)
    u, _ = np.linalg.qr(rng.standard_normal((40, 3)))
    s = u * np.array([3.0, 2.0, 0.5])  # orthogonal columns: SᵀS = diag(9, 4, 0.25)
    refl = np.diag([1.0, 1.0, -1.0])
    res = procrustes_align(s, s @ refl, proper=True)
    assert np.allclose(res.q, np.eye(3), atol=1e-9)  # weakest axis is the one left unmatched
    assert np.allclose(procrustes_align(s, s @ refl).q, refl, atol=1e-9)


# Issue #12 item 7: RFC-0002 GAUGE-015 says non-2-D input raises InputError, and the library says
# the same (batches go through frame_drift / polar_batch). Catches: a batched call returning a
# stack of Q's where the RFC promises a typed refusal.
@pytest.mark.parametrize("shape", [(2, 10, 3), (1, 1, 10, 3), (10,)])
def test_non_two_dimensional_input_is_an_input_error(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    with pytest.raises(InputError):
        procrustes_align(x, x)


def test_residual_is_normalised_by_target_norm():
    # Catches upstream defect §9.4: an unnormalised ‖SQ − T‖_F changes with the latent scale.
    rng = np.random.default_rng(0)
    s = rng.standard_normal((50, 6))
    t = s @ haar_orthogonal(rng, 6) + 0.1 * rng.standard_normal((50, 6))
    r1 = procrustes_align(s, t).residual
    r2 = procrustes_align(1e3 * s, 1e3 * t).residual
    assert r1 == pytest.approx(r2, rel=1e-9)
    assert 0.01 < r1 < 0.5


def test_condition_and_singular_values_reported():
    rng = np.random.default_rng(1)
    s = rng.standard_normal((64, 5))
    res = procrustes_align(s, s)
    sv = np.linalg.svd(s.T @ s, compute_uv=False)
    assert np.allclose(res.singular_values, sv)
    assert res.condition == pytest.approx(sv[0] / sv[-1])


# Catches upstream defect §9.2 at the source: a rank-deficient problem must raise, not return
# an arbitrary rotation (which the caller would then report as some drift angle, often 0°).
@pytest.mark.parametrize(
    "make",
    [
        lambda s: np.outer(s[:, 0], np.ones(4)),  # rank-1 collapse
        lambda s: np.zeros_like(s),  # everything at the origin
        lambda s: np.ones_like(s),  # constant (uncentred rank 1)
    ],
    ids=["rank-1", "zero", "constant"],
)
def test_degenerate_frames_raise(make):
    rng = np.random.default_rng(0)
    s = rng.standard_normal((32, 4))
    with pytest.raises(DegenerateProcrustes) as info:
        procrustes_align(make(s), s)
    assert info.value.code is ErrorCode.PROCRUSTES_DEGENERATE
    assert info.value.remediation
    with pytest.raises(DegenerateProcrustes):
        procrustes_align(s, make(s))


def test_fewer_points_than_the_rank_floor_is_degenerate():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((3, 16))  # rank 3 < rank_floor(16) = 4
    with pytest.raises(DegenerateProcrustes):
        procrustes_align(s, s)


# Catches: a tolerance that is absolute (scale-dependent, like upstream's σ_min < 1e-6 floor,
# which flags a healthy frame at scale 1e-3 and passes a collapsed one at scale 1e3) or one far
# from its documented value.
@settings(max_examples=20, deadline=None, derandomize=True)
@given(st.integers(3, 12).flatmap(lambda d: st.tuples(
    near_degenerate_matrices(3 * d, d, tail=1e-3), orthogonal_matrices(d), st.floats(1e-3, 1e3))))
def test_tolerance_is_relative_and_at_its_stated_value(data):
    s_weak, q, scale = data
    d = q.shape[0]
    u, sv, vt = np.linalg.svd(s_weak, full_matrices=False)
    rank = int(np.sum(sv > 0.5))
    t = u @ q  # shares S's column space, so the singular values of SᵀT are exactly sv
    for ratio, below in ((10 * DEGENERATE_RTOL, False), (DEGENERATE_RTOL / 10, True)):
        s = (u * np.where(sv < 0.5, ratio, 1.0)) @ vt
        if below and rank < rank_floor(d):
            with pytest.raises(DegenerateProcrustes):
                procrustes_align(scale * s, scale * t)
        else:
            res = procrustes_align(scale * s, scale * t)
            assert res.condition == pytest.approx(1 / ratio, rel=1e-6)
            assert res.rank == (rank if below else d)


def test_torch_and_float32_inputs_give_float64_numpy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    s = rng.standard_normal((20, 3))
    q = haar_orthogonal(rng, 3)
    res = procrustes_align(torch.tensor(s, dtype=torch.float32), torch.tensor(s @ q, dtype=torch.float32))
    assert isinstance(res.q, np.ndarray) and res.q.dtype == np.float64
    assert np.max(np.abs(res.q - q)) < 1e-5  # limited by the float32 inputs, not the solver
    assert isinstance(res.residual, float) and isinstance(res.condition, float)


# Catches: procrustes_align running its d × d factorisation on the caller's multi-threaded torch
# team (an OpenMP team per LAPACK call; on a loaded machine 10-60x slower), or leaving the
# caller's thread count changed afterwards (also when the solve raises).
def test_single_problem_runs_single_threaded_and_restores_threads(monkeypatch):
    torch = pytest.importorskip("torch")
    seen = []
    real_eigh = torch.linalg.eigh

    def eigh(a, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_eigh(a, *args, **kwargs)

    monkeypatch.setattr(torch.linalg, "eigh", eigh)
    rng = np.random.default_rng(3)
    s = rng.standard_normal((40, 8))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        res = procrustes_align(s, s @ np.linalg.qr(rng.standard_normal((8, 8)))[0])
        assert seen == [1] and torch.get_num_threads() == 2
        assert res.residual < 1e-12
        with pytest.raises(DegenerateProcrustes):
            procrustes_align(np.outer(s[:, 0], np.ones(8)), s)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
