"""A protocol model part as a stable-worldmodel cost model (swm's ``Costable``: ``get_cost``).

:class:`LatentGoalCost` wraps any object with the protocol's ``encode(params, obs)`` and
``predict(params, z, action)`` (``lensemble_spec.protocol`` model part; arrays in, arrays out) and
one parameter mapping, so swm's ``CEMSolver`` inside ``WorldModelPolicy`` plans with it. It never
reads the environment's state: only the current frame and the goal image of swm's info dict.

``get_cost(info, candidates)``: ``info["pixels"]`` and ``info["goal"]`` arrive from swm's policy
as ``(B, S, 1, H, W, 3)`` uint8 (HWC, one history frame, expanded over the ``S`` samples);
``candidates`` is ``(B, S, horizon, 2)``. The frames are encoded once per environment
(``z_0 = encode(x_t)``, ``g = encode(x_goal)``), every candidate is rolled out through
``predict`` with its actions clipped to the action box ``[-1, 1]`` (the environment clips them the
same way), and the cost is ``‖z_H − g‖² + running · mean_{k<H} ‖z_k − g‖²`` — terminal distance
plus an optional running term, all in latent space. Returns a float32 ``(B, S)`` tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class LatentGoalCost:
    """See module docstring. ``running`` weighs the mean intermediate distance (0: terminal only)."""

    def __init__(self, model: Any, params: Mapping[str, Any], *, running: float = 0.0) -> None:
        self.model = model
        self.params = params
        self.running = float(running)
        self.calls = 0

    def _encode(self, frames: Any) -> np.ndarray:
        x = np.asarray(frames)
        if x.dtype == np.uint8:  # swm hands HWC uint8 pixels; the protocol takes CHW floats in [0, 1]
            x = np.moveaxis(x, -1, -3).astype(np.float32) / np.float32(255.0)
        return np.asarray(self.model.encode(self.params, x), dtype=np.float64)

    def get_cost(self, info_dict: dict, action_candidates: Any) -> Any:
        import torch

        self.calls += 1
        pixels = _first_sample_last_frame(info_dict["pixels"])
        goal = _first_sample_last_frame(info_dict["goal"])
        cand = np.clip(
            np.asarray(
                action_candidates.detach().cpu() if torch.is_tensor(action_candidates) else action_candidates,
                dtype=np.float32,
            ),
            -1.0,
            1.0,
        )
        b, s, horizon, _ = cand.shape
        z0, g = self._encode(pixels), self._encode(goal)  # (B, d) each
        z = np.repeat(z0, s, axis=0).astype(np.float32)  # (B·S, d), sample-major within an env
        g_rep = np.repeat(g, s, axis=0)
        running = np.zeros(b * s)
        for k in range(horizon):
            if k > 0:
                running += np.sum((z.astype(np.float64) - g_rep) ** 2, axis=1)
            z = np.asarray(self.model.predict(self.params, z, cand[:, :, k].reshape(b * s, -1)), dtype=np.float32)
        cost = np.sum((z.astype(np.float64) - g_rep) ** 2, axis=1)
        if self.running > 0 and horizon > 1:
            cost = cost + self.running * running / (horizon - 1)
        return torch.from_numpy(cost.reshape(b, s).astype(np.float32))


def _first_sample_last_frame(v: Any) -> np.ndarray:
    """``(B, S, T, H, W, C)`` (or ``(B, S, H, W, C)``) → the ``(B, H, W, C)`` frames of sample 0, last step."""
    import torch

    x = v.detach().cpu().numpy() if torch.is_tensor(v) else np.asarray(v)
    x = x[:, 0]
    return x[:, -1] if x.ndim == 5 else x
