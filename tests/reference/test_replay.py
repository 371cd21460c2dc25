"""The seed-card replay (issue #14 item 3): the pre-fix outer step exists only as this
experiment's round engine, subtracts the mean delta, and the replay reports claims C1–C6 for both
outer steps."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lensemble_reference.config import TrainConfig
from lensemble_reference.outer import outer_init
from lensemble_reference.replay import CLAIMS, PreFixRounds, run_replay

from .test_multiseed import _tiny


def test_pre_fix_step_moves_the_global_away_from_its_participant(tmp_path):
    """One participant, lr 1, μ 0: the reference commits the local model; the pre-fix step 2θ − local."""
    from lensemble_reference.controls import world_inputs
    from lensemble_reference.federation import InProcessRounds, prepare

    cfg = _tiny().replace(rounds=1).for_control("naive-fedavg")
    inputs = world_inputs(cfg)
    inputs.silos = {"silo0": inputs.silos["silo0"]}
    got = {}
    for name, engine in (("reference", InProcessRounds()), ("pre-fix", PreFixRounds())):
        setup = prepare(cfg, inputs, tmp_path / name, progress_units=1)
        engine.start(setup, ["silo0"])
        theta = setup.theta0
        new, _, results = engine.run_round(setup, theta, outer_init(theta), 1, ["silo0"])
        got[name] = (theta, new, results["silo0"].delta)
    theta, new_ref, delta = got["reference"]
    _, new_pre, delta_pre = got["pre-fix"]
    for k in theta:
        assert np.array_equal(delta[k], delta_pre[k])  # same participant work
        np.testing.assert_allclose(new_ref[k], theta[k] + delta[k], rtol=0, atol=1e-6)
        np.testing.assert_allclose(new_pre[k], theta[k] - delta[k], rtol=0, atol=1e-6)


def test_the_pre_fix_step_is_not_reachable_from_train():
    keys = json.dumps(TrainConfig().to_dict())
    assert "sign" not in keys and "pre_fix" not in keys and "prefix" not in keys
    help_text = subprocess.run(
        [sys.executable, "-m", "lensemble_spec.cli", "train", "--help"], capture_output=True, text=True
    ).stdout
    assert "pre-fix" not in help_text and "engine" in help_text


@pytest.mark.slow
def test_replay_reports_both_tables_and_claims(tmp_path):
    doc = run_replay(_tiny().replace(rounds=3), tmp_path / "r", workers=1, show_progress=False)
    assert set(doc["claims"]) == {"correct", "pre-fix"}
    for side in ("correct", "pre-fix"):
        assert set(CLAIMS) <= set(doc["claims"][side])
    rows = {
        side: {r["control"]: r for r in doc[key]["controls"]}
        for side, key in (("correct", "correct"), ("pre-fix", "pre_fix"))
    }
    assert rows["correct"]["local-only"] == rows["pre-fix"]["local-only"]  # no outer step, same run
    assert rows["correct"]["anchored"]["metrics"] != rows["pre-fix"]["anchored"]["metrics"]
    assert (tmp_path / "r" / "correct" / "results.json").is_file() and (
        tmp_path / "r" / "pre-fix" / "anchored" / "manifest.json"
    ).is_file()
    assert "pre-fix step" in doc["text"]
