"""Goal-conditioned costs of candidate action sequences: in a model's latent space, or on the true state.

Both have the same shape: ``cost = w_run · Σ_{1≤t<H} dist(x_t, goal) + dist(x_H, goal)`` where
``x_1 … x_H`` is the rollout of the sequence (``w_run`` = ``running_weight``).

* :func:`latent_cost` rolls out the model part's ``predict`` from ``z_0 = encode(current frame)``
  and measures ``dist = mean_j (z_t − z_goal)_j²`` with ``z_goal = encode(goal frame)``. It only
  ever sees latents: this is the planner the harness evaluates a model with.
* :func:`true_state_cost` rolls out the arm's real dynamics (:func:`lensemble_spec.worlds.arm.step`)
  from the true state and measures the squared end-effector distance: the upper-bound planner.

The model part is reached through the protocol only (numpy in, ``numpy.asarray`` out), one
``predict`` call per horizon step on all ``B·N`` candidates at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import EvaluationError
from ..worlds import arm
from ..worlds.goals import end_effector


def _finite_latents(z: Any, rows: int, what: str) -> np.ndarray:
    arr = np.asarray(z, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != rows:
        raise EvaluationError(
            f"the model's {what} returned shape {arr.shape}, expected ({rows}, d)",
            remediation="Return one latent row per input row.",
        )
    return arr


def latent_cost(model: Any, params: Any, z0: np.ndarray, z_goal: np.ndarray, running_weight: float):
    """A cost function over ``(B, N, H, A)`` sequences for ``B`` episodes with latents ``z0``, ``z_goal`` ``(B, d)``."""
    z0 = np.asarray(z0, dtype=np.float64)
    z_goal = np.asarray(z_goal, dtype=np.float64)

    def cost(actions: np.ndarray) -> np.ndarray:
        b, n, h, a = actions.shape
        z = np.repeat(z0, n, axis=0).astype(np.float32)  # (B·N, d), episode-major
        goal = np.repeat(z_goal, n, axis=0)
        total = np.zeros(b * n)
        for t in range(h):
            act = np.ascontiguousarray(actions[:, :, t].reshape(b * n, a), dtype=np.float32)
            z = _finite_latents(model.predict(params, z, act), b * n, "predict").astype(np.float32)
            dist = np.mean((z.astype(np.float64) - goal) ** 2, axis=1)
            total += dist if t == h - 1 else running_weight * dist
        return total.reshape(b, n)

    return cost


def true_state_cost(states: np.ndarray, goals: np.ndarray, running_weight: float):
    """A cost function over ``(B, N, H, A)`` sequences rolled out with the arm's true dynamics."""
    goal_ee = end_effector(np.asarray(goals))

    def cost(actions: np.ndarray) -> np.ndarray:
        b, n, h, a = actions.shape
        s = np.repeat(np.asarray(states, dtype=np.float32), n, axis=0)
        goal = np.repeat(goal_ee, n, axis=0)
        total = np.zeros(b * n)
        for t in range(h):
            s = arm.step(s, actions[:, :, t].reshape(b * n, a))
            d = end_effector(s) - goal
            dist = np.sum(d * d, axis=1)
            total += dist if t == h - 1 else running_weight * dist
        return total.reshape(b, n)

    return cost


__all__ = ["latent_cost", "true_state_cost"]
