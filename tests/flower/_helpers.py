"""Shared helpers of the Flower engine tests (tiny model and config)."""

from __future__ import annotations

from lensemble_reference.config import ModelConfig, TrainConfig, WorldConfig

#: A model small enough that a round of 4 participants × 3 steps costs milliseconds; action_dim 5
#: matches the synthetic world's joint-velocity commands.
TINY_MODEL = ModelConfig(latent_dim=4, channels=(4, 8, 8), pred_hidden=16, pred_depth=1, action_dim=5, image_size=16)


def tiny_config(control: str = "anchored", **changes) -> TrainConfig:
    """2 rounds × 3 inner steps on a 16-px world with 4 silos; the backstop threshold is 1° so the
    backstop FIRES (its rotate-and-redifference path is part of what must match bit for bit)."""
    cfg = TrainConfig(
        rounds=2,
        inner_steps=3,
        batch_size=2,
        window=2,
        sketch_dim=8,
        threads=1,
        backstop_threshold_deg=1.0,
        model=TINY_MODEL,
        world=WorldConfig(image_size=16, probe_size=8, episodes_per_silo=3, horizon=4),
    )
    return cfg.replace(**changes).for_control(control)
