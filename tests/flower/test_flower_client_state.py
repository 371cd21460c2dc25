"""A participant rebuilt from ``context.state`` trains on exactly as if it had never gone away.

Defects caught: a ClientApp that starts every round with fresh AdamW moments or a re-seeded
sampler (it still trains, but off the in-process trajectory), state mapped to the wrong
parameters, and a node that silently carries on after losing or mixing up its state.
"""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import RecordDict

from lensemble_reference.controls import world_inputs
from lensemble_reference.participant import Participant, deterministic_torch
from lensemble_spec.errors import RoundError
from lensemble_spec.metrics import derive_seed

from ._helpers import tiny_config

PID = "silo1"


@pytest.fixture(scope="module")
def setting():
    from lensemble_reference.backstop import encode_numpy
    from lensemble_reference.federation import anchor_tensors, initial_global

    cfg = tiny_config("anchored")
    deterministic_torch(cfg.threads)  # as the driver and the ClientApp do (1 thread: no oversubscription)
    inputs = world_inputs(cfg)
    points = np.asarray(inputs.probe_points, dtype=np.float32)
    theta = initial_global(cfg, points)
    reference = encode_numpy(cfg.model, theta, points)
    return cfg, inputs.silos[PID], points, reference, theta, anchor_tensors(cfg, points, reference)


def _participant(cfg, silo):
    return Participant(PID, silo, cfg, seed=derive_seed(cfg.seed, f"batches/{PID}"))


def _round(setting, part, theta, r):
    from lensemble_reference.federation import participant_round

    cfg, _silo, points, reference, _theta0, anchor = setting
    return participant_round(cfg, part, theta, round_index=r, anchor=anchor, probe_points=points, reference=reference)


def _next_theta(theta, delta):
    return {k: (theta[k] + 0.5 * delta[k]).astype(np.float32) for k in theta}


def test_restored_participant_matches_the_persistent_one(setting):
    from lensemble_reference.flower.client_state import restore_participant, save_participant

    cfg, silo, _points, _ref, theta1, _anchor = setting
    persistent = _participant(cfg, silo)
    a1 = _round(setting, persistent, theta1, 1)
    theta2 = _next_theta(theta1, a1.delta)
    a2 = _round(setting, persistent, theta2, 2)

    state = RecordDict()
    first = _participant(cfg, silo)
    assert restore_participant(state, first, participant=PID, round_index=1) is False  # nothing yet
    b1 = _round(setting, first, theta1, 1)
    save_participant(state, first, participant=PID, round_index=1)
    second = _participant(cfg, silo)  # a fresh process in deployment
    assert restore_participant(state, second, participant=PID, round_index=2) is True
    b2 = _round(setting, second, theta2, 2)

    for got, want in ((b1, a1), (b2, a2)):
        assert got.loss == want.loss
        assert all(got.delta[k].tobytes() == want.delta[k].tobytes() for k in want.delta)

    # the negative control: without the restore the second round leaves the in-process trajectory
    amnesiac = _participant(cfg, silo)
    c2 = _round(setting, amnesiac, theta2, 2)
    assert any(c2.delta[k].tobytes() != a2.delta[k].tobytes() for k in a2.delta)


def test_lost_or_foreign_state_is_refused(setting):
    from lensemble_reference.flower.client_state import restore_participant, save_participant

    cfg, silo, _points, _ref, theta1, _anchor = setting
    with pytest.raises(RoundError, match="no stored state"):
        restore_participant(RecordDict(), _participant(cfg, silo), participant=PID, round_index=2)
    state = RecordDict()
    part = _participant(cfg, silo)
    _round(setting, part, theta1, 1)
    save_participant(state, part, participant=PID, round_index=1)
    with pytest.raises(RoundError):
        restore_participant(state, _participant(cfg, silo), participant="silo2", round_index=2)
    with pytest.raises(RoundError):
        restore_participant(state, _participant(cfg, silo), participant=PID, round_index=3)
