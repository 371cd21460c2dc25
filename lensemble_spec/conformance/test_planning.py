"""RFC-0005 §6.2: closed-loop planning through the model part is reproducible (EVAL-022).

The harness plans with the implementation's own ``encode``/``predict`` (numpy in, numpy out;
:mod:`lensemble_spec.planning`) on tasks of the harness world rendered in its held-out
appearance. Two planners with the same seed, on the same frames, must produce bit-identical action
sequences, and two closed-loop evaluations the same final distances: a model part whose outputs
depend on anything but their arguments (a normaliser left updating, a cache keyed by call order)
makes every planning number irreproducible, and ``verify`` could never recompute it (EVAL-021).

The other planning requirements are checked on results tables by ``lensemble_spec.verify``
(``test_run_findings.py``): one set of conditions for every control and baseline (EVAL-019),
success from the environment's true state (EVAL-020) and the recomputation of every outcome
from the checkpoints (EVAL-021).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lensemble_spec.planning import LatentPlanner, run_episodes
from lensemble_spec.worlds import render_states

from ._comparison import HARNESS_PLANNING, harness_environment


def _frames(states: np.ndarray, cubes: np.ndarray, style: Any, size: int) -> np.ndarray:
    return render_states(states, cubes, style, size)


@pytest.mark.requirement("EVAL-022")
def test_planning_through_the_model_part_is_reproducible(model_part: Any, world: Any, params0: dict[str, Any]) -> None:
    c = HARNESS_PLANNING
    style, size = harness_environment(world.image_size)
    tasks = c.tasks()
    start, goal = _frames(tasks.starts, tasks.cubes, style, size), _frames(tasks.goals, tasks.cubes, style, size)
    plans = []
    for _ in range(2):
        planner = LatentPlanner(model_part, params0, c)
        planner.reset(goal)
        plans.append(np.asarray(planner.act(start)))
    assert plans[0].shape == (c.episodes, c.planner.horizon, 5)
    assert plans[0].tobytes() == plans[1].tobytes(), (
        "two planners with the same seed on the same frames chose different actions: encode or predict "
        "depends on something besides its arguments"
    )
    first = run_episodes(LatentPlanner(model_part, params0, c), c, style, size, tasks)
    second = run_episodes(LatentPlanner(model_part, params0, c), c, style, size, tasks)
    assert first.final_distance.tobytes() == second.final_distance.tobytes(), (
        f"two closed-loop evaluations under the same conditions ended at different distances: "
        f"{np.round(first.final_distance, 4).tolist()} vs {np.round(second.final_distance, 4).tolist()}"
    )
