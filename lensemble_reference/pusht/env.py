"""stable-worldmodel's PushT behind the two things this package needs: a ``World`` and a goal rule.

Imports stable-worldmodel (and through it torchvision) only inside functions, after the
torchvision shim (:mod:`lensemble_reference.pusht._shim`); nothing here runs on import.

**Goals within reach.** PushT's own reset draws the goal state (agent position, block position
and angle) independently of the start, so a goal is usually a long manipulation away; success is
``‖goal[:4] − state[:4]‖ < 20`` px (agent and block positions together) and an angle error below
π/9 (``PushT.eval_state``). :class:`ReachableGoal` keeps that success rule and the start state and
replaces the goal by the state ``goal_steps`` steps of swm's ``WeakPolicy``-style actions (uniform
in ``[-1, 1]²`` around the agent, clipped to ±100 px of the block) away from the start, drawn
from the episode's seed: the goal is then reachable in about ``goal_steps`` steps, as in LeWM's
dataset-driven evaluation (goal = the state a fixed offset later in a recorded trajectory). The
second ``reset`` with the same seed re-draws the same variation values (swm seeds the variation
space by the reset seed), passes ``state`` and ``goal_state`` as reset options (PushT's own
interface), and so renders the goal image with the episode's colours. Actions are clipped to the
action box ``[-1, 1]²`` in ``step`` (the CEM solver samples an unbounded Gaussian).

**Silo factor.** Training and evaluation episodes resample one colour factor of PushT's
``variation_space`` (:data:`SILO_FACTORS`; default ``block.color``) besides PushT's default
variations (start positions, block angle): :func:`variations` is the reset option. The non-IID
split sorts on that factor. ``background.color`` is the stronger shift but can hide the agent
(a ~2 px blue disc at 48 px) on a blue background.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import numpy as np

#: The gymnasium id stable-worldmodel registers for PushT.
ENV_ID = "swm/PushT-v1"
#: PushT's own default variations (``DEFAULT_VARIATIONS`` of its env module).
DEFAULT_VARIATIONS = ("agent.start_position", "block.start_position", "block.angle")
#: Colour factors of PushT's variation space a silo split may sort on (RGB boxes).
SILO_FACTORS = ("block.color", "background.color", "agent.color", "goal.color")
DEFAULT_SILO_FACTOR = "block.color"


def variations(factor: str) -> list[str]:
    """The ``variation`` reset option: PushT's defaults plus ``factor``."""
    return [*DEFAULT_VARIATIONS, factor]
#: WeakPolicy's constraint: actions keep the agent within this many pixels of the block.
WEAK_DIST = 100.0


def import_swm() -> Any:
    """``stable_worldmodel`` imported headless, after the torchvision shim."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    from . import _shim

    _shim.apply()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "ale-py not found" and similar optional-env notices
        import stable_worldmodel as swm
    from loguru import logger

    logger.remove()  # swm logs every solver call through loguru; the caller prints what matters
    return swm


def weak_action(env: Any, rng: np.random.Generator) -> np.ndarray:
    """One action of swm's PushT ``WeakPolicy`` rule for an unwrapped PushT ``env``."""
    action = rng.uniform(-1, 1, size=2) * env.action_scale + np.asarray(env.agent.position)
    block = np.array((env.block.position.x, env.block.position.y))
    action = np.clip(action, block - WEAK_DIST, block + WEAK_DIST)
    return np.clip((action - np.asarray(env.agent.position)) / env.action_scale, -1, 1).astype(np.float32)


def _wrapper_class() -> type:
    import gymnasium as gym

    class ReachableGoal(gym.Wrapper):
        """The module docstring's goal rule; ``goal_steps = 0`` keeps PushT's own goal."""

        def __init__(self, env: Any, goal_steps: int) -> None:
            super().__init__(env)
            self.goal_steps = int(goal_steps)

        def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
            obs, info = self.env.reset(seed=seed, options=options)
            if self.goal_steps <= 0:
                return obs, info
            base = self.env.unwrapped
            start = np.array(base._get_obs(), dtype=np.float64)
            rng = np.random.default_rng(None if seed is None else [int(seed), 0x607])
            for _ in range(self.goal_steps):
                base.step(weak_action(base, rng))
            goal = np.array(base._get_obs(), dtype=np.float64)
            goal[5:] = 0.0  # the goal is a pose: no velocity
            opts = dict(options or {})
            opts.update(state=start, goal_state=goal)
            return self.env.reset(seed=seed, options=opts)

        def step(self, action: Any) -> Any:
            return self.env.step(np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0))

    return ReachableGoal


def make_world(*, num_envs: int, image_size: int, max_steps: int, goal_steps: int) -> Any:
    """A ``stable_worldmodel.World`` of ``num_envs`` PushT envs rendering ``image_size``² pixels."""
    swm = import_swm()
    wrapper = partial(_wrapper_class(), goal_steps=goal_steps)
    # disable_env_checker: gymnasium's passive checker warns on every step about PushT's shared
    # info dicts and float64 casts (harmless; swm's own World does not need it).
    return swm.World(
        ENV_ID, num_envs=num_envs, image_shape=(image_size, image_size), max_episode_steps=max_steps,
        pre_wrappers=[wrapper], disable_env_checker=True,
    )
