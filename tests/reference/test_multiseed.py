"""Multi-seed headline (issue #14 item 1): seed parsing, the interval arithmetic, and an end-to-end
tiny run in two spawned workers that ``verify`` accepts — and rejects once an aggregate or a
verdict is edited."""

from __future__ import annotations

import json
import math

import pytest

from lensemble_reference.config import ModelConfig, TrainConfig, WorldConfig
from lensemble_reference.multiseed import parse_seeds, run_multiseed
from lensemble_spec.aggregate import aggregate, interval, worst_verdict
from lensemble_spec.errors import ConfigError
from lensemble_spec.verify import verify_run


def test_parse_seeds_ranges_and_lists():
    assert parse_seeds("0-4") == (0, 1, 2, 3, 4)
    assert parse_seeds("0,2,7") == (0, 2, 7)
    assert parse_seeds("0-1,5") == (0, 1, 5)
    for bad in ("", "3-1", "a", "1,1", "-2"):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def test_t_interval_known_answer():
    iv = interval([1.0, 2.0, 3.0])
    half = 4.3027 * 1.0 / math.sqrt(3)
    assert iv["n"] == 3 and iv["mean"] == 2.0 and iv["sd"] == 1.0
    assert math.isclose(iv["low"], 2.0 - half) and math.isclose(iv["high"], 2.0 + half)
    assert interval([5.0])["low"] is None and interval([None, None]) is None


def test_worst_verdict_order():
    assert worst_verdict(["gauge-held", "drifted", "gauge-held"]) == "drifted"
    assert worst_verdict(["drifted", "collapsed"]) == "collapsed"
    assert worst_verdict(["gauge-held", "something-else"]) == "diverged"


def _row(control, r2, verdict="gauge-held", **extra):
    return {
        "control": control,
        "metrics": {"state_probe_r2": r2, **extra},
        "series": {"drift_to_reference_deg": [0.0, r2]},
        "verdict": verdict,
    }


def test_paired_differences_are_per_seed():
    per_seed = [
        {
            "seed": s,
            "controls": [
                _row("anchored", a),
                _row("naive-fedavg", n, "drifted"),
                _row("local-only", l, state_probe_r2_best_silo=b),
            ],
            "variants": [],
        }
        for s, (a, n, l, b) in enumerate([(0.4, 0.3, 0.2, 0.5), (0.5, 0.3, 0.3, 0.45), (0.45, 0.35, 0.2, 0.5)])
    ]
    agg = aggregate(per_seed)
    d = agg["differences"]["anchored:minus-naive"]
    assert [round(x, 12) for x in d["per_seed"]] == [0.1, 0.2, 0.1]
    assert math.isclose(d["interval"]["mean"], 0.4 / 3)
    assert agg["differences"]["anchored:minus-local-best"]["per_seed"][0] == pytest.approx(-0.1)
    naive = next(r for r in agg["controls"] if r["control"] == "naive-fedavg")
    assert naive["verdict"] == "drifted" and naive["series"]["drift_to_reference_deg"][1] == pytest.approx(0.95 / 3)


def _tiny() -> TrainConfig:
    return TrainConfig(
        rounds=2, inner_steps=2, batch_size=4, window=2, sketch_dim=8, threads=1,
        model=ModelConfig(latent_dim=4, channels=(4, 8, 8), pred_hidden=16, pred_depth=1, image_size=16),
        world=WorldConfig(image_size=16, probe_size=8, episodes_per_silo=4, horizon=6),
    )


def _failed(report):
    return sorted({f.requirement for f in report.findings if f.status == "fail"})


@pytest.mark.slow
def test_two_seeds_in_workers_verify_and_tampering_is_caught(tmp_path):
    out = tmp_path / "h"
    result = run_multiseed(_tiny(), out, seeds=(0, 3), workers=2, show_progress=False)
    assert result["schema_version"] == 2 and [e["seed"] for e in result["per_seed"]] == [0, 3]
    assert {r["variant"] for r in result["variants"]} == {"frame-anchor"}
    assert "anchored:minus-naive" in result["differences"] and "C7" in result["claims"]["pooled"]
    for seed in (0, 3):
        assert (out / f"seed-{seed}" / "anchored" / "manifest.json").is_file()
        assert (out / f"seed-{seed}" / "variants" / "frame-anchor" / "manifest.json").is_file()
    report = verify_run(out)
    assert report.ok, _failed(report)
    assert any(f.check == "multiseed-mean" and f.status == "pass" for f in report.findings)

    doc = json.loads((out / "results.json").read_text())
    doc["controls"][0]["metrics"]["effective_rank"] += 0.5
    doc["controls"][1]["verdict"] = "gauge-held" if doc["controls"][1]["verdict"] != "gauge-held" else "collapsed"
    doc["differences"]["anchored:minus-naive"]["interval"]["low"] = -1.0
    (out / "results.json").write_text(json.dumps(doc))
    tampered = verify_run(out)
    assert "EVAL-014" in _failed(tampered) and "EVAL-015" in _failed(tampered)
    bad = {f.check for f in tampered.findings if f.status == "fail"}
    assert {"multiseed-mean", "multiseed-verdict", "multiseed-intervals"} <= bad


@pytest.mark.parametrize(
    "argv", [["--seeds", "3-1"], ["--seeds", "0-1", "--seed", "2"], ["--seeds", "0-1", "--workers", "0"]]
)
def test_headline_seeds_bad_input_is_a_typed_error_and_writes_nothing(tmp_path, argv):
    import subprocess
    import sys

    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "lensemble_spec.cli", "headline", "--out", str(out), *argv],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "config_invalid" in proc.stderr, proc.stderr
    assert not out.exists()
