"""The closed-loop evaluator: goals from the held-out split, success from the true state, the
baselines, and the latent planner driven through a model part (numpy in, numpy out)."""

from __future__ import annotations

import numpy as np
import pytest

from lensemble_spec.errors import ConfigError, EvaluationError
from lensemble_spec.planning import (
    Conditions,
    LatentPlanner,
    PlannerConfig,
    TrueDynamicsPlanner,
    evaluate_baselines,
    evaluate_models,
    run_episodes,
    wilson_interval,
)
from lensemble_spec.worlds import arm, make_spec
from lensemble_spec.worlds.goals import draw_tasks, end_effector_distance
from lensemble_spec.worlds.silos import HELDOUT_HALF, HUB

SPEC = make_spec(0, image_size=32)
STYLE, SIZE = SPEC.heldout.style, SPEC.image_size
SMALL = Conditions(episodes=6, steps=6, planner=PlannerConfig(horizon=3, samples=48, iterations=3, elites=6))


def test_tasks_are_held_out_states_apart_and_reproducible():
    t = draw_tasks(3, 40, min_separation=0.3)
    lo, hi = np.subtract(HUB, HELDOUT_HALF), np.add(HUB, HELDOUT_HALF)
    for s in (t.starts, t.goals):
        assert s.shape == (40, arm.STATE_DIM) and s.dtype == np.float32
        assert np.all(s >= lo - 1e-6) and np.all(s <= hi + 1e-6)
    assert np.all(end_effector_distance(t.starts, t.goals) >= 0.3)
    assert (
        draw_tasks(3, 40, min_separation=0.3).digest() == t.digest() != draw_tasks(4, 40, min_separation=0.3).digest()
    )


def test_true_dynamics_planner_reaches_the_goals_and_doing_nothing_does_not():
    out = evaluate_baselines(SMALL, STYLE, SIZE)
    assert out["true-dynamics"].rate == 1.0
    assert out["zero"].rate == 0.0  # goals are drawn ≥ min_separation > success_radius away
    assert np.all(out["zero"].final_distance >= SMALL.min_separation)
    assert {o.tasks_digest for o in out.values()} == {SMALL.tasks().digest()}


def test_success_is_decided_from_the_true_state():
    """Whatever a policy claims, success is the true end-effector distance below the radius."""

    class ClaimsSuccess(TrueDynamicsPlanner):
        success = np.ones(SMALL.episodes, dtype=bool)  # ignored: the evaluator never asks

        def act(self, states):
            return np.zeros((states.shape[0], SMALL.replan_every, arm.ACTION_DIM))

    out = run_episodes(ClaimsSuccess(SMALL), SMALL, STYLE, SIZE)
    assert out.rate == 0.0
    tasks = SMALL.tasks()
    assert np.array_equal(out.final_distance, end_effector_distance(tasks.starts, tasks.goals))
    assert np.array_equal(out.success, out.final_distance < SMALL.success_radius)


class OracleModel:
    """A 'model part' whose latent is a linear read-out of the frame: a stand-in with known dynamics.

    encode(frame) = the true end-effector position recovered through a lookup the test owns, so a
    planner using it must reach goals; predict applies the arm's true dynamics in that latent.
    Both take and return numpy arrays only — the protocol boundary.
    """

    latent_dim, action_dim = arm.STATE_DIM, arm.ACTION_DIM

    def __init__(self) -> None:
        self.frames: dict[bytes, np.ndarray] = {}

    def remember(self, frames: np.ndarray, states: np.ndarray) -> None:
        for f, s in zip(frames, states):
            self.frames[np.ascontiguousarray(f).tobytes()] = s

    def encode(self, params, obs):
        return np.stack([self.frames[np.ascontiguousarray(f).tobytes()] for f in np.asarray(obs)])

    def predict(self, params, z, action):
        return arm.step(np.asarray(z), np.asarray(action))


def test_latent_planner_with_a_perfect_model_reaches_goals_through_the_protocol(monkeypatch):
    """The latent planner sees frames only; with a model whose latent is the state it succeeds."""
    from lensemble_spec.worlds import render

    model = OracleModel()
    real = render.render_states

    def spying_render(states, cubes, style, size):
        frames = real(states, cubes, style, size)
        model.remember(frames, np.asarray(states))
        return frames

    monkeypatch.setattr("lensemble_spec.planning.closed_loop.render_states", spying_render)
    out = evaluate_models(model, [None], SMALL, STYLE, SIZE)
    assert out.rate >= 0.8  # a state-space cost is not the end-effector cost, but close enough


def test_latent_planner_is_deterministic_under_the_seed_and_sees_no_state():
    from lensemble_reference.implementation import ReferenceModel

    model = ReferenceModel()
    params = model.init(0)
    calls = []

    class Recording(LatentPlanner):
        def act(self, frames):
            calls.append(frames.shape)
            return super().act(frames)

    c = Conditions(episodes=3, steps=2, planner=PlannerConfig(horizon=2, samples=16, iterations=2, elites=4))
    a = run_episodes(Recording(model, params, c), c, STYLE, SIZE)
    b = run_episodes(Recording(model, params, c), c, STYLE, SIZE)
    assert a.final_distance.tobytes() == b.final_distance.tobytes()
    assert calls and all(shape == (c.episodes, 3, SIZE, SIZE) for shape in calls)  # frames, never states


def test_local_only_models_concatenate_episodes():
    from lensemble_reference.implementation import ReferenceModel

    model = ReferenceModel()
    c = Conditions(episodes=3, steps=2, planner=PlannerConfig(horizon=2, samples=8, iterations=1, elites=2))
    out = evaluate_models(model, [model.init(0), model.init(1)], c, STYLE, SIZE)
    assert out.success.shape == (6,) and out.final_distance.shape == (6,)


class _OneLatentModel:
    """A model part whose encoder returns one latent row whatever the number of frames."""

    def encode(self, params, obs):
        return np.zeros((1, 4))

    def predict(self, params, z, a):
        return z


@pytest.mark.parametrize("params_list, match", [
    pytest.param([None], "encode returned shape", id="one-latent-for-many-frames"),
    pytest.param([], "no model", id="no-model"),
])  # fmt: skip
def test_bad_models_raise_evaluation_errors(params_list, match):
    with pytest.raises(EvaluationError, match=match):
        evaluate_models(_OneLatentModel(), params_list, SMALL, STYLE, SIZE)


@pytest.mark.parametrize("bad", [
    {"episodes": 0},
    {"replan_every": 9},
    {"success_radius": 0.0},
    {"seed": -1},
    {"running_weight": float("inf")},
], ids=lambda bad: next(iter(bad)))  # fmt: skip
def test_bad_conditions_raise_config_errors_naming_the_field(bad):
    with pytest.raises(ConfigError) as info:
        Conditions(**bad)
    assert info.value.details["field"] == next(iter(bad))


def test_conditions_round_trip_and_refuse_a_partial_record():
    assert Conditions.from_dict(SMALL.to_dict()) == SMALL
    with pytest.raises(ConfigError, match="not a set of planning conditions"):
        Conditions.from_dict({"episodes": 2})


def test_tasks_that_cannot_be_separated_raise_a_config_error():
    with pytest.raises(ConfigError):
        draw_tasks(0, 2, min_separation=10.0)


def test_wilson_interval_known_values_and_bad_counts():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert wilson_interval(10, 10)[1] == 1.0


@pytest.mark.parametrize("k, n", [(1, 0), (3, 2), (-1, 4), (True, 3)])
def test_wilson_interval_refuses_bad_counts(k, n):
    with pytest.raises(Exception) as exc:
        wilson_interval(k, n)
    assert type(exc.value).__name__ == "InputError"
