"""Batching from ``lensemble_spec.protocol.Silo`` data: seeded random windows of ``T + 1`` frames.

A window is ``obs[e, s : s + T + 1]`` with actions ``actions[e, s : s + T]`` for a uniformly drawn
episode ``e`` and start ``s`` (with replacement). With ``episodes_per_batch = k > 0`` every batch
first draws ``k`` distinct episodes and takes its windows from those only (then SIGReg's batch
statistics are dominated by within-episode motion rather than by static per-episode content).
The draw uses a private ``numpy.random.Generator(seed)``, so a participant's batch sequence is a
function of its seed alone (derived per participant, see federation.py). Ground-truth ``states``
are never read here: they are for probes only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from lensemble_spec.errors import DataError
from lensemble_spec.protocol import Silo


def check_silo(silo: Silo, *, obs_shape: tuple[int, int, int], action_dim: int, min_frames: int = 2) -> None:
    """Raise DataError unless ``silo`` has consistent float32 obs/actions for this model."""
    obs, act = np.asarray(silo.obs), np.asarray(silo.actions)
    if obs.ndim != 5 or tuple(obs.shape[2:]) != tuple(obs_shape):
        raise DataError(f"silo {silo.name}: obs must be (E, T+1, {', '.join(map(str, obs_shape))}), got {obs.shape}")
    if act.ndim != 3 or act.shape[0] != obs.shape[0] or act.shape[1] != obs.shape[1] - 1:
        raise DataError(f"silo {silo.name}: actions must be (E, T, A) matching obs {obs.shape}, got {act.shape}")
    if act.shape[2] != action_dim:
        raise DataError(f"silo {silo.name}: action dim {act.shape[2]} != model action_dim {action_dim}")
    if obs.shape[0] < 1 or obs.shape[1] < min_frames:
        raise DataError(f"silo {silo.name}: needs >= 1 episode of >= {min_frames} frames, got {obs.shape[:2]}")


def pool_silos(silos: Mapping[str, Silo], name: str = "pooled") -> Silo:
    """Concatenate episodes of several silos (sorted by name) into one silo (centralized control)."""
    order = sorted(silos)
    return Silo(
        name=name,
        obs=np.concatenate([np.asarray(silos[k].obs) for k in order]),
        actions=np.concatenate([np.asarray(silos[k].actions) for k in order]),
        states=np.concatenate([np.asarray(silos[k].states) for k in order]),
    )


class WindowSampler:
    """Seeded sampler of ``(obs (B, T+1, C, H, W), actions (B, T, A))`` float32 torch batches."""

    def __init__(self, silo: Silo, *, window: int, seed: int, episodes_per_batch: int = 0) -> None:
        obs = np.asarray(silo.obs, dtype=np.float32)
        act = np.asarray(silo.actions, dtype=np.float32)
        n_steps = act.shape[1]
        if window > n_steps:
            raise DataError(f"silo {silo.name}: window {window} exceeds episode length {n_steps}")
        self.obs = torch.from_numpy(np.ascontiguousarray(obs))
        self.actions = torch.from_numpy(np.ascontiguousarray(act))
        self.window = window
        self.n_episodes = obs.shape[0]
        self.n_starts = n_steps - window + 1
        self.rng = np.random.default_rng(int(seed) % (2**63))
        self.episodes_per_batch = int(episodes_per_batch)

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.episodes_per_batch
        if k > 0:  # k episodes, batch_size // k windows from each (rest from the last)
            chosen = self.rng.choice(self.n_episodes, size=min(k, self.n_episodes), replace=False)
            ep_np = np.repeat(chosen, -(-batch_size // len(chosen)))[:batch_size]
        else:
            ep_np = self.rng.integers(0, self.n_episodes, size=batch_size)
        ep = torch.from_numpy(ep_np)
        start = torch.from_numpy(self.rng.integers(0, self.n_starts, size=batch_size))
        frames = start[:, None] + torch.arange(self.window + 1)[None, :]
        obs = self.obs[ep[:, None], frames]  # (B, T+1, C, H, W)
        actions = self.actions[ep[:, None], frames[:, :-1]]  # (B, T, A)
        return obs, actions
