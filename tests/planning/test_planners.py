"""The planners: CEM/MPPI find a known optimum, are bit-reproducible under a seed, keep shapes,
and refuse bad settings with typed errors."""

from __future__ import annotations

import numpy as np
import pytest

from lensemble_spec.errors import ConfigError, InputError
from lensemble_spec.planning import PlannerConfig, plan, shift

LIMIT = np.array([4.0, 4.0, 3.0])


def quadratic(target: np.ndarray):
    """cost = Σ_{t,a} (x − target)², with target ``(B, H, A)`` inside the box."""

    def cost(actions: np.ndarray) -> np.ndarray:
        return np.sum((actions - target[:, None]) ** 2, axis=(2, 3))

    return cost


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


@pytest.mark.parametrize("method", ["cem", "mppi"])
def test_finds_the_optimum_of_a_known_quadratic(method):
    target = _rng(1).uniform(-2.0, 2.0, size=(3, 4, 3))
    cfg = PlannerConfig(method=method, horizon=4, samples=256, iterations=12, elites=24)
    start_error = np.abs(target).max()
    got = plan(quadratic(target), 3, LIMIT, cfg, _rng())
    assert got.shape == (3, 4, 3)
    assert np.abs(got - target).max() < 0.15 * start_error


def test_an_optimum_outside_the_box_is_clipped_to_the_box():
    target = np.full((1, 2, 3), 10.0)
    got = plan(quadratic(target), 1, LIMIT, PlannerConfig(horizon=2, samples=128, iterations=8, elites=16), _rng())
    assert np.all(got <= LIMIT) and np.allclose(got[0], np.broadcast_to(LIMIT, (2, 3)), atol=0.2)


@pytest.mark.parametrize("method", ["cem", "mppi"])
def test_same_seed_same_bits_other_seed_other_plan(method):
    target = _rng(2).uniform(-2, 2, size=(2, 3, 3))
    cfg = PlannerConfig(method=method, horizon=3, samples=16, iterations=2, elites=4)
    a = plan(quadratic(target), 2, LIMIT, cfg, _rng(5))
    b = plan(quadratic(target), 2, LIMIT, cfg, _rng(5))
    c = plan(quadratic(target), 2, LIMIT, cfg, _rng(6))
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


def test_problems_in_a_batch_are_independent():
    """Each episode's plan is optimised for its own cost: a batch of two gives each its own optimum."""
    target = np.stack([np.full((2, 3), 1.5), np.full((2, 3), -1.5)])
    got = plan(quadratic(target), 2, LIMIT, PlannerConfig(horizon=2, samples=128, iterations=8, elites=16), _rng())
    assert np.all(got[0] > 0.8) and np.all(got[1] < -0.8)


def test_cost_function_sees_batched_candidates_and_a_warm_start_is_a_candidate():
    seen = []
    target = np.zeros((2, 3, 3))

    def cost(actions):
        seen.append(actions.shape)
        return quadratic(target)(actions)

    warm = np.zeros((2, 3, 3))
    got = plan(cost, 2, LIMIT, PlannerConfig(horizon=3, samples=8, iterations=2, elites=2), _rng(), init_mean=warm)
    assert seen[0] == (2, 1, 3, 3) and all(s == (2, 8, 3, 3) for s in seen[1:])
    assert np.array_equal(got, warm)  # the optimum was the warm start; nothing sampled beats it


def test_non_finite_costs_rank_last():
    def cost(actions):
        c = np.sum(actions**2, axis=(2, 3))
        c[:, 1::2] = np.nan
        return c

    got = plan(cost, 1, LIMIT, PlannerConfig(horizon=2, samples=16, iterations=3, elites=4), _rng())
    assert np.all(np.isfinite(got))


def test_shift_drops_executed_steps_and_pads_zeros():
    p = np.arange(2 * 3 * 1, dtype=float).reshape(2, 3, 1) + 1
    s = shift(p, 1)
    assert np.array_equal(s[:, :2], p[:, 1:]) and np.all(s[:, 2] == 0)
    assert np.all(shift(p, 5) == 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "mpc"},
        {"horizon": 0},
        {"samples": 2, "elites": 3},
        {"iterations": True},
        {"temperature": 0.0},
        {"init_std_fraction": float("nan")},
    ],
)
def test_bad_settings_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        PlannerConfig(**kwargs)


CFG = PlannerConfig(horizon=2, samples=4, iterations=1, elites=2)


@pytest.mark.parametrize("bad, match", [
    pytest.param(lambda cost: plan(cost, 1, np.array([1.0, -1.0, 1.0]), CFG, _rng()), "action limits", id="limits"),
    pytest.param(lambda cost: plan(cost, 0, LIMIT, CFG, _rng()), "batch", id="batch"),
    pytest.param(lambda cost: plan(cost, 1, LIMIT, CFG, _rng(), init_mean=np.zeros((1, 3, 3))), "init_mean",
                 id="init-mean-shape"),
    pytest.param(lambda cost: plan(lambda a: np.zeros(3), 1, LIMIT, CFG, _rng()), "cost function", id="cost-shape"),
])  # fmt: skip
def test_bad_inputs_raise_input_error(bad, match):
    with pytest.raises(InputError, match=match):
        bad(quadratic(np.zeros((1, 2, 3))))
