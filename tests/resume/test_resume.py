"""Killed runs resume bit-identically; a killed or failed run never looks complete.

Each case starts ``lensemble-spec train`` in a subprocess that SIGKILLs itself at a named point
(``_killer.py``: before round 0, inside a checkpoint write, between a checkpoint and its record,
between a record and the resume state, between the state's tensors and its JSON, after a
committed state), then checks that

* ``OUT`` does not exist and ``OUT.partial`` does (nothing that looks complete);
* ``verify OUT.partial`` says "incomplete run" with the last committed round and the resume command;
* ``train --resume OUT`` finishes, and every checkpoint content hash, the config hash, the probe
  bytes and every record (but its wall time) equal those of an uninterrupted run.

Catches: a resume that restarts the optimiser moments, the outer velocity or the samplers' data
order (hashes diverge from the first resumed round), one that keeps a checkpoint or record of an
uncommitted round (chain or record count wrong), a state file that can point at a torn tensor
file, and a partial directory promoted (or verified OK) as if complete.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _resume_tiny import TINY

from lensemble_spec.cli import main
from lensemble_spec.verify import verify_run

HERE = Path(__file__).resolve().parent
#: (control, kill point, last committed round). Six points, one inside a checkpoint write;
#: every control is resumed at least once.
CASES = [
    ("anchored", "request", None),
    ("anchored", "checkpoint:2", 1),
    ("naive-fedavg", "record:3", 2),
    ("local-only", "state:1", 0),
    ("centralized", "state-tensors:2", 1),
    ("anchored", "after-state:0", 0),
]
KILL_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("resume-config") / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, config_file: Path) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("resume-full")
    out = {}
    for control in sorted({c for c, _, _ in CASES}):
        out[control] = base / control
        assert (
            main(["train", "--control", control, "--out", str(out[control]), "--config", str(config_file), "--quiet"])
            == 0
        )
    return out


def fingerprint(run: Path) -> dict[str, Any]:
    """Everything a run's content fixes: checkpoint hashes, config hash, probe bytes, records
    (wall times dropped: they measure the machine, not the run)."""
    manifest = json.loads((run / "manifest.json").read_text())
    records = [json.loads(line) for line in (run / "rounds.jsonl").read_text().splitlines() if line.strip()]
    for rec in records:
        rec.pop("wall_time_s")
    return {
        "checkpoints": [(c["round_index"], c["participant"], c["content_hash"]) for c in manifest["checkpoints"]],
        "config_hash": manifest["config_hash"],
        "round_sketch_seeds": manifest["round_sketch_seeds"],
        "probe": (run / "probe.safetensors").read_bytes(),
        "records": records,
        "files": sorted(p.relative_to(run).as_posix() for p in run.rglob("*")),
    }


def kill_at(point: str, args: list[str], cwd: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, str(HERE / "_killer.py"), point, "--", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=KILL_TIMEOUT_S, check=False,
    )
    assert proc.returncode == -9, f"expected SIGKILL at {point}, got exit {proc.returncode}: {proc.stderr[-2000:]}"


@pytest.mark.slow
@pytest.mark.parametrize(("control", "point", "committed"), CASES, ids=[f"{c}-{p}" for c, p, _ in CASES])
def test_killed_run_resumes_bit_identically(
    tmp_path: Path, config_file: Path, uninterrupted: dict[str, Path], control: str, point: str, committed: int | None
) -> None:
    out = tmp_path / "run"
    kill_at(
        point, ["train", "--control", control, "--out", str(out), "--config", str(config_file), "--quiet"], tmp_path
    )
    partial = tmp_path / "run.partial"
    assert not out.exists(), "a killed run must not appear under --out"
    assert partial.is_dir()

    report = verify_run(partial)
    assert not report.ok
    (finding,) = [f for f in report.failures if "incomplete run" in f.message]
    assert f"--resume {out}" in finding.message
    expected = "no round committed" if committed is None else f"last committed round {committed}"
    assert expected in finding.message, finding.message

    # the recorded config is the one used: a flag that would change it is refused, nothing touched
    assert main(["train", "--resume", str(out), "--rounds", "9", "--quiet"]) == 1
    assert partial.is_dir() and not out.exists()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert not partial.exists()
    assert fingerprint(out) == fingerprint(uninterrupted[control])
    assert verify_run(out).failed_requirements() == verify_run(uninterrupted[control]).failed_requirements()


def test_resume_without_a_partial_run_is_a_typed_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--resume", str(tmp_path / "nothing"), "--quiet"]) == 1
    assert "nothing to resume" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_headline_resumes_to_the_same_results(tmp_path: Path, config_file: Path) -> None:
    """A headline killed inside its third control (two finished, one mid-run) resumes to the same
    comparison: every control's content hashes and the whole results.json equal an uninterrupted run's."""
    controls = "anchored,local-only,centralized"
    full = tmp_path / "full"
    assert (
        main(
            [
                "headline",
                "--out",
                str(full),
                "--config",
                str(config_file),
                "--rounds",
                "2",
                "--controls",
                controls,
                "--quiet",
            ]
        )
        == 0
    )
    out = tmp_path / "cmp"
    args = [
        "headline",
        "--out",
        str(out),
        "--config",
        str(config_file),
        "--rounds",
        "2",
        "--controls",
        controls,
        "--quiet",
    ]
    kill_at("after-state:1@centralized", args, tmp_path)
    partial = tmp_path / "cmp.partial"
    assert not out.exists() and partial.is_dir()
    assert (partial / "anchored" / "manifest.json").is_file() and (partial / "centralized.partial").is_dir()

    report = verify_run(partial)
    (finding,) = report.failures
    assert "incomplete comparison" in finding.message and "centralized (last committed round 1)" in finding.message
    assert f"headline --resume {out}" in finding.message

    assert main(["headline", "--resume", str(out), "--quiet"]) == 0
    assert not partial.exists()
    assert json.loads((out / "results.json").read_text()) == json.loads((full / "results.json").read_text())
    for control in controls.split(","):
        assert fingerprint(out / control) == fingerprint(full / control)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in full.iterdir())


@pytest.mark.slow
def test_a_run_started_by_lensemble_spec_0_1_is_not_resumed(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """RFC-0003 §6.3: a partial run whose recorded configuration names no sketch generator trained
    with the 0.1 NumPy sketches; resuming it would continue with other sketches, so it is refused
    (typed, with the remedy) and the partial directory is left as it was."""
    out = tmp_path / "run"
    kill_at(
        "request",
        ["train", "--control", "anchored", "--out", str(out), "--config", str(config_file), "--quiet"],
        tmp_path,
    )
    request = tmp_path / "run.partial" / "resume" / "request.json"
    doc = json.loads(request.read_text())
    del doc["config"]["sketch_generator"]
    request.write_text(json.dumps(doc))
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert main(["train", "--resume", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "lensemble-spec 0.1" in err and "sketch" in err and "again" in err
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before and not out.exists()
