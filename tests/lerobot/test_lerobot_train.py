"""Silos built from a LeRobot dataset feed the reference trainer's local update (one round, 2 steps).

Through the protocol (``FederationPart.local_update(global, silo, steps, seed, round_index)``):
``lensemble_reference.IMPLEMENTATION`` itself when its model takes SO-100's 6-dim actions; otherwise the
same reference parts rebuilt at the harness model size with ``action_dim = 6`` (the default
IMPLEMENTATION is sized for the synthetic world's actions). Silos are loaded at the model's
``obs_shape``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lensemble_reference.lerobot_data import load_lerobot_silos

SO100_ACTION_DIM = 6


def _so100_parts():
    """(model part, federation part) of the reference implementation for 6-dim actions."""
    from lensemble_reference import IMPLEMENTATION, implementation

    if int(IMPLEMENTATION.model.action_dim) == SO100_ACTION_DIM:
        return IMPLEMENTATION.model, IMPLEMENTATION.federation
    model = implementation.ReferenceModel(
        dataclasses.replace(implementation.HARNESS_MODEL, action_dim=SO100_ACTION_DIM)
    )
    return model, implementation.ReferenceFederation(model)


# slow: imports the whole trainer and runs two deterministic-torch AdamW steps on 16 windows of 32 px
# frames; it is the only end-to-end check that the loader's silos are what the trainer accepts.
@pytest.mark.slow
def test_lerobot_silo_trains_one_local_round(so100_writer):
    model, federation = _so100_parts()
    channels, size, width = (int(v) for v in model.obs_shape)
    assert channels == 3 and size == width
    root = so100_writer("so100_train", [9] * 5)
    splits = load_lerobot_silos([root], horizon=4, image_size=size)
    silo = splits.silos["silo0"]
    assert silo.obs.shape[2:] == tuple(model.obs_shape) and silo.actions.shape[-1] == model.action_dim
    params = model.init(0)
    delta = federation.local_update(params, silo, steps=2, seed=0, round_index=0)
    assert set(delta) == set(params)
    flat = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in delta.values()])
    assert np.isfinite(flat).all()
    assert np.abs(flat).max() > 0  # two AdamW steps on real-shaped data moved the weights
