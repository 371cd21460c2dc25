"""The Procrustes backstop: fold a drifted participant back onto the round-0 frame, in weights.

Catches upstream defect §3.3 (rotating the delta only, in the inverse/column convention, without
the global term): the aligned participant must compute the SAME function up to Q*, land on the
reference frame, and its released delta must be re-differenced against the global.
"""

from __future__ import annotations

import numpy as np
import pytest

from lensemble_reference.backstop import align_to_reference, encode_numpy, redifference, should_fire
from lensemble_reference.implementation import ReferenceFederation, ReferenceModel
from lensemble_reference.model import GAUGE_PARAMS, init_params, rotate_params
from lensemble_spec.metrics import drift_to_reference_deg

from ._tiny import TINY_MODEL, haar_orthogonal, tiny_silo

D = TINY_MODEL.latent_dim


def _givens(theta_deg: float) -> np.ndarray:
    q = np.eye(D)
    c, s = np.cos(np.radians(theta_deg)), np.sin(np.radians(theta_deg))
    q[:2, :2] = [[c, -s], [s, c]]
    return q


@pytest.fixture(scope="module")
def setting():
    rng = np.random.default_rng(0)
    base = init_params(TINY_MODEL, 4)
    global_params = {k: (v + 0.2 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in base.items()}
    local = {k: (v + 0.05 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in global_params.items()}
    points = tiny_silo("probe", 9, episodes=4, horizon=5).obs.reshape(-1, 3, 16, 16)  # 24 points, k >> d
    reference = encode_numpy(TINY_MODEL, local, points)  # the frame the participant SHOULD be in
    obs = tiny_silo("data", 10).obs.reshape(-1, 3, 16, 16)  # off-probe inputs for function checks
    return global_params, local, points, reference, obs


@pytest.mark.parametrize("det", [1.0, -1.0], ids=["rotated", "reflected"])
def test_aligned_participant_is_the_same_function_up_to_q(setting, det):
    global_params, local, points, reference, obs = setting
    drifted = rotate_params(local, haar_orthogonal(D, 21, det=det))  # a participant whose frame drifted
    fed = ReferenceFederation(ReferenceModel(TINY_MODEL, threads=1))
    aligned, q = fed.align_release(global_params, drifted, points, reference)
    q = np.asarray(q, dtype=np.float64)
    np.testing.assert_allclose(q.T @ q, np.eye(D), atol=1e-8)
    # same function up to Q on (and off) the probe
    z = encode_numpy(TINY_MODEL, drifted, obs).astype(np.float64)
    np.testing.assert_allclose(encode_numpy(TINY_MODEL, aligned, obs), z @ q, atol=2e-5 * np.abs(z).max())
    model = ReferenceModel(TINY_MODEL, threads=1)
    a = np.random.default_rng(3).standard_normal((z.shape[0], TINY_MODEL.action_dim)).astype(np.float32)
    out = model.predict(drifted, z.astype(np.float32), a).astype(np.float64)
    np.testing.assert_allclose(
        model.predict(aligned, (z @ q).astype(np.float32), a), out @ q, atol=2e-5 * np.abs(out).max()
    )
    # ... and its frame moved onto the reference (the drift was a pure gauge transform here)
    before = drift_to_reference_deg(encode_numpy(TINY_MODEL, drifted, points), reference)
    after = drift_to_reference_deg(encode_numpy(TINY_MODEL, aligned, points), reference)
    assert before > 20.0 and after < 0.05
    np.testing.assert_allclose(
        encode_numpy(TINY_MODEL, aligned, points), reference, atol=1e-4 * np.abs(reference).max()
    )
    assert np.sign(np.linalg.det(q)) == det  # O(d) search: a reflection is undone by a reflection


def test_kabsch_cannot_undo_a_reflection(setting):
    """Documented behaviour of ``proper=True``: SO(d) leaves a reflected participant misaligned."""
    _, local, points, reference, _ = setting
    drifted = rotate_params(local, haar_orthogonal(D, 22, det=-1.0))
    proper = align_to_reference(TINY_MODEL, drifted, points, reference, proper=True)
    full = align_to_reference(TINY_MODEL, drifted, points, reference, proper=False)
    assert proper.det > 0 and full.det < 0
    assert full.residual < 1e-4 < 0.05 < proper.residual


def test_released_delta_is_re_differenced_against_the_global(setting):
    global_params, local, points, reference, _ = setting
    drifted = rotate_params(local, _givens(40.0))
    alignment = align_to_reference(TINY_MODEL, drifted, points, reference)
    delta = redifference(global_params, alignment.params)
    plain = redifference(global_params, drifted)
    for k in global_params:
        np.testing.assert_allclose(global_params[k] + delta[k], alignment.params[k], rtol=0, atol=1e-6)
        if k not in GAUGE_PARAMS:  # untouched parameters release exactly the original delta
            assert delta[k].tobytes() == plain[k].tobytes(), k
        else:  # NOT Q·Δ (upstream's defect): the global term is rotated too
            wrong = rotate_params({**plain, **{g: plain[g] for g in GAUGE_PARAMS}}, alignment.q)[k]
            assert not np.allclose(delta[k], wrong, atol=1e-4), k


def test_fires_exactly_above_the_threshold(setting):
    _, local, points, reference, _ = setting
    small = align_to_reference(TINY_MODEL, rotate_params(local, _givens(5.0)), points, reference)
    large = align_to_reference(TINY_MODEL, rotate_params(local, _givens(40.0)), points, reference)
    flip = np.eye(D)
    flip[0, 0] = -1.0
    reflected = align_to_reference(TINY_MODEL, rotate_params(local, flip), points, reference)
    assert small.angle_deg == pytest.approx(5.0, abs=0.05) and not should_fire(small, 15.0)
    assert large.angle_deg == pytest.approx(40.0, abs=0.05) and should_fire(large, 15.0)
    assert reflected.det < 0 and reflected.angle_deg == pytest.approx(180 / np.sqrt(2), abs=0.01)
    assert should_fire(reflected, 15.0) and not should_fire(reflected, 130.0)
