"""The PushT path against the real stable-worldmodel (extra 'pusht'; skipped without it)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import needs_swm

# PushT passes lists to gymnasium Box.contains on reset (a harmless cast warning)
pytestmark = [needs_swm, pytest.mark.filterwarnings("ignore:.*Casting input x:UserWarning")]


def _env(goal_steps):
    import gymnasium as gym

    from lensemble_reference.pusht.env import ENV_ID, _wrapper_class

    return _wrapper_class()(gym.make(ENV_ID, render_mode="rgb_array", disable_env_checker=True), goal_steps=goal_steps)


def test_reachable_goal_is_reached_by_replaying_its_actions_and_success_is_the_envs():
    from lensemble_reference.pusht.env import weak_action

    env = _env(goal_steps=4)
    obs, info = env.reset(seed=7)
    base = env.unwrapped
    start, goal = np.array(obs["state"]), np.array(info["goal_state"])
    assert np.linalg.norm(goal[:4] - start[:4]) > 1.0  # the goal is somewhere else
    assert not base.eval_state(goal, start)[0]
    rng = np.random.default_rng([7, 0x607])
    for _ in range(4):
        _, _, terminated, _, _ = env.step(weak_action(base, rng))
    assert terminated  # the environment's own success rule, on its true state
    env.close()


def test_reachable_goal_is_a_function_of_the_seed_and_keeps_the_episode_colours():
    a, b = _env(goal_steps=3), _env(goal_steps=3)
    from lensemble_reference.pusht.env import variations

    _, ia = a.reset(seed=11, options={"variation": variations("background.color")})
    _, ib = b.reset(seed=11, options={"variation": variations("background.color")})
    np.testing.assert_array_equal(ia["goal_state"], ib["goal_state"])
    np.testing.assert_array_equal(ia["goal"], ib["goal"])
    background = np.asarray(a.unwrapped.variation_space["background"]["color"].value)
    assert tuple(ia["goal"][0, 0]) == tuple(background)  # the goal image is drawn on this episode's background
    _, ic = a.reset(seed=12)
    assert not np.array_equal(ia["goal_state"], ic["goal_state"])
    a.close()
    b.close()


def test_collected_action_t_leads_from_frame_t_to_frame_t_plus_1():
    """swm shifts the action column; action[t] must be the one taken at frame t.

    Restoring a recorded state and stepping its action lands within a few pixels of the next
    recorded state (PushT's state restore is not bit-exact: a few px); the neighbouring actions
    land far off, so a misalignment by one step fails."""
    from lensemble_reference.pusht.collect import collect_episodes

    eps = collect_episodes(2, seed=3, episode_len=8, image_size=32, num_envs=2)
    assert eps.pixels.shape == (2, 8, 32, 32, 3) and eps.actions.shape == (2, 7, 2) and eps.states.shape == (2, 8, 7)
    env = _env(goal_steps=0)
    errors = {-1: [], 0: [], 1: []}
    for e in range(2):
        for t in range(1, 6):
            for shift, found in errors.items():
                env.reset(seed=0, options={"state": eps.states[e, t].astype(np.float64)})
                obs, *_ = env.step(eps.actions[e, t + shift])
                found.append(np.linalg.norm(obs["state"][:2] - eps.states[e, t + 1, :2]))
    env.close()
    assert np.mean(errors[0]) < 5.0
    assert np.mean(errors[0]) < 0.5 * min(np.mean(errors[-1]), np.mean(errors[1]))


def test_smoke_command_writes_the_comparison(tmp_path, capsys):
    from lensemble_spec.cli import main

    out = tmp_path / "pusht"
    assert main(["pusht", "--smoke", "--quiet", "--out", str(out)]) == 0
    doc = json.loads((out / "pusht.json").read_text())
    assert set(doc["controls"]) == {"anchored", "naive-fedavg", "local-only", "centralized"}
    assert set(doc["baselines"]) == {"random", "zero", "untrained-planner"}
    s = doc["settings"]
    assert s["rounds"] == 1 and s["eval_episodes"] == 2
    seeds = list(range(s["eval_seed"], s["eval_seed"] + s["eval_episodes"]))
    for name, row in {**doc["controls"], **doc["baselines"]}.items():
        for model in row["per_model"].values():
            assert model["seeds"] == seeds, name  # every control is scored on the same episodes
            assert model["swm_success_rate_percent"] == pytest.approx(100 * np.mean(model["successes"]))
        lo, hi = row["wilson95"]
        assert lo <= row["rate"] <= hi
    assert doc["controls"]["local-only"]["trials"] == s["silos"] * s["eval_episodes"]
    for control in doc["controls"]:
        assert (out / control / "manifest.json").exists() or any((out / control).glob("*manifest*"))
    printed = capsys.readouterr().out
    assert "anchored" in printed and "Wilson" in printed


def test_untrained_planner_uses_the_round_0_model_of_the_controls(tmp_path):
    """The baseline plans with θ_0, bit-identical to every control's round-0 checkpoint (EVAL-002)."""
    from lensemble_reference.federation import initial_global
    from lensemble_reference.pusht.run import SMOKE, build_inputs, train_config
    from lensemble_spec.artifacts.checkpoint import load_checkpoint
    from lensemble_spec.cli import main

    out = tmp_path / "one"
    assert main(["pusht", "--smoke", "--quiet", "--controls", "anchored", "--out", str(out)]) == 0
    inputs, _ = build_inputs(SMOKE)
    theta0 = initial_global(train_config(SMOKE), inputs.probe_points)
    saved = load_checkpoint(out / "anchored" / "checkpoints" / "round-0000")[0]
    assert set(saved) == set(theta0)
    for k in theta0:
        np.testing.assert_array_equal(np.asarray(saved[k]), theta0[k])
