"""``train`` / ``headline`` refuse bad input with a typed error before writing anything.

Each case is one of the inputs that used to crash, hang or half-write (issue #13): a config that
divides by zero, asks for 10^5 threads or 10^9-sized tensors, a seed beyond 64 bits, a config
file nested 10^5 deep, not UTF-8, a directory, a FIFO, with a duplicate key; an ``--out`` under
``/proc``, under a regular file, through a dangling symlink, with a name too long; a run that
fails after it started. Every one must exit 1 with an error code and leave no directory that
looks like a run (nothing at ``--out``, no ``.partial`` left behind for a failure).

Concurrency: of several writers claiming one ``--out`` exactly one wins (the claim is an
``os.mkdir``), and two real ``train`` processes into one ``--out`` end with one complete run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from _resume_tiny import TINY, merged

from lensemble_reference.config import TrainConfig, load_config
from lensemble_spec.artifacts.staging import claim, partial_dir
from lensemble_spec.cli import main
from lensemble_spec.errors import ArtifactError, ConfigError
from lensemble_spec.verify import verify_run


def _write(tmp_path: Path, payload: bytes | str, name: str = "cfg.json") -> Path:
    path = tmp_path / name
    path.write_bytes(payload.encode() if isinstance(payload, str) else payload)
    return path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


#: name -> (config change, a word the error message must contain)
BAD_CONFIGS = {
    "action-dim-zero": ({"model": {"action_dim": 0}}, "action_dim"),
    "threads-huge": ({"threads": 100000}, "threads"),
    "probe-size-huge": ({"world": {"probe_size": 10**8}}, "probe_size"),
    "batch-size-huge": ({"batch_size": 10**9}, "batch_size"),
    "episodes-huge": ({"world": {"episodes_per_silo": 10**8}}, "episodes_per_silo"),
    "sketch-dim-huge": ({"sketch_dim": 10**8}, "sketch_dim"),
    "memory-estimate": ({"world": {"episodes_per_silo": 900_000, "horizon": 2000}}, "GiB"),
    "seed-beyond-64-bits": ({"seed": 2**64}, "seed"),
    "negative-seed": ({"seed": -1}, "seed"),
    "rounds-huge": ({"rounds": 10**9}, "rounds"),
    "inner-lr-huge": ({"inner_lr": 1e30}, "inner_lr"),
    "lambda-huge": ({"lambda_sigreg": 1e300}, "lambda_sigreg"),
}


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_out_of_range_config_is_a_typed_error_before_writing(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, word = BAD_CONFIGS[name]
    cfg = _write(tmp_path, json.dumps(merged(TINY, change)))
    out = tmp_path / "run"
    code, err = _run(["train", "--control", "anchored", "--out", str(out), "--config", str(cfg), "--quiet"], capsys)
    assert code == 1 and "code: config_invalid" in err, err
    assert word in err, err  # the message names the field (or the memory)
    assert not out.exists() and not partial_dir(out).exists()


def test_the_memory_estimate_names_what_is_too_big() -> None:
    cfg = TrainConfig.from_dict(
        {**TrainConfig().to_dict(), "world": {**TrainConfig().to_dict()["world"], "episodes_per_silo": 900_000}}
    )
    with pytest.raises(ConfigError, match="GiB.*world"):
        cfg.validate()


def test_seed_flag_beyond_64_bits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _write(tmp_path, json.dumps(TINY))
    code, err = _run(
        [
            "train",
            "--control",
            "anchored",
            "--out",
            str(tmp_path / "r"),
            "--config",
            str(cfg),
            "--seed",
            str(2**64),
            "--quiet",
        ],
        capsys,
    )
    assert code == 1 and "seed" in err and not list(tmp_path.glob("r*"))


CONFIG_FILES = {
    "nested-1e5": b"[" * 100_000 + b"]" * 100_000,
    "invalid-utf8": b'{"rounds": "\xff\xfe"}',
    "duplicate-key": b'{"rounds": 1, "rounds": 2}',
    "nan": b'{"inner_lr": NaN}',
    "not-an-object": b"[1, 2]",
    "escape-bomb": b'"' + b'\\"' * 400_000,
}


@pytest.mark.parametrize("name", sorted(CONFIG_FILES))
def test_hostile_config_file_is_refused(name: str, tmp_path: Path) -> None:
    path = _write(tmp_path, CONFIG_FILES[name])
    with pytest.raises(ConfigError):
        load_config(path)


@pytest.mark.parametrize("kind", ["directory", "fifo", "missing", "device"])
def test_config_that_is_not_a_regular_file_is_refused_without_blocking(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "cfg.json"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = Path("/dev/zero")
    with pytest.raises(ConfigError):
        load_config(path)


def test_out_problems_are_typed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _write(tmp_path, json.dumps(TINY))
    (tmp_path / "afile").write_text("x")
    os.symlink(tmp_path / "nowhere" / "x", tmp_path / "dangling")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    for out in (
        "/proc/lensemble-x",
        str(tmp_path / "afile" / "sub"),
        str(tmp_path / "dangling"),
        str(tmp_path / ("a" * 5000)),
        str(tmp_path / "full"),
    ):
        code, err = _run(["train", "--control", "anchored", "--out", out, "--config", str(cfg), "--quiet"], capsys)
        assert code == 1 and "code: artifact_invalid" in err, (out[:80], err[-500:])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "cfg.json", "dangling", "full"]


def test_a_run_that_fails_after_it_started_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typed error in round 2 (after round 0 and 1 were committed) deletes the partial run."""
    import lensemble_reference.federation as fed
    from lensemble_spec.errors import EvaluationError

    cfg = _write(tmp_path, json.dumps(TINY))
    out = tmp_path / "run"
    code, err = _run(
        ["train", "--control", "anchored", "--out", str(out), "--config", str(cfg), "--inner-lr", "1e30", "--quiet"],
        capsys,
    )
    assert code == 1 and "inner_lr" in err  # out of range: refused before anything is written
    calls = {"n": 0}
    original = fed.global_metrics

    def failing(setup, params):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            assert (partial_dir(out) / "checkpoints" / "round-0002").is_dir()  # the run really had started
            raise EvaluationError("embeddings contain non-finite values (injected)")
        return original(setup, params)

    monkeypatch.setattr(fed, "global_metrics", failing)
    code, err = _run(["train", "--control", "anchored", "--out", str(out), "--config", str(cfg), "--quiet"], capsys)
    assert code == 1 and "injected" in err and calls["n"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.json"]


def test_headline_bad_input_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _write(tmp_path, json.dumps({**TINY, "threads": 100000}))
    code, err = _run(["headline", "--out", str(tmp_path / "cmp"), "--config", str(cfg), "--quiet"], capsys)
    assert code == 1 and "threads" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.json"]


def test_out_and_resume_are_exclusive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["train", "--control", "anchored", "--quiet"], capsys)
    assert code == 1 and "--out" in err
    code, err = _run(
        ["train", "--control", "anchored", "--out", str(tmp_path / "a"), "--resume", str(tmp_path / "a"), "--quiet"],
        capsys,
    )
    assert code == 1 and "exactly one" in err


def test_exactly_one_concurrent_claim_wins(tmp_path: Path) -> None:
    out = tmp_path / "run"
    results: list[object] = []
    barrier = threading.Barrier(8)

    def contender() -> None:
        barrier.wait()
        try:
            results.append(claim(out))
        except ArtifactError as exc:
            results.append(exc)

    threads = [threading.Thread(target=contender) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if isinstance(r, Path)]
    assert len(winners) == 1 and winners[0] == partial_dir(out)
    assert all("in progress" in r.message for r in results if isinstance(r, ArtifactError))


@pytest.mark.slow
def test_two_trainers_into_one_out_end_with_one_complete_run(tmp_path: Path) -> None:
    cfg = _write(tmp_path, json.dumps(TINY))
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "lensemble_spec.cli",
        "train",
        "--control",
        "anchored",
        "--out",
        str(out),
        "--config",
        str(cfg),
        "--quiet",
    ]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 1], outcomes
    loser = next(err for code, err in outcomes if code == 1)
    assert "code: artifact_invalid" in loser
    assert not partial_dir(out).exists()
    assert verify_run(out).counts()["pass"] > 0 and not [
        f for f in verify_run(out).failures if f.requirement.startswith("ART")
    ]
