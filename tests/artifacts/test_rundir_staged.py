"""The library's run-directory writer, staged and resumed (``RunDirWriter(staged=True / resume=True)``).

Defects caught: a staged run that is visible under its final name before its manifest is
written, a second writer that wins the same claim, a finished run that keeps ``resume/`` or its
``.partial`` directory, a rollback that keeps what a later uncommitted round left (a checkpoint,
a record line, a temporary) or deletes the trainer's ``resume/`` state, a resumed run whose
bytes differ from an uninterrupted one, and rollback on a run that was never staged.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from lensemble_spec.artifacts import probe_hash
from lensemble_spec.artifacts.rundir import RunDirWriter
from lensemble_spec.artifacts.staging import partial_dir
from lensemble_spec.errors import ArtifactError
from lensemble_spec.metrics import round_sketch_seed
from lensemble_spec.protocol import FederationConfig
from lensemble_spec.verify import verify_run

PRODUCER = {"name": "tests/artifacts", "version": "1"}
ROUNDS = 3
CONFIG = dataclasses.asdict(FederationConfig(control="naive-fedavg", rounds=ROUNDS, lambda_anchor=0.0, backstop=False))
POINTS = np.random.default_rng(1).random((8, 1, 2, 2), dtype=np.float32)


def _open(out, **kwargs) -> RunDirWriter:
    return RunDirWriter(out, run_id="naive-test", control="naive-fedavg", config=CONFIG, producer=PRODUCER, **kwargs)


def _theta(r: int) -> dict[str, np.ndarray]:
    return {"encoder.w": np.random.default_rng(100 + r).standard_normal((4, 4)).astype(np.float32)}


def _round(w: RunDirWriter, r: int, parent: str | None) -> str:
    h = w.commit(_theta(r), round_index=r, parent_hash=parent)
    w.append_record({
        "run_id": w.run_id, "control": "naive-fedavg", "round_index": r,
        "participants": [] if r == 0 else ["a", "b"], "global_hash": h, "parent_hash": parent,
        "metrics": {"drift_degenerate": False}, "wall_time_s": 0.0,
    })  # fmt: skip
    return h


def _finish(w: RunDirWriter) -> None:
    w.finish(
        root_seed=0,
        round_sketch_seeds=[round_sketch_seed(0, r) for r in range(ROUNDS + 1)],
        probe_hash=probe_hash(POINTS),
        data_roots=["test:a"],
        split_policy={"rule": "one silo per test root"},
    )


def _uninterrupted(out) -> RunDirWriter:
    w = _open(out, staged=True)
    w.write_probe(POINTS, np.ones((8, 4), np.float32))
    parent = None
    for r in range(ROUNDS + 1):
        parent = _round(w, r, parent)
    _finish(w)
    return w


def _files(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _untimed(data: bytes) -> dict:
    return {k: v for k, v in json.loads(data).items() if k != "created_at"}


def test_a_staged_run_appears_under_its_final_name_only_when_finished(tmp_path):
    out = tmp_path / "run"
    w = _open(out, staged=True)
    assert w.run_dir == partial_dir(out) and w.final_dir == out and w.run_dir.is_dir()
    w.write_probe(POINTS, np.ones((8, 4), np.float32))
    (w.run_dir / "resume").mkdir()
    (w.run_dir / "resume" / "state.json").write_text("{}")  # the trainer's own state
    parent = None
    for r in range(ROUNDS + 1):
        parent = _round(w, r, parent)
        assert not out.exists()  # nothing under the final name while the run is written
    _finish(w)
    assert w.run_dir == out and not partial_dir(out).exists()
    assert not (out / "resume").exists()
    report = verify_run(out)
    assert report.ok, report.render_text(show_passed=False)


def test_only_one_writer_claims_an_output_directory(tmp_path):
    out = tmp_path / "run"
    _open(out, staged=True)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ArtifactError, match="in progress or was killed"):
        _open(out, staged=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not any(partial_dir(out).iterdir())


def test_resume_rolls_back_to_the_committed_round_and_finishes_bit_identical(tmp_path):
    reference = _uninterrupted(tmp_path / "ref").run_dir

    out = tmp_path / "run"
    w = _open(out, staged=True)
    w.write_probe(POINTS, np.ones((8, 4), np.float32))
    parent = None
    for r in range(2):
        parent = _round(w, r, parent)
    committed = list(w.checkpoints)  # what the trainer saves with its resume state after round 1
    (w.run_dir / "resume").mkdir()
    (w.run_dir / "resume" / "state.json").write_text(json.dumps({"round_index": 1}))
    _round(w, 2, parent)  # round 2 written but never committed by the trainer: the process is killed
    (w.run_dir / "checkpoints" / ".tmp-round-0003-x").mkdir()  # a temporary of the next write
    (w.run_dir / "stray.tmp").write_bytes(b"x")
    del w

    w = _open(out, resume=True)
    assert w.run_dir == partial_dir(out) and w.final_dir == out
    records = w.rollback(1, committed)
    assert [r["round_index"] for r in records] == [0, 1]
    assert sorted(_files(w.run_dir)) == [
        "checkpoints/round-0000/header.json",
        "checkpoints/round-0000/weights.safetensors",
        "checkpoints/round-0001/header.json",
        "checkpoints/round-0001/weights.safetensors",
        "probe.safetensors",
        "resume/state.json",
        "rounds.jsonl",
    ]
    parent = records[-1]["global_hash"]
    for r in range(2, ROUNDS + 1):
        parent = _round(w, r, parent)
    _finish(w)

    got, want = _files(out), _files(reference)
    assert sorted(got) == sorted(want)
    for name in got:  # every byte equal but the write times in the JSON documents
        if name.endswith(".json"):
            assert _untimed(got[name]) == _untimed(want[name]), name
        else:
            assert got[name] == want[name], name


def test_rollback_to_nothing_keeps_only_the_trainers_state(tmp_path):
    out = tmp_path / "run"
    w = _open(out, staged=True)
    w.write_probe(POINTS, np.ones((8, 4), np.float32))
    _round(w, 0, None)
    (w.run_dir / "resume").mkdir()
    (w.run_dir / "resume" / "request.json").write_text("{}")
    w = _open(out, resume=True)
    assert w.rollback(None) == [] and w.checkpoints == []
    assert sorted(_files(w.run_dir)) == ["resume/request.json"]


def test_rollback_refuses_records_that_do_not_match_the_committed_round(tmp_path):
    out = tmp_path / "run"
    w = _open(out, staged=True)
    w.write_probe(POINTS, np.ones((8, 4), np.float32))
    _round(w, 0, None)
    committed = list(w.checkpoints)
    w = _open(out, resume=True)
    with pytest.raises(ArtifactError, match="records of rounds 0…1"):
        w.rollback(1, committed)  # round 1 was never recorded


def test_rollback_and_resume_need_a_staged_run(tmp_path):
    direct = _open(tmp_path / "direct")
    with pytest.raises(ArtifactError, match="not a staged run"):
        direct.rollback(None)
    with pytest.raises(ArtifactError, match="nothing to resume"):
        _open(tmp_path / "never-started", resume=True)
