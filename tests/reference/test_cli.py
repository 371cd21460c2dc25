"""``lensemble-spec train`` / ``headline`` end to end on a tiny embedded world (in-process).

Catches: the subcommands not being registered, the config file / flags not reaching the run,
bad input escaping as a traceback instead of a typed error (exit 1 with code + remediation), and
a run directory that is incomplete after a successful command.
"""

from __future__ import annotations

import json

import pytest

from lensemble_spec.cli import main
from lensemble_spec.schemas import ResultsTable, RunManifest, load_document

TINY = {
    "rounds": 1,
    "inner_steps": 2,
    "batch_size": 2,
    "window": 2,
    "sketch_dim": 8,
    "threads": 1,
    "model": {"latent_dim": 4, "channels": [4, 8, 8], "pred_hidden": 16, "pred_depth": 1, "image_size": 16},
    "world": {"episodes_per_silo": 3, "horizon": 4, "image_size": 16, "probe_size": 8},
}


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def test_train_writes_a_complete_run(tmp_path, config_file, capsys):
    out = tmp_path / "run"
    code = main(
        ["train", "--control", "anchored", "--out", str(out), "--config", str(config_file), "--rounds", "2", "--quiet"]
    )
    assert code == 0
    manifest = load_document(RunManifest, out / "manifest.json")
    assert manifest.control == "anchored"
    assert manifest.config["rounds"] == 2 and manifest.config["lambda_anchor"] > 0  # flag beat the file
    assert len((out / "rounds.jsonl").read_text().splitlines()) == 3
    assert (out / "probe.safetensors").is_file() and (out / "checkpoints/round-0002/header.json").is_file()
    assert not (out / "results.json").exists()  # results belong to a comparison, not to a run (ART-015)
    printed = capsys.readouterr().out
    assert "anchored: 2 rounds" in printed and "state_probe_r2=" in printed


def test_train_rejects_bad_input_with_a_typed_error(tmp_path, config_file, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**TINY, "no_such_key": 1}))
    assert (
        main(["train", "--control", "naive-fedavg", "--out", str(tmp_path / "x"), "--config", str(bad), "--quiet"]) == 1
    )
    err = capsys.readouterr().err
    assert "config_invalid" in err and "no_such_key" in err
    assert not (tmp_path / "x").exists()
    # an existing non-empty output directory is refused, never overwritten
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "keep.txt").write_text("mine")
    assert (
        main(
            ["train", "--control", "centralized", "--out", str(tmp_path / "y"), "--config", str(config_file), "--quiet"]
        )
        == 1
    )
    assert (tmp_path / "y" / "keep.txt").read_text() == "mine"
    with pytest.raises(SystemExit):  # usage error from argparse (exit 2)
        main(["train", "--control", "sideways", "--out", str(tmp_path / "z")])


def test_headline_runs_every_control_and_prints_the_table(tmp_path, config_file, capsys):
    out = tmp_path / "headline"
    assert main(["headline", "--out", str(out), "--config", str(config_file), "--quiet"]) == 0
    table = load_document(ResultsTable, out / "results.json")
    assert [c.control for c in table.controls] == ["local-only", "naive-fedavg", "anchored", "centralized"]
    for row in table.controls:
        assert row.verdict in ("diverged", "collapsed", "drifted", "gauge-held")
        assert row.metrics["latent_dim"] == 4 and "state_probe_r2" in row.metrics
        assert len(row.series["effective_rank"]) == 2 and len(row.series["drift_to_reference_deg"]) == 2
    text = capsys.readouterr().out
    for control in ("local-only", "naive-fedavg", "anchored", "centralized"):
        assert control in text
    assert "state-probe R²" in text and "C7" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["wall_time_s"] > 0 and "margin_vs_local_best" in summary["gates"]
    manifests = [load_document(RunManifest, out / c / "manifest.json") for c in ("anchored", "naive-fedavg")]
    assert manifests[0].root_seed == manifests[1].root_seed and manifests[0].probe_hash == manifests[1].probe_hash
