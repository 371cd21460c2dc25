"""The gauge action in weights (``rotate``) and the objective's (non-)invariance under it.

Catches: a rotation applied on the wrong side (column vs row convention — upstream defect §3.3),
a latent-facing layer left out of ``rotate`` (the predictor would no longer be conjugated), a
sketch co-rotated the wrong way, and an anchor that does not break the symmetry.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lensemble_reference.implementation import ReferenceModel
from lensemble_reference.model import GAUGE_PARAMS, calibrate_init, init_params, rotate_params
from lensemble_spec.errors import InputError
from lensemble_spec.metrics import build_sketch
from lensemble_spec.protocol import Batch, FrameAnchor

from ._tiny import TINY_MODEL, haar_orthogonal, tiny_silo

D = TINY_MODEL.latent_dim


@pytest.fixture(scope="module")
def model() -> ReferenceModel:
    return ReferenceModel(TINY_MODEL, lambda_sigreg=0.5, threads=1)


@pytest.fixture(scope="module")
def params() -> dict[str, np.ndarray]:
    # perturb the init so frame_proj is not the identity and out_proj.bias is not tiny
    p = init_params(TINY_MODEL, 3)
    rng = np.random.default_rng(0)
    return {k: (v + 0.3 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in p.items()}


@pytest.fixture(scope="module")
def silo():
    return tiny_silo("s", 1)


@pytest.mark.parametrize("det", [1.0, -1.0], ids=["rotation", "reflection"])
def test_rotated_encoder_emits_zq_and_predictor_is_conjugated(model, params, silo, det):
    q = haar_orthogonal(D, 7, det=det)
    rotated = model.rotate(params, q)
    obs = silo.obs.reshape(-1, *silo.obs.shape[2:])
    z = model.encode(params, obs).astype(np.float64)
    zq = model.encode(rotated, obs).astype(np.float64)
    np.testing.assert_allclose(zq, z @ q, rtol=0, atol=2e-5 * np.abs(z).max())
    a = np.random.default_rng(2).standard_normal((z.shape[0], TINY_MODEL.action_dim)).astype(np.float32)
    out = model.predict(params, z.astype(np.float32), a).astype(np.float64)
    out_rot = model.predict(rotated, (z @ q).astype(np.float32), a).astype(np.float64)
    np.testing.assert_allclose(out_rot, out @ q, rtol=0, atol=2e-5 * np.abs(out).max())


def test_rotate_changes_only_the_gauge_parameters(params):
    q = haar_orthogonal(D, 8)
    rotated = rotate_params(params, q)
    for k in params:
        if k in GAUGE_PARAMS:
            assert not np.array_equal(rotated[k], params[k]), k
        else:
            assert rotated[k].tobytes() == params[k].tobytes(), k
    # rotating back by Qᵀ restores the weights (up to float32 rounding)
    back = rotate_params(rotated, q.T)
    for k in GAUGE_PARAMS:
        np.testing.assert_allclose(back[k], params[k], atol=1e-5)


def test_rotate_refuses_a_non_orthogonal_matrix(params):
    with pytest.raises(InputError):
        rotate_params(params, np.eye(D) * 1.1)
    with pytest.raises(InputError):
        rotate_params(params, np.eye(D + 1))


def _batch(silo) -> Batch:
    return Batch(obs=silo.obs[:, :3], actions=silo.actions[:, :2])


def test_loss_terms_invariant_under_rotation_with_co_rotated_sketch(model, params, silo):
    q = haar_orthogonal(D, 9, det=-1.0)
    sketch = build_sketch(11, D, 8)
    base = model.loss_terms(params, _batch(silo), sketch=sketch)
    rot = model.loss_terms(model.rotate(params, q), _batch(silo), sketch=(q.T @ sketch).astype(np.float32))
    assert base["anchor"] == 0.0 and rot["anchor"] == 0.0
    for key in ("pred", "sigreg", "total"):
        assert rot[key] == pytest.approx(base[key], rel=1e-4, abs=1e-6), key


def test_loss_terms_not_invariant_with_anchor(model, params, silo):
    q = haar_orthogonal(D, 10)
    sketch = build_sketch(11, D, 8)
    points = tiny_silo("probe", 5, episodes=2, horizon=3).obs.reshape(-1, 3, 16, 16)[:8]
    targets = model.encode(params, points)  # the model's own frame: anchor = 0 before rotating
    anchor = FrameAnchor(points=points, targets=targets, weight=1.0)
    base = model.loss_terms(params, _batch(silo), sketch=sketch, anchor=anchor)
    rot = model.loss_terms(
        model.rotate(params, q), _batch(silo), sketch=(q.T @ sketch).astype(np.float32), anchor=anchor
    )
    assert base["anchor"] == pytest.approx(0.0, abs=1e-10)
    assert rot["anchor"] > 1e-3
    assert rot["total"] - base["total"] == pytest.approx(rot["anchor"], rel=1e-3)
    assert rot["pred"] == pytest.approx(base["pred"], rel=1e-4, abs=1e-6)  # only the anchor moved


def test_init_is_seeded_and_frame_layer_is_identity():
    a, b, c = init_params(TINY_MODEL, 0), init_params(TINY_MODEL, 0), init_params(TINY_MODEL, 1)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    assert any(a[k].tobytes() != c[k].tobytes() for k in a)
    np.testing.assert_array_equal(a["encoder.frame_proj.weight"], np.eye(D, dtype=np.float32))
    assert all(k.startswith(("encoder.", "predictor.")) and v.dtype == np.float32 for k, v in a.items())


def test_calibrated_init_whitens_the_probe_embedding(model):
    points = tiny_silo("probe", 6, episodes=4, horizon=7).obs.reshape(-1, 3, 16, 16)
    p = calibrate_init(TINY_MODEL, init_params(TINY_MODEL, 0), points)
    z = model.encode(p, points).astype(np.float64)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.cov(z, rowvar=False, bias=True), np.eye(D), atol=2e-3)
    np.testing.assert_array_equal(p["encoder.frame_proj.weight"], np.eye(D, dtype=np.float32))


def test_stop_gradient_keeps_target_gradients_out(params, silo):
    from lensemble_reference.model import module_from_params
    from lensemble_reference.objective import loss_terms

    obs = torch.from_numpy(silo.obs[:, :3].copy())
    act = torch.from_numpy(silo.actions[:, :2].copy())
    sketch = torch.from_numpy(build_sketch(1, D, 8))
    grads = {}
    for sg in (True, False):
        m = module_from_params(TINY_MODEL, params)
        terms = loss_terms(
            m, obs, act, sketch, anchor=None, lambda_pred=1.0, lambda_sigreg=0.0, target_stop_gradient=sg
        )
        terms["total"].backward()
        grads[sg] = m.encoder.frame_proj.weight.grad.clone()
    assert not torch.allclose(grads[True], grads[False])  # the target side contributes iff sg is off
