"""Offline PushT episodes from swm's own collection loop, split into non-IID silos by a variation factor.

:func:`collect_episodes` drives ``World.collect`` with swm's PushT ``WeakPolicy`` (uniform actions
kept near the block: the collection policy swm ships for PushT) into an in-memory writer (swm's
``Writer`` protocol: a context manager with ``write_episodes``). swm records the info dict after
every step and shifts the ``action`` column so that ``action[t]`` is the action taken from frame
``t`` to frame ``t + 1``; the last entry is therefore not a transition and is dropped. Episodes
that end early (the random policy reached its goal) are shorter than ``episode_len`` and are
discarded and counted, so every silo row has the same length.

:func:`split_silos` sorts the episodes by the luminance of the split factor's colour (the
``variation.<factor>`` column swm records, e.g. ``variation.block.color``; ties by collection
order) and cuts the sorted list into ``n_silos`` contiguous equal parts: silo ``s`` sees only the
``s``-th luminance band, a covariate shift in appearance with identical dynamics. The closed-loop
evaluation draws the factor from its full range, so every local-only model meets mostly colours
it never saw.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from lensemble_spec.errors import DataError
from lensemble_spec.protocol import Silo

from .env import DEFAULT_SILO_FACTOR, import_swm, make_world, variations

#: ITU-R BT.601 luma weights: the scalar the silo split sorts background colours by.
LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class Episodes:
    """``pixels (E, L, H, W, 3) uint8``, ``actions (E, L−1, 2) float32``, ``states (E, L, 7)``,
    ``factor (E, 3)`` (the split factor's RGB, named ``factor_name``) and how many collected episodes were too short."""

    pixels: np.ndarray
    actions: np.ndarray
    states: np.ndarray
    factor: np.ndarray
    dropped: int
    factor_name: str = DEFAULT_SILO_FACTOR


class _MemoryWriter:
    """swm's Writer protocol, keeping the episodes in memory."""

    def __init__(self) -> None:
        self.episodes: list[dict[str, list[Any]]] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write_episodes(self, episodes: Iterable[dict[str, list[Any]]]) -> None:
        self.episodes.extend(episodes)


def collect_episodes(
    n_episodes: int,
    *,
    seed: int,
    episode_len: int,
    image_size: int,
    factor: str = DEFAULT_SILO_FACTOR,
    num_envs: int = 4,
) -> Episodes:
    """``n_episodes`` full-length episodes of ``episode_len`` frames (see module docstring).

    Collects ``n_episodes + max(2, n_episodes // 4)`` episodes (the margin covers early ends) and
    keeps the first ``n_episodes`` full-length ones; DataError if too few are full-length. Seeds:
    ``seed, seed + 1, …`` as swm's collection loop assigns them.
    """
    if n_episodes < 1 or episode_len < 2:
        raise DataError(f"need >= 1 episode of >= 2 frames, got {n_episodes} x {episode_len}")
    import_swm()  # headless, after the torchvision shim
    from stable_worldmodel.envs.pusht.expert_policy import WeakPolicy

    world = make_world(num_envs=min(num_envs, n_episodes), image_size=image_size, max_steps=episode_len, goal_steps=0)
    try:
        world.set_policy(WeakPolicy(seed=seed))
        writer = _MemoryWriter()
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=".*Casting input x", category=UserWarning
            )  # PushT's list → Box cast
            world.collect(
                writer=writer,
                episodes=n_episodes + max(2, n_episodes // 4),
                seed=seed,
                options={"variation": variations(factor)},
                progress=False,
            )
    finally:
        world.close()
    full = [ep for ep in writer.episodes if len(ep["pixels"]) == episode_len]
    if len(full) < n_episodes:
        raise DataError(
            f"collected {len(full)} PushT episodes of {episode_len} frames, {n_episodes} needed",
            remediation="Use shorter episodes (--episode-len).",
        )
    kept = full[:n_episodes]
    return Episodes(
        pixels=np.stack([np.stack(ep["pixels"]) for ep in kept]).astype(np.uint8),
        actions=np.stack([np.stack(ep["action"][:-1]) for ep in kept]).astype(np.float32),
        states=np.stack([np.stack(ep["state"]) for ep in kept]).astype(np.float32),
        factor=np.stack([np.asarray(ep[f"variation.{factor}"][0]) for ep in kept]).astype(np.float64),
        factor_name=factor,
        dropped=len(writer.episodes) - len(full),
    )


def to_obs(pixels: np.ndarray) -> np.ndarray:
    """``(..., H, W, 3) uint8 → (..., 3, H, W) float32`` in [0, 1] (the reference model's input)."""
    x = np.asarray(pixels)
    return np.ascontiguousarray(np.moveaxis(x, -1, -3), dtype=np.float32) / np.float32(255.0)


def split_silos(episodes: Episodes, n_silos: int) -> tuple[dict[str, Silo], dict[str, Any]]:
    """``({silo name: Silo}, description)`` by the luminance bands of the module docstring."""
    n = episodes.pixels.shape[0]
    if n_silos < 1 or n < n_silos:
        raise DataError(f"cannot split {n} episodes into {n_silos} silos")
    luma = episodes.factor @ LUMA
    order = np.argsort(luma, kind="stable")
    parts = np.array_split(order, n_silos)
    silos: dict[str, Silo] = {}
    bands = {}
    for s, idx in enumerate(parts):
        idx = np.sort(idx)
        name = f"silo-{s}"
        silos[name] = Silo(
            name=name, obs=to_obs(episodes.pixels[idx]), actions=episodes.actions[idx], states=episodes.states[idx]
        )
        bands[name] = {
            "episodes": [int(i) for i in idx],
            "luma_min": float(luma[idx].min()),
            "luma_max": float(luma[idx].max()),
        }
    description = {
        "factor": episodes.factor_name,
        "rule": "episodes sorted by BT.601 luma of the factor colour (stable), cut into equal contiguous parts",
        "bands": bands,
    }
    return silos, description
