"""Prediction metrics: val_pred, rollout_error, skill_vs_identity, state_probe_r2."""

from __future__ import annotations

import numpy as np
import pytest

from lensemble_spec.errors import EvaluationError, InputError
from lensemble_spec.metrics import rollout_error, skill_vs_identity, state_probe_r2, val_pred


def _linear_world(seed=0, b=32, h=6, d=5, a_dim=2):
    """z' = z W + a B with a contractive W: exact dynamics for known-answer rollouts."""
    rng = np.random.default_rng(seed)
    w = np.linalg.qr(rng.standard_normal((d, d)))[0] * 0.9
    bm = rng.standard_normal((a_dim, d))
    z0 = rng.standard_normal((b, d))
    actions = rng.standard_normal((b, h, a_dim))
    targets = np.empty((b, h, d))
    z = z0
    for t in range(h):
        z = z @ w + actions[:, t] @ bm
        targets[:, t] = z
    return z0, actions, targets, (lambda zz, aa: zz @ w + aa @ bm)


def test_val_pred_known_answer():
    t = np.zeros((4, 3))
    assert val_pred(t + 0.5, t) == pytest.approx(0.25)
    # Catches: an error averaged over samples only (sum over d) or a root taken.
    p = np.zeros((2, 4))
    p[0, 0] = 2.0
    assert val_pred(p, np.zeros((2, 4))) == pytest.approx(4.0 / 8)


def test_rollout_exact_model_has_zero_error_and_beats_identity():
    z0, actions, targets, f = _linear_world()
    res = rollout_error(f, z0, actions, targets)
    assert res.per_step.shape == (6,)
    assert np.all(res.per_step < 1e-20)
    assert np.all(res.identity_per_step > 0.1)
    assert res.skill_vs_identity == pytest.approx(0.0, abs=1e-18)


# Catches: a "rollout" that is secretly teacher-forced (feeds targets back in), which hides
# compounding error: a slightly wrong model must get worse with the horizon.
def test_rollout_is_open_loop_and_errors_compound():
    z0, actions, targets, f = _linear_world(h=8)

    def wrong(zz, aa):
        return 1.05 * f(zz, aa)

    res = rollout_error(wrong, z0, actions, targets)
    assert np.all(np.diff(res.per_step[:4]) > 0)
    one_step = val_pred(wrong(z0, actions[:, 0]), targets[:, 0])
    assert res.per_step[0] == pytest.approx(one_step)


def test_rollout_reports_model_failures_as_evaluation_errors():
    z0, actions, targets, _ = _linear_world()
    with pytest.raises(EvaluationError):
        rollout_error(lambda zz, aa: zz * np.nan, z0, actions, targets)
    with pytest.raises(EvaluationError):
        rollout_error(lambda zz, aa: zz[:, :2], z0, actions, targets)
    with pytest.raises(InputError):
        rollout_error(lambda zz, aa: zz, z0, actions[:, :3], targets)


def test_skill_vs_identity_known_answer():
    target = np.ones((4, 2))
    current = np.zeros((4, 2))
    assert skill_vs_identity(target * 0.5, target, current) == pytest.approx(0.25)


# Documents why it is gameable (and so why it is never read alone): the ratio is invariant to
# shrinking the latent, and undefined (raises, never inf/0) for a static one.
def test_skill_vs_identity_is_scale_blind_and_undefined_when_static():
    rng = np.random.default_rng(0)
    cur, tgt = rng.standard_normal((2, 64, 4))
    pred = tgt + 0.1 * rng.standard_normal((64, 4))
    s = skill_vs_identity(pred, tgt, cur)
    assert skill_vs_identity(1e-6 * pred, 1e-6 * tgt, 1e-6 * cur) == pytest.approx(s, rel=1e-9)
    static = np.ones((8, 4))
    with pytest.raises(EvaluationError):
        skill_vs_identity(static, static, static)  # collapsed: 0/0


# Catches: a probe fitted on the test split, no bias term, or R² against the train mean.
def test_state_probe_r2_near_one_for_linearly_decodable_states():
    rng = np.random.default_rng(1)
    d, s = 16, 4
    w = rng.standard_normal((d, s))
    ztr, zte = rng.standard_normal((400, d)), rng.standard_normal((200, d))
    offset = np.array([10.0, -3.0, 0.0, 100.0])  # needs the bias
    r2 = state_probe_r2(ztr, ztr @ w + offset, zte, zte @ w + offset + 1e-3 * rng.standard_normal((200, s)))
    assert r2 > 0.999


def test_state_probe_r2_near_zero_for_noise():
    rng = np.random.default_rng(2)
    r2 = state_probe_r2(rng.standard_normal((500, 8)), rng.standard_normal((500, 3)),
                        rng.standard_normal((500, 8)), rng.standard_normal((500, 3)))
    assert r2 < 0.05


def test_state_probe_r2_accepts_token_layout_and_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    z = rng.standard_normal((10, 30, 6))  # (episodes, frames, d)
    states = z[..., :2] * 3.0
    r2 = state_probe_r2(torch.tensor(z[:6]), states[:6], z[6:], torch.tensor(states[6:]))
    assert r2 == pytest.approx(1.0, abs=1e-6)


def test_state_probe_r2_survives_constant_and_collinear_latent_features():
    # Catches: an unregularised solve blowing up on rank-deficient features.
    rng = np.random.default_rng(4)
    base = rng.standard_normal((300, 3))
    z = np.hstack([base, base[:, :1] * 2.0, np.full((300, 1), 5.0)])
    y = base @ np.array([[1.0], [2.0], [-1.0]])
    assert state_probe_r2(z[:200], y[:200], z[200:], y[200:]) > 0.999


@pytest.mark.parametrize("split", ["train", "test"])
def test_state_probe_r2_constant_target_is_a_typed_error(split):
    rng = np.random.default_rng(5)
    z = rng.standard_normal((100, 4))
    y = rng.standard_normal((100, 2))
    y_const = y.copy()
    y_const[:, 1] = 3.25
    args = [z[:50], y[:50], z[50:], y[50:]]
    args[1 if split == "train" else 3] = y_const[:50] if split == "train" else y_const[50:]
    with pytest.raises(EvaluationError) as info:
        state_probe_r2(*args)
    assert not isinstance(info.value, InputError)
    assert info.value.details["constant_dims"] == [1]


def test_state_probe_r2_shape_errors():
    rng = np.random.default_rng(6)
    z = rng.standard_normal((20, 4))
    y = rng.standard_normal((20, 2))
    with pytest.raises(InputError):
        state_probe_r2(z, y[:19], z, y)
    with pytest.raises(InputError):
        state_probe_r2(z, y, z[:, :3], y)
