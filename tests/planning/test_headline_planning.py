"""The headline's planning: every control and baseline in the table, verified from the files, printed
with intervals; bad flags are typed errors. No trained numbers are pinned (they move with the trainer)."""

from __future__ import annotations

import json

import pytest

from lensemble_reference.config import ModelConfig, TrainConfig, WorldConfig
from lensemble_spec.planning import Conditions, PlannerConfig

SMALL = Conditions(episodes=3, steps=3, planner=PlannerConfig(horizon=2, samples=16, iterations=2, elites=4))


def _tiny() -> TrainConfig:
    return TrainConfig(
        rounds=1, inner_steps=2, batch_size=4, window=2, sketch_dim=8, threads=1,
        model=ModelConfig(latent_dim=4, channels=(4, 8, 8), pred_hidden=16, pred_depth=1, image_size=16),
        world=WorldConfig(image_size=16, probe_size=8, episodes_per_silo=4, horizon=6),
    )  # fmt: skip


def _failed(report):
    return sorted({f.requirement for f in report.findings if f.status == "fail"})


@pytest.mark.slow
def test_single_seed_headline_plans_every_control_and_verify_recomputes_it(tmp_path):
    import lensemble_reference
    from lensemble_reference.headline import run_headline
    from lensemble_spec.verify import verify_run

    out = tmp_path / "h"
    result = run_headline(_tiny(), out, show_progress=False, planning=SMALL)
    doc = json.loads((out / "results.json").read_text())
    rec = doc["planning"]
    assert set(rec["outcomes"]) == {
        "local-only",
        "naive-fedavg",
        "anchored",
        "centralized",
        "baseline/random",
        "baseline/zero",
        "baseline/true-dynamics",
    }
    assert len(rec["outcomes"]["local-only"]["success"]) == 4 * SMALL.episodes  # every silo's model
    assert rec["outcomes"]["baseline/true-dynamics"]["rate"] == 1.0 and rec["outcomes"]["baseline/zero"]["rate"] == 0.0
    for row in doc["controls"]:
        assert row["metrics"]["mpc_success_rate"] == rec["outcomes"][row["control"]]["rate"]
    assert "closed-loop planning" in result["text"] and "baseline/true-dynamics" in result["text"]
    report = verify_run(out, impl=lensemble_reference.IMPLEMENTATION)
    assert report.ok, _failed(report)
    assert {f.requirement for f in report.findings if f.status == "pass"} >= {"EVAL-019", "EVAL-020", "EVAL-021"}

    anchored = rec["outcomes"]["anchored"]
    anchored["success"] = [not s for s in anchored["success"]]  # success no longer follows the true distance
    (out / "results.json").write_text(json.dumps(doc))
    assert {"EVAL-020", "EVAL-021"} <= set(_failed(verify_run(out, impl=lensemble_reference.IMPLEMENTATION)))


def test_a_table_reporting_success_without_a_record_fails_eval_019(tmp_path):
    from lensemble_spec.schemas import ResultsTable
    from lensemble_spec.verify.planning import check_planning
    from lensemble_spec.verify.report import VerificationReport
    from lensemble_spec.verify.results import ResultsVerifier

    row = {"control": "anchored", "metrics": {"mpc_success_rate": 0.5}, "series": {}, "verdict": "gauge-held"}
    table = ResultsTable.model_validate({"title": "t", "split": "s", "seeds": [0], "controls": [row]})
    report = VerificationReport(target=str(tmp_path))
    check_planning(ResultsVerifier(report, {}), table)
    assert _failed(report) == ["EVAL-019"]


def test_render_planning_prints_rates_intervals_and_baselines_once():
    from lensemble_reference.planning_report import render_planning

    def outcome(success):
        n, k = len(success), sum(success)
        return {
            "tasks_digest": "d",
            "final_distance": [0.0] * n,
            "success": success,
            "rate": k / n,
            "low": 0.0,
            "high": 1.0,
        }

    records = [
        {"conditions": SMALL.to_dict(), "outcomes": {
            "anchored": outcome([True, False]), "local-only": outcome([False, False]),
            "baseline/random": outcome([False, False]), "baseline/zero": outcome([False, False]),
            "baseline/true-dynamics": outcome([True, True])}}
        for _ in range(2)
    ]  # fmt: skip
    table = {
        "controls": [{"control": "local-only"}, {"control": "anchored"}],
        "intervals": {"anchored": {"mpc_success_rate": {"mean": 0.5, "low": 0.5, "high": 0.5}}},
    }
    text = render_planning(table, records, [0, 1])
    assert "50.0 [50.0, 50.0]" in text and "2/4" in text  # anchored: mean over seeds, pooled episodes
    assert "same every seed" in text and "(2/2)" in text  # the true-dynamics baseline shown once
    assert "anchored − local-only mean  +50.0, +50.0" in text


@pytest.mark.slow
def test_negative_planning_episodes_is_a_typed_error(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "lensemble_spec.cli", "headline", "--out", str(out), "--planning-episodes", "-1"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "config_invalid" in proc.stderr, proc.stderr
    assert not out.exists()
