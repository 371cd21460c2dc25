"""The library's run-directory writer (``lensemble_spec.artifacts.rundir``): what it writes verifies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lensemble_spec.artifacts import probe_hash
from lensemble_spec.artifacts.rundir import RunDirWriter
from lensemble_spec.errors import ArtifactError
from lensemble_spec.metrics import round_sketch_seed
from lensemble_spec.protocol import FederationConfig
from lensemble_spec.verify import verify_run

PRODUCER = {"name": "tests/artifacts", "version": "1"}


def _write(run_dir, *, rounds: int = 2) -> RunDirWriter:
    cfg = dataclasses.asdict(FederationConfig(control="naive-fedavg", rounds=rounds, lambda_anchor=0.0, backstop=False))
    w = RunDirWriter(run_dir, run_id="naive-test", control="naive-fedavg", config=cfg, producer=PRODUCER)
    rng = np.random.default_rng(0)
    points = rng.random((8, 1, 2, 2), dtype=np.float32)
    w.write_probe(points, rng.standard_normal((8, 4)).astype(np.float32))
    parent = None
    for r in range(rounds + 1):
        theta = {"encoder.w": rng.standard_normal((4, 4)).astype(np.float32)}
        h = w.commit(theta, round_index=r, parent_hash=parent)
        w.append_record({
            "run_id": w.run_id, "control": "naive-fedavg", "round_index": r,
            "participants": [] if r == 0 else ["a", "b"], "global_hash": h, "parent_hash": parent,
            "metrics": {"drift_degenerate": False}, "wall_time_s": 0.0,
        })  # fmt: skip
        parent = h
    w.finish(
        root_seed=0,
        round_sketch_seeds=[round_sketch_seed(0, r) for r in range(rounds + 1)],
        probe_hash=probe_hash(points),
        data_roots=["test:a", "test:b"],
        split_policy={"rule": "one silo per test root"},
    )
    return w


def test_written_run_directory_verifies(tmp_path):
    _write(tmp_path / "run")
    report = verify_run(tmp_path / "run")
    assert report.ok, report.render_text(show_passed=False)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "checkpoints",
        "manifest.json",
        "probe.safetensors",
        "rounds.jsonl",
    ]


def test_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "stray").write_text("x")
    with pytest.raises(ArtifactError):
        RunDirWriter(tmp_path / "run", run_id="x", control="anchored", config={}, producer=PRODUCER)


def test_invalid_record_is_refused_before_anything_is_written(tmp_path):
    w = RunDirWriter(tmp_path / "run", run_id="x", control="anchored", config={}, producer=PRODUCER)
    with pytest.raises(Exception):  # noqa: B017 — pydantic's ValidationError
        w.append_record({"run_id": "x", "control": "anchored", "round_index": 0})
    assert not (tmp_path / "run" / "rounds.jsonl").exists()
