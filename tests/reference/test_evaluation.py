"""Held-out evaluation of run directories and the headline verdicts.

Catches: an evaluator that disagrees with the verifier's recomputation (EVAL-010/011 would fail on
every headline), local-only rows aggregated the wrong way (drift must be the MAXIMUM over silos,
the rest the mean), verdicts that depend on gameable metrics (EVAL-013), and a model part that
cannot re-encode checkpoints of a different size than its declared one.
"""

from __future__ import annotations

import numpy as np
import pytest

from lensemble_reference.artifacts import load_probe
from lensemble_reference.controls import run_control
from lensemble_reference.evaluate import evaluate_run, heldout_metrics
from lensemble_reference.federation import RunInputs
from lensemble_reference.headline import rfc_verdict
from lensemble_reference.implementation import ReferenceModel
from lensemble_reference.model import infer_model_config, init_params
from lensemble_spec.artifacts import probe_hash
from lensemble_spec.verify.heldout import HeldoutSplit
from lensemble_spec.verify.recompute import heldout_metrics as verifier_heldout_metrics

from ._tiny import TINY_MODEL, tiny_silo, tiny_train_config


def _inputs() -> RunInputs:
    silos = {f"silo{i}": tiny_silo(f"silo{i}", 400 + i) for i in range(3)}
    points = tiny_silo("probe", 500, episodes=2, horizon=4).obs.reshape(-1, 3, 16, 16)
    return RunInputs(silos=silos, probe_points=points, probe_hash=probe_hash(points), data_roots=["tests:tiny"])


@pytest.fixture(scope="module")
def heldout():
    return tiny_silo("heldout", 600, episodes=4, horizon=4)


def test_model_config_is_read_back_from_parameter_shapes():
    assert infer_model_config(init_params(TINY_MODEL, 0)) == TINY_MODEL


def test_evaluator_matches_the_verifier_recomputation(tmp_path, heldout):
    result = run_control(tiny_train_config(control="anchored"), _inputs(), tmp_path / "a")
    points, targets = load_probe(result.run_dir)
    mine = heldout_metrics(result.final_params, heldout, points, targets)
    split = HeldoutSplit(obs=heldout.obs, actions=heldout.actions, states=heldout.states, source="test")
    theirs = verifier_heldout_metrics(
        ReferenceModel(threads=1), result.final_params, split, points=points, targets=targets
    )
    for key, value in theirs.items():
        if key == "drift_degenerate":
            assert mine[key] == value
        elif value is None:
            assert mine[key] is None, key
        else:
            assert mine[key] == pytest.approx(value, rel=1e-4, abs=1e-6 if not key.endswith("_deg") else 0.05), key


def test_local_only_rows_take_the_mean_except_the_drift(tmp_path, heldout):
    result = run_control(tiny_train_config(control="local-only").for_control("local-only"), _inputs(), tmp_path / "l")
    ev = evaluate_run(result.run_dir, heldout)
    assert len(ev["rounds"]) == 3 and ev["latent_dim"] == TINY_MODEL.latent_dim
    final = ev["final"]
    points, targets = load_probe(result.run_dir)
    per = {p: heldout_metrics(params, heldout, points, targets) for p, params in result.participant_params.items()}
    for key in ("effective_rank", "latent_std_mean", "val_pred", "state_probe_r2"):
        assert final[key] == pytest.approx(np.mean([per[p][key] for p in sorted(per)]), rel=1e-9), key
        for p in per:
            assert final[f"{key}/{p}"] == per[p][key]
    drifts = [per[p]["drift_to_reference_deg"] for p in per]
    if all(d is not None for d in drifts):
        assert final["drift_to_reference_deg"] == pytest.approx(max(drifts))
    assert final["state_probe_r2_best_silo"] == pytest.approx(max(per[p]["state_probe_r2"] for p in per))
    assert ev["rounds"][0]["effective_rank"] is not None and "state_probe_r2/silo0" not in ev["rounds"][0]  # θ_0 row


def _metrics(**changes):
    base = {
        "latent_dim": 16.0,
        "effective_rank": 10.0,
        "latent_std_mean": 0.5,
        "latent_rms": 0.6,
        "state_probe_r2": 0.4,
        "drift_to_reference_deg": 5.0,
        "val_pred": 0.1,
        "skill_vs_identity": 0.9,
    }
    return {**base, **changes}


def test_verdicts_follow_rfc_0005_rules_from_tier_one_metrics_only():
    assert rfc_verdict(_metrics(), [0.0, 5.0]) == "gauge-held"
    assert rfc_verdict(_metrics(state_probe_r2=None), [0.0]) == "diverged"
    assert rfc_verdict(_metrics(effective_rank=3.9), [0.0]) == "collapsed"  # < 0.25 · 16
    assert rfc_verdict(_metrics(latent_std_mean=5e-4), [0.0]) == "collapsed"
    assert rfc_verdict(_metrics(drift_to_reference_deg=None), [0.0]) == "collapsed"  # degenerate frame
    assert rfc_verdict(_metrics(), [0.0, 31.0, 5.0]) == "drifted"  # any round above 30°
    for gameable in ({"val_pred": 1e6}, {"skill_vs_identity": 1e-9}, {"val_pred": None}):
        assert rfc_verdict(_metrics(**gameable), [0.0]) == "gauge-held"
