"""The tiny training config of the resume and input tests (a run takes about a second)."""

from __future__ import annotations

from typing import Any

TINY: dict[str, Any] = {
    "rounds": 4,
    "inner_steps": 2,
    "batch_size": 2,
    "window": 2,
    "sketch_dim": 8,
    "threads": 1,
    "model": {"latent_dim": 4, "channels": [4, 8, 8], "pred_hidden": 16, "pred_depth": 1, "image_size": 16},
    "world": {"episodes_per_silo": 3, "horizon": 4, "image_size": 16, "probe_size": 8},
}


def merged(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``change`` applied key by key at every depth."""
    out = dict(base)
    for key, value in change.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
