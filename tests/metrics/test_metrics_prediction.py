"""Prediction metrics: val_pred, rollout_error, skill_vs_identity, state_probe_r2."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _low_variance_state_world(seed=7, n=400, d=8):
    """Latents whose state lives in one direction with 1e-4 of the others' std."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d))
    z[:, -1] *= 1e-4
    states = np.stack([z[:, -1] * 1e4, z[:, -1] * 2e4 + 0.1 * z[:, 0]], axis=1)
    return z, states + 1e-3 * rng.standard_normal(states.shape)


# Catches: a probe that depends on the latent frame (a ridge on standardised coordinates reads
# 1.000 for z and about 0 for z @ Q when the state sits in a low-variance rotated direction).
def test_state_probe_r2_is_the_same_in_a_rotated_frame():
    z, y = _low_variance_state_world()
    q = np.linalg.qr(np.random.default_rng(8).standard_normal((z.shape[1], z.shape[1])))[0]
    r2_z = state_probe_r2(z[:300], y[:300], z[300:], y[300:])
    zq = z @ q
    r2_q = state_probe_r2(zq[:300], y[:300], zq[300:], y[300:])
    assert r2_z > 0.99
    assert r2_q == pytest.approx(r2_z, abs=1e-9)


# Catches: a penalised or standardised fit (not RFC-0005's least squares): OLS with bias
# reproduces numpy's lstsq on [X, 1] exactly.
def test_state_probe_r2_is_ordinary_least_squares_with_bias():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((60, 5)) * np.array([1e3, 1.0, 1e-3, 5.0, 0.2]) + 7.0
    y = x @ rng.standard_normal((5, 2)) + rng.standard_normal((60, 2))
    xt = rng.standard_normal((40, 5)) * np.array([1e3, 1.0, 1e-3, 5.0, 0.2]) + 7.0
    yt = xt @ rng.standard_normal((5, 2)) + rng.standard_normal((40, 2))
    coef, *_ = np.linalg.lstsq(np.hstack([x, np.ones((60, 1))]), y, rcond=None)
    pred = np.hstack([xt, np.ones((40, 1))]) @ coef
    want = np.mean(1 - ((yt - pred) ** 2).sum(0) / ((yt - yt.mean(0)) ** 2).sum(0))
    assert state_probe_r2(x, y, xt, yt) == pytest.approx(want, rel=1e-9, abs=1e-9)


# Catches: a rank-deficient fit that is not the minimum-norm solution (latents confined to a
# subspace: the test split's off-subspace component must not be extrapolated by an arbitrary W).
def test_state_probe_r2_minimum_norm_when_rank_deficient():
    rng = np.random.default_rng(10)
    base = rng.standard_normal((100, 3))
    x = np.hstack([base, base[:, :1] + base[:, 1:2], np.zeros((100, 1))])  # rank 3 of d = 5
    y = base @ np.array([[1.0], [2.0], [-1.0]])
    xt = x[:50].copy()
    xt[:, 4] = rng.standard_normal(50)  # a direction never seen in training: weight must be 0
    yt = y[:50]
    assert state_probe_r2(x, y, xt, yt) == pytest.approx(1.0, abs=1e-9)


@st.composite
def _invertible_maps(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    d = draw(st.integers(2, 12))
    log_cond = draw(st.floats(0.0, 3.0))  # cond(A) ≤ 1e3
    rng = np.random.default_rng(seed)
    u = np.linalg.qr(rng.standard_normal((d, d)))[0]
    v = np.linalg.qr(rng.standard_normal((d, d)))[0]
    scale = draw(st.sampled_from([1e-6, 1.0, 1e6]))
    sv = np.logspace(0.0, log_cond, d) * scale
    # The offset is relative to the scale: an offset 1e9 times the signal would round the signal
    # away in the input itself, before any probe sees it.
    shift = rng.standard_normal(d) * scale * draw(st.sampled_from([0.0, 1.0, 1e3]))
    return seed, d, u @ np.diag(sv) @ v.T, shift


# Property (issue #12): a linear probe with a bias term is invariant under any invertible affine
# map of the latents; conditioning bounded so round-off stays below the tolerance.
@given(_invertible_maps())
@settings(max_examples=60, deadline=None)
def test_state_probe_r2_invariant_under_invertible_linear_maps(case):
    seed, d, a, shift = case
    rng = np.random.default_rng(seed + 1)
    n = 4 * d + 20
    z = rng.standard_normal((n, d)) * np.logspace(0, -2, d)
    y = z @ rng.standard_normal((d, 3)) + 0.3 * rng.standard_normal((n, 3))
    half = n // 2
    base = state_probe_r2(z[:half], y[:half], z[half:], y[half:])
    za = z @ a + shift
    moved = state_probe_r2(za[:half], y[:half], za[half:], y[half:])
    assert moved == pytest.approx(base, abs=1e-7)
