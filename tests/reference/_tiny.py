"""Tiny shared helpers for the reference-trainer tests (seconds, not minutes)."""

from __future__ import annotations

import numpy as np

from lensemble_reference.config import ModelConfig, TrainConfig, WorldConfig
from lensemble_spec.protocol import Silo

#: A model small enough that a forward/backward pass on a few 16×16 frames costs milliseconds.
TINY_MODEL = ModelConfig(latent_dim=4, channels=(4, 8, 8), pred_hidden=16, pred_depth=1, action_dim=2, image_size=16)


def haar_orthogonal(d: int, seed: int, *, det: float | None = None) -> np.ndarray:
    """Haar-distributed orthogonal matrix (QR with sign fix); force det = ±1 if asked."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q = q * np.sign(np.diag(r))
    if det is not None and np.sign(np.linalg.det(q)) != np.sign(det):
        q[:, 0] = -q[:, 0]
    return q


def tiny_silo(name: str, seed: int, *, episodes: int = 3, horizon: int = 4, cfg: ModelConfig = TINY_MODEL) -> Silo:
    """Random smooth-ish frames: enough structure for the losses, no renderer needed."""
    rng = np.random.default_rng(seed)
    size = cfg.image_size
    base = rng.uniform(0.2, 0.8, size=(episodes, 1, 3, size, size)).astype(np.float32)
    drift = rng.normal(0, 0.05, size=(episodes, horizon + 1, 3, size, size)).astype(np.float32).cumsum(axis=1)
    obs = np.clip(base + drift, 0.0, 1.0).astype(np.float32)
    actions = rng.normal(size=(episodes, horizon, cfg.action_dim)).astype(np.float32)
    states = rng.normal(size=(episodes, horizon + 1, 3)).astype(np.float32)
    return Silo(name=name, obs=obs, actions=actions, states=states)


def tiny_train_config(**changes) -> TrainConfig:
    cfg = TrainConfig(
        rounds=2,
        inner_steps=2,
        batch_size=2,
        window=2,
        sketch_dim=8,
        threads=1,
        model=TINY_MODEL,
        world=WorldConfig(image_size=16, probe_size=8, episodes_per_silo=3, horizon=4),
    )
    return cfg.replace(**changes).validate()
