"""Goal-reaching tasks on the arm world for closed-loop planning (RFC-0005 §6.2).

A task is a start state, a goal state and the episode's cube position. Both states are drawn
uniformly from the **held-out** region (``HUB ± HELDOUT_HALF``, :mod:`.silos`) and rendered in the
held-out appearance, so a planner plans in a style no model trained on. A goal is redrawn until
its end-effector lies at least ``min_separation`` from the start's, so doing nothing never
succeeds. Every draw comes from ``PCG64(derive_world_seed(seed, "planning/tasks"))``: same seed,
same tasks, everywhere.

Success is decided from the true state only: :func:`end_effector` is the gripper centre (the
``palm`` point of :func:`.arm.forward_kinematics`, screen-plane world units) and
:func:`end_effector_distance` the Euclidean distance between two states' end-effectors.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from . import arm
from .silos import HELDOUT_HALF, HUB, _cubes, _generator, derive_world_seed

#: Redraws of a goal before giving up (a separation that the region cannot offer is a config error).
MAX_REDRAWS = 1000


@dataclass(frozen=True)
class Tasks:
    """``starts`` and ``goals`` ``(E, S)`` float32 true states, ``cubes`` ``(E, 2)`` (static per episode)."""

    starts: np.ndarray
    goals: np.ndarray
    cubes: np.ndarray

    @property
    def episodes(self) -> int:
        return int(self.starts.shape[0])

    def digest(self) -> str:
        """sha256 over the float32 bytes of starts, goals and cubes (one task set, one digest)."""
        h = hashlib.sha256(b"lensemble-spec/planning-tasks/v1\0")
        for a in (self.starts, self.goals, self.cubes):
            h.update(np.ascontiguousarray(a, dtype=np.float32).tobytes())
        return h.hexdigest()


def end_effector(states: np.ndarray) -> np.ndarray:
    """Gripper centre ``(N, 2)`` (world units) of true states ``(N, S)``."""
    return arm.forward_kinematics(states)["palm"]


def end_effector_distance(states: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """``‖end_effector(states) − end_effector(goals)‖`` per row ``(N,)`` (float64)."""
    d = end_effector(states) - end_effector(goals)
    return np.sqrt(np.sum(d * d, axis=1))


def draw_tasks(seed: int, episodes: int, *, min_separation: float) -> Tasks:
    """``episodes`` start/goal pairs from the held-out region (module docstring)."""
    if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes < 1:
        raise ConfigError(
            f"episodes must be a positive int, got {episodes!r}",
            remediation="Pass at least one episode.",
            field="episodes",
        )
    if not (isinstance(min_separation, (int, float)) and np.isfinite(min_separation) and min_separation >= 0):
        raise ConfigError(
            f"min_separation must be a finite number >= 0, got {min_separation!r}",
            remediation="Pass a non-negative distance in world units.",
        )
    rng = _generator(derive_world_seed(int(seed), "planning/tasks"))
    lo = np.maximum(np.subtract(HUB, HELDOUT_HALF), arm.LIMITS_LO.astype(np.float64))
    hi = np.minimum(np.add(HUB, HELDOUT_HALF), arm.LIMITS_HI.astype(np.float64))
    starts = arm.snap(rng.uniform(lo, hi, size=(episodes, arm.STATE_DIM))).astype(np.float32)
    goals = np.empty_like(starts)
    for e in range(episodes):
        for _ in range(MAX_REDRAWS):
            g = arm.snap(rng.uniform(lo, hi, size=(1, arm.STATE_DIM))).astype(np.float32)
            if end_effector_distance(starts[e : e + 1], g)[0] >= min_separation:
                goals[e] = g[0]
                break
        else:
            raise ConfigError(
                f"no goal at least {min_separation} from the start in {MAX_REDRAWS} draws",
                remediation="Use a smaller minimum separation (the held-out region spans about 1 world unit).",
            )
    cubes = _cubes(rng, episodes)
    return Tasks(starts=starts, goals=goals, cubes=cubes.astype(np.float32))


__all__ = ["Tasks", "draw_tasks", "end_effector", "end_effector_distance"]
