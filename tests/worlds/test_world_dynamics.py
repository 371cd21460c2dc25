"""Dynamics: the next state is a deterministic function of (state, action); motion is visible;
"predict no change" is clearly wrong; frames are a function of state (and of nothing else).

Catches: actions that do not drive the state (shuffled/lagged actions), static or near-static
videos (the upstream "predict-current baseline is very strong" trap), frames that depend on
hidden per-frame randomness, kinematics that ignore a joint.
"""

from __future__ import annotations

import numpy as np

from lensemble_spec.worlds import DT, PUBLIC_STYLE, STATE_DIM, arm, render_states
from lensemble_spec.worlds.silos import _cubes, _generator


def _splits(w):
    return [*w.silos.values(), w.heldout]


def test_states_follow_the_step_function_exactly(hworld):
    for s in _splits(hworld):
        nxt = arm.step(s.states[:, :-1].reshape(-1, STATE_DIM), s.actions.reshape(-1, STATE_DIM))
        assert np.array_equal(nxt.reshape(s.states[:, 1:].shape), s.states[:, 1:]), s.name


def test_action_explains_state_change(hworld):
    """Regressing Δstate on the action gives R² ≈ 1 per coordinate (slope ≈ dt)."""
    for s in _splits(hworld):
        a = s.actions.reshape(-1, STATE_DIM).astype(np.float64)
        d = np.diff(s.states, axis=1).reshape(-1, STATE_DIM).astype(np.float64)
        x = np.c_[a, np.ones(len(a))]
        coef, *_ = np.linalg.lstsq(x, d, rcond=None)
        resid = d - x @ coef
        r2 = 1.0 - (resid**2).sum(0) / ((d - d.mean(0)) ** 2).sum(0)
        assert (r2 > 0.99).all(), (s.name, r2)
        assert np.allclose(np.diag(coef[:STATE_DIM]), DT, atol=0.01)
        # a mismatched pairing (actions of the next step) explains much less
        lagged = np.diff(s.states, axis=1)[:, 1:].reshape(-1, STATE_DIM)
        x2 = np.c_[s.actions[:, :-1].reshape(-1, STATE_DIM), np.ones(len(lagged))]
        c2, *_ = np.linalg.lstsq(x2, lagged, rcond=None)
        r2_lag = 1.0 - ((lagged - x2 @ c2) ** 2).sum(0) / ((lagged - lagged.mean(0)) ** 2).sum(0)
        assert (r2_lag < 0.97).all(), (s.name, r2_lag)


def test_predict_no_change_is_clearly_wrong(hworld, small_world):
    for w in (hworld, small_world):
        for s in _splits(w):
            step = np.abs(np.diff(s.obs, axis=1))  # (E, T, 3, H, W)
            per_transition = step.mean(axis=(2, 3, 4))
            assert step.mean() > 4e-3, s.name
            # nearly every transition moves something visibly (some pixel channel changes by > 0.1),
            # and the typical transition changes some pixel by > 0.3 (the arm moved ~a pixel or more)
            biggest = step.max(axis=(2, 3, 4))
            assert (biggest > 0.1).mean() > 0.95, (s.name, (biggest > 0.1).mean())
            assert np.median(biggest) > 0.3, (s.name, np.median(biggest))
            assert (per_transition > 0).mean() > 0.99
            # state motion per step: a few degrees on average in every joint
            dstate = np.abs(np.diff(s.states, axis=1)).mean(axis=(0, 1))
            assert (dstate[:-1] > 0.04).all(), (s.name, dstate)


def test_frames_are_a_function_of_state(hworld):
    """Re-rendering the recorded states reproduces the recorded frames bit for bit."""
    spec = hworld.spec.silos[1]
    silo = hworld.silos["silo1"]
    rng = _generator(spec.data_seed)
    arm.rollout(rng, spec.region, hworld.spec.episodes_per_silo, hworld.spec.horizon)
    cubes = np.repeat(_cubes(rng, hworld.spec.episodes_per_silo), hworld.spec.horizon + 1, axis=0)
    frames = render_states(silo.states.reshape(-1, STATE_DIM), cubes, spec.style, hworld.spec.image_size)
    assert np.array_equal(frames.reshape(silo.obs.shape), silo.obs)


def test_every_state_coordinate_changes_the_frame():
    base = np.array([[0.2, 0.3, 1.0, -0.2, 0.5]], dtype=np.float32)
    cube = np.array([[0.5, 0.2]])
    ref = render_states(base, cube, PUBLIC_STYLE, 32)
    again = render_states(base.copy(), cube.copy(), PUBLIC_STYLE, 32)
    assert np.array_equal(ref, again)  # same state, same style → identical
    for j, delta in enumerate([0.15, 0.15, 0.15, 0.15, 0.3]):  # radians; gripper: 30 % of its range
        moved = base.copy()
        moved[0, j] += delta
        img = render_states(moved, cube, PUBLIC_STYLE, 32)
        assert np.abs(img - ref).max() > 0.15, f"coordinate {j} does not show in the frame"
    # the yaw sign is visible (the oblique projection breaks the ±ψ symmetry)
    mirrored = base.copy()
    mirrored[0, 0] = -base[0, 0]
    assert np.abs(render_states(mirrored, cube, PUBLIC_STYLE, 32) - ref).max() > 0.2


def test_kinematics_link_lengths():
    rng = np.random.Generator(np.random.PCG64(7))
    states = rng.uniform(arm.LIMITS_LO, arm.LIMITS_HI, size=(50, STATE_DIM))
    states[:, 0] = 0.0  # no yaw: the arm plane faces the camera, lengths are seen unshortened
    p = arm.forward_kinematics(states)
    for (a, b), length in zip([("shoulder", "elbow"), ("elbow", "wrist"), ("wrist", "palm")], arm.LINK_LENGTHS):
        assert np.allclose(np.linalg.norm(p[b] - p[a], axis=1), length, atol=1e-5)
    up = arm.forward_kinematics(np.array([[0.0, 0.0, 0.0, 0.0, 0.0]]))
    assert np.allclose(up["palm"], [[0.0, arm.SHOULDER_Z + sum(arm.LINK_LENGTHS)]], atol=1e-6)
    gap_closed = np.linalg.norm(up["finger_l_base"] - up["finger_r_base"])
    wide = arm.forward_kinematics(np.array([[0.0, 0.0, 0.0, 0.0, 1.0]]))
    assert np.linalg.norm(wide["finger_l_base"] - wide["finger_r_base"]) > gap_closed + 0.1
