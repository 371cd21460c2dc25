"""``lensemble-spec report`` end to end, and reading run records from a run directory.

Defects caught: the command not writing all three outputs, half-written files left behind, a
missing or newer-version results file producing a traceback instead of a typed error, --runs not
reaching the plots, invalid round records silently plotted.
"""

from __future__ import annotations

import json

import pytest
from report_fixtures import round_record, sample_report

from lensemble_spec import cli
from lensemble_spec.errors import ArtifactError
from lensemble_spec.report.runs import load_run_records


@pytest.fixture(autouse=True)
def _report_command(monkeypatch):
    """Register only `report` through the real entry-point path of cli.main (independent of whether
    the installed metadata is current, and of other commands' import cost)."""
    from importlib.metadata import EntryPoint

    ep = EntryPoint(name="report", value="lensemble_spec.commands.report:register", group="lensemble_spec.commands")
    monkeypatch.setattr(cli, "entry_points", lambda group: [ep] if group == ep.group else [])


def main(argv):
    return cli.main(argv)


def _results(tmp_path, report=None):
    path = tmp_path / "results.json"
    path.write_text(json.dumps((report or sample_report()).model_dump(mode="json")), encoding="utf-8")
    return path


def test_report_command_writes_html_markdown_and_json(tmp_path, capsys):
    src = _results(tmp_path)
    out = tmp_path / "out"
    assert main(["report", "--from", str(src), "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"report.html", "report.md", "results.json", "rfcs"}
    assert json.loads((out / "results.json").read_text())["verdicts"]["overall"] == "non-conformant"
    assert 'data-verdict="non-conformant"' in (out / "report.html").read_text()
    assert "verdict: non-conformant" in capsys.readouterr().out


def test_report_command_adds_runs_and_plots(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "records").mkdir(parents=True)
    for i in range(3):
        (run_dir / "records" / f"{i:04d}.json").write_text(json.dumps(round_record(i)), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["report", "--from", str(_results(tmp_path)), "--out", str(out), "--runs", str(run_dir)]) == 0
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "drift_to_reference_deg.svg", "effective_rank.svg", "latent_std_mean.svg", "val_pred.svg",
    ]
    assert (out / "report.html").read_text().count("<svg") == 4
    assert "![Effective rank](plots/effective_rank.svg)" in (out / "report.md").read_text()
    saved = json.loads((out / "results.json").read_text())
    assert saved["runs"][0]["source"] == "records/*.json" and len(saved["runs"][0]["records"]) == 3


def test_missing_results_is_a_typed_error(tmp_path, capsys):
    assert main(["report", "--from", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "code: artifact_invalid" in err and "pytest conformance --impl" in err
    assert not (tmp_path / "o").exists()


def test_newer_schema_version_is_refused(tmp_path, capsys):
    doc = sample_report().model_dump(mode="json")
    doc["schema_version"] = 2
    src = tmp_path / "results.json"
    src.write_text(json.dumps(doc), encoding="utf-8")
    assert main(["report", "--from", str(src), "--out", str(tmp_path / "o")]) == 1
    assert "code: schema_version_mismatch" in capsys.readouterr().err


def test_invalid_document_is_a_typed_error(tmp_path, capsys):
    doc = sample_report().model_dump(mode="json")
    doc["counts"]["run"] = -1
    src = tmp_path / "results.json"
    src.write_text(json.dumps(doc), encoding="utf-8")
    assert main(["report", "--from", str(src), "--out", str(tmp_path / "o")]) == 1
    assert "counts.run" in capsys.readouterr().err


def test_run_records_from_jsonl_with_manifest_and_bad_lines(tmp_path):
    good = [round_record(2), round_record(0)]
    bad = dict(round_record(1), participants=["silo1", "silo0"])  # unsorted: invalid RoundRecord
    (tmp_path / "rounds.jsonl").write_text(
        "\n".join(json.dumps(r) for r in [*good, bad]) + "\n\n[1, 2]\n", encoding="utf-8"
    )
    (tmp_path / "manifest.json").write_text(json.dumps({"control": "anchored"}), encoding="utf-8")
    runs = load_run_records(tmp_path)
    assert runs.control == "anchored" and runs.source == "rounds.jsonl"
    assert [r.round_index for r in runs.records] == [0, 2]
    assert len(runs.problems) == 2
    assert runs.problems[0].startswith("rounds.jsonl:3:") and "sorted" in runs.problems[0]
    assert runs.problems[1].startswith("rounds.jsonl:5:")


def test_a_rounds_file_under_another_name_is_not_read(tmp_path):
    (tmp_path / "records.jsonl").write_text(json.dumps(round_record(0)) + "\n", encoding="utf-8")
    runs = load_run_records(tmp_path)
    assert runs.source is None and runs.records == [] and "no rounds.jsonl" in runs.problems[0]


def test_run_records_disagreeing_control_is_a_problem(tmp_path):
    (tmp_path / "rounds.jsonl").write_text(json.dumps(round_record(0, "naive-fedavg")) + "\n", encoding="utf-8")
    (tmp_path / "manifest.json").write_text(json.dumps({"control": "anchored"}), encoding="utf-8")
    runs = load_run_records(tmp_path)
    assert any("manifest.json says 'anchored'" in p for p in runs.problems)


def test_run_dir_without_records(tmp_path):
    runs = load_run_records(tmp_path)
    assert runs.records == [] and "no rounds.jsonl or records/*.json" in runs.problems[0]
    with pytest.raises(ArtifactError):
        load_run_records(tmp_path / "missing")
