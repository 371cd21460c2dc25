"""Standardisation statistics and silo assembly: decoded frames cut into chunks of ``T + 1`` steps."""

from __future__ import annotations

from typing import Any

import numpy as np

from lensemble_spec.protocol import Silo

from .._video import DECODE_BATCH, DEFAULT_TOLERANCE_S, decode_frames_at
from .roots import Episode, OpenedRoot

#: Standard deviations below this are replaced by 1 (constant dimensions).
STD_FLOOR = 1e-6


# --- standardisation and silo assembly ------------------------------------------------------------
def standardisation_stats(
    training: list[Episode], first: OpenedRoot, state_key: str, action_key: str, names: list[str]
) -> dict[str, Any]:
    """Per-dimension mean and population std of state and action over the kept frames of
    ``training`` (std below :data:`STD_FLOOR` becomes 1), as the run manifest records them."""
    states = np.concatenate([ep.states[ep.kept] for ep in training])
    actions = np.concatenate([ep.actions[ep.kept[:-1]] for ep in training])

    def stats(x: np.ndarray, key: str, feature_names: Any) -> dict[str, Any]:
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        floored = np.flatnonzero(std < STD_FLOOR)
        std[floored] = 1.0
        return {
            "key": key,
            "names": feature_names,
            "mean": [float(v) for v in mean],
            "std": [float(v) for v in std],
            "floored_dims": [int(i) for i in floored],
        }

    return {
        "formula": f"x_standardised = (x - mean) / std; population std; std < {STD_FLOOR} replaced by 1",
        "computed_on": list(names),
        "n_frames": int(states.shape[0]),
        "n_transitions": int(actions.shape[0]),
        "state": stats(states, state_key, first.state_names),
        "action": stats(actions, action_key, first.action_names),
    }


def to_model_frames(batch: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``(n, H, W, 3)`` → float32 ``(n, 3, size, size)`` in [0, 1] (bilinear, antialiased)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    if tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp_(0.0, 1.0)
    return x.contiguous().numpy()


def _episode_frames(root: OpenedRoot, ep: Episode, size: int) -> np.ndarray:
    """The kept frames of one episode at model resolution, float32 ``(len(kept), 3, size, size)``."""
    if root.is_video:
        timestamps = ep.video_from_s + ep.timestamps[ep.kept]
        return decode_frames_at(
            ep.video_file, timestamps, tolerance_s=DEFAULT_TOLERANCE_S, convert=lambda b: to_model_frames(b, size)
        )
    column = root.dataset.hf_dataset.with_format(None).select_columns([root.image_key])
    rows = ep.rows[ep.kept]
    out = []
    for start in range(0, rows.size, DECODE_BATCH):
        images = column[[int(r) for r in rows[start : start + DECODE_BATCH]]][root.image_key]
        out.append(to_model_frames(np.stack([np.asarray(img.convert("RGB")) for img in images]), size))
    return np.concatenate(out)


def build_silo(
    name: str,
    episodes: list[Episode],
    roots: list[OpenedRoot],
    *,
    horizon: int,
    image_size: int,
    state_norm: tuple[np.ndarray, np.ndarray],
    action_norm: tuple[np.ndarray, np.ndarray],
) -> tuple[Silo, np.ndarray]:
    """One silo of every chunk of ``episodes`` (in order) with standardised states/actions, and
    its ``(rows, 3)`` chunk sources (root position, episode_index, first source frame)."""
    t = horizon
    rows = sum(ep.n_chunks for ep in episodes)
    s_dim, a_dim = episodes[0].states.shape[1], episodes[0].actions.shape[1]
    obs = np.empty((rows, t + 1, 3, image_size, image_size), dtype=np.float32)
    states = np.empty((rows, t + 1, s_dim), dtype=np.float32)
    actions = np.empty((rows, t, a_dim), dtype=np.float32)
    sources = np.empty((rows, 3), dtype=np.int64)
    row = 0
    for ep in episodes:
        frames = _episode_frames(roots[ep.root], ep, image_size)
        st = (ep.states[ep.kept] - state_norm[0]) / state_norm[1]
        ac = (ep.actions[ep.kept[:-1]] - action_norm[0]) / action_norm[1]
        for k in range(ep.n_chunks):
            lo = k * t
            obs[row] = frames[lo : lo + t + 1]
            states[row] = st[lo : lo + t + 1]
            actions[row] = ac[lo : lo + t]
            sources[row] = (ep.root, ep.index, int(ep.kept[lo]))
            row += 1
    return Silo(name=name, obs=obs, actions=actions, states=states), sources


__all__ = ["STD_FLOOR", "build_silo", "standardisation_stats", "to_model_frames"]
