"""Closed-loop evaluation on the arm world: step the real environment, render, re-encode, re-plan.

One evaluation runs all ``E`` episodes of a task set (:func:`lensemble_spec.worlds.goals.draw_tasks`)
in lock-step. Every ``replan_every`` steps the evaluator renders the current true states in the
held-out appearance and asks the policy for the next actions; it then applies them with the arm's
real dynamics (:func:`lensemble_spec.worlds.arm.step`). After ``steps`` steps an episode
**succeeds** when the true end-effector distance to the goal is below ``success_radius`` — decided
here, from the environment's state, never by the policy and never from latents.

Policies (same conditions, same tasks, same seed):

* :class:`LatentPlanner` — the planner under evaluation: it receives frames only (the current
  frame and, at reset, the goal frame), encodes them with the model part and plans with CEM or
  MPPI on :func:`.cost.latent_cost`;
* :class:`TrueDynamicsPlanner` — the upper bound: the same planner on the true state and real
  dynamics (:func:`.cost.true_state_cost`); the only policy handed true states (``oracle``);
* :class:`RandomPolicy` (uniform in the action box) and :class:`ZeroPolicy` (no motion).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, EvaluationError
from ..worlds import arm
from ..worlds.goals import Tasks, draw_tasks, end_effector_distance
from ..worlds.render import Style, check_image_size, render_states
from ..worlds.silos import derive_world_seed
from .cost import latent_cost, true_state_cost
from .planners import PlannerConfig, check_finite_numbers, check_ints, plan, shift

BASELINES = ("random", "zero", "true-dynamics")


@dataclass(frozen=True)
class Conditions:
    """The fixed evaluation conditions (RFC-0005 §6.2): identical for every row of a comparison."""

    episodes: int = 16
    steps: int = 8
    replan_every: int = 1
    success_radius: float = 0.1
    min_separation: float = 0.3
    running_weight: float = 0.5
    seed: int = 0
    planner: PlannerConfig = field(default_factory=PlannerConfig)

    def __post_init__(self) -> None:
        check_ints(self, ("episodes", "steps", "replan_every"))
        if self.replan_every > self.planner.horizon:
            raise ConfigError(
                "replan_every exceeds the planning horizon",
                remediation="Re-plan at least once per horizon.",
                field="replan_every",
            )
        check_finite_numbers(self, ("success_radius", "min_separation", "running_weight"), positive=False)
        if not self.success_radius > 0:
            raise ConfigError(
                "success_radius must be > 0",
                remediation="Pass a positive radius in world units.",
                field="success_radius",
            )
        check_ints(self, ("seed",), minimum=0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["planner"] = asdict(self.planner)
        return d

    @classmethod
    def from_dict(cls, data: Any) -> Conditions:
        try:
            d = dict(data)
            return cls(**{**d, "planner": PlannerConfig(**dict(d["planner"]))})
        except (TypeError, KeyError, ValueError) as exc:
            raise ConfigError(
                f"not a set of planning conditions: {exc}",
                remediation="Record the conditions as Conditions.to_dict() writes them.",
            ) from None

    def tasks(self) -> Tasks:
        return draw_tasks(self.seed, self.episodes, min_separation=self.min_separation)

    def rng(self, label: str) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(derive_world_seed(self.seed, f"planning/{label}")))


@dataclass(frozen=True)
class Outcome:
    """One policy's episodes: final true end-effector distance ``(E,)`` and success flags ``(E,)``."""

    final_distance: np.ndarray
    success: np.ndarray
    tasks_digest: str

    @property
    def rate(self) -> float:
        return float(np.mean(self.success))


# --- policies -----------------------------------------------------------------------------------
class _RecedingHorizon:
    """What the two planners share: one CEM/MPPI plan (``conditions.planner``) per call, with the
    conditions' ``planner`` generator, warm-started from the previous plan shifted by the
    ``replan_every`` executed steps."""

    c: Conditions

    def _restart(self) -> None:
        self.rng = self.c.rng("planner")
        self.mean: np.ndarray | None = None

    def _plan(self, cost: Any, batch: int) -> np.ndarray:
        best = plan(cost, batch, arm.ACTION_LIMIT, self.c.planner, self.rng, self.mean)
        self.mean = shift(best, self.c.replan_every)
        return best


class LatentPlanner(_RecedingHorizon):
    """Plans in a model part's latent space from frames only (never sees a true state)."""

    oracle = False

    def __init__(self, model: Any, params: Any, conditions: Conditions) -> None:
        self.model, self.params, self.c = model, params, conditions

    def _encode(self, frames: np.ndarray) -> np.ndarray:
        z = np.asarray(self.model.encode(self.params, np.ascontiguousarray(frames, dtype=np.float32)), dtype=np.float64)
        if z.ndim != 2 or z.shape[0] != frames.shape[0]:
            raise EvaluationError(
                f"encode returned shape {z.shape} for {frames.shape[0]} frames",
                remediation="Return one latent row per frame.",
            )
        return z

    def reset(self, goal_frames: np.ndarray) -> None:
        self.z_goal = self._encode(goal_frames)
        self._restart()

    def act(self, frames: np.ndarray) -> np.ndarray:
        z0 = self._encode(frames)
        return self._plan(latent_cost(self.model, self.params, z0, self.z_goal, self.c.running_weight), frames.shape[0])


class TrueDynamicsPlanner(_RecedingHorizon):
    """The same planner on the true state with the real dynamics (the upper bound)."""

    oracle = True

    def __init__(self, conditions: Conditions) -> None:
        self.c = conditions

    def reset(self, goal_states: np.ndarray) -> None:
        self.goals = np.asarray(goal_states)
        self._restart()

    def act(self, states: np.ndarray) -> np.ndarray:
        return self._plan(true_state_cost(states, self.goals, self.c.running_weight), states.shape[0])


class RandomPolicy:
    oracle = False

    def __init__(self, conditions: Conditions) -> None:
        self.c = conditions

    def reset(self, goal_frames: np.ndarray) -> None:
        self.rng = self.c.rng("random")

    def act(self, frames: np.ndarray) -> np.ndarray:
        lim = arm.ACTION_LIMIT.astype(np.float64)
        return self.rng.uniform(-lim, lim, size=(frames.shape[0], self.c.replan_every, lim.shape[0]))


class ZeroPolicy:
    oracle = False

    def __init__(self, conditions: Conditions) -> None:
        self.c = conditions

    def reset(self, goal_frames: np.ndarray) -> None:
        pass

    def act(self, frames: np.ndarray) -> np.ndarray:
        return np.zeros((frames.shape[0], self.c.replan_every, arm.ACTION_DIM))


# --- the loop -----------------------------------------------------------------------------------
def run_episodes(
    policy: Any, conditions: Conditions, style: Style, image_size: int, tasks: Tasks | None = None
) -> Outcome:
    """Run every episode of ``conditions`` with ``policy`` in the environment (module docstring)."""
    image_size = check_image_size(image_size)
    tasks = conditions.tasks() if tasks is None else tasks
    c = conditions

    def render(states: np.ndarray) -> np.ndarray:
        return render_states(states, tasks.cubes, style, image_size)

    states = tasks.starts.copy()
    policy.reset(tasks.goals if policy.oracle else render(tasks.goals))
    for step in range(0, c.steps, c.replan_every):
        chunk = np.asarray(policy.act(states.copy() if policy.oracle else render(states)), dtype=np.float64)
        if (
            chunk.ndim != 3
            or chunk.shape[0] != tasks.episodes
            or chunk.shape[1] < min(c.replan_every, c.steps - step)
            or chunk.shape[2] != arm.ACTION_DIM
        ):
            raise EvaluationError(
                f"the policy returned actions of shape {chunk.shape}",
                remediation="Return (episodes, >= replan_every, action_dim) actions.",
            )
        for j in range(min(c.replan_every, c.steps - step)):
            states = arm.step(states, chunk[:, j])
    distance = end_effector_distance(states, tasks.goals)
    return Outcome(final_distance=distance, success=distance < c.success_radius, tasks_digest=tasks.digest())


def evaluate_models(
    model: Any, params_list: list[Any], conditions: Conditions, style: Style, image_size: int
) -> Outcome:
    """The latent planner with each of several models (local-only: one per silo), episodes concatenated."""
    tasks = conditions.tasks()
    outs = [
        run_episodes(LatentPlanner(model, p, conditions), conditions, style, image_size, tasks) for p in params_list
    ]
    if not outs:
        raise EvaluationError("no model to evaluate", remediation="Pass at least one parameter set.")
    return Outcome(
        final_distance=np.concatenate([o.final_distance for o in outs]),
        success=np.concatenate([o.success for o in outs]),
        tasks_digest=tasks.digest(),
    )


def evaluate_baselines(conditions: Conditions, style: Style, image_size: int) -> dict[str, Outcome]:
    """The three baselines of RFC-0005 §6.2 under ``conditions``."""
    tasks = conditions.tasks()
    policies = {
        "random": RandomPolicy(conditions),
        "zero": ZeroPolicy(conditions),
        "true-dynamics": TrueDynamicsPlanner(conditions),
    }
    return {name: run_episodes(p, conditions, style, image_size, tasks) for name, p in policies.items()}


__all__ = [
    "BASELINES",
    "Conditions",
    "LatentPlanner",
    "Outcome",
    "RandomPolicy",
    "TrueDynamicsPlanner",
    "ZeroPolicy",
    "evaluate_baselines",
    "evaluate_models",
    "run_episodes",
]
