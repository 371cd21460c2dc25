"""RFC-0003 §2, §4 and §6 on runs: residency, the round records' sequence, quorum, the hash chain,
and the sketch seeds.

Runs come from the harness (``FederationPart.run`` on the harness world) and from ``--run``
directories. The defects: a run directory that carries raw silo data (FED-005), a global that
grows a non-shared parameter group (FED-002), missing or reordered rounds, rounds committed below
quorum, a broken parent chain and sketch seeds a third party cannot rebuild.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lensemble_spec.errors import QuorumNotMet

from . import _oracle as oracle
from ._assertions import assert_each_run

RELEASABLE = ("encoder.", "predictor.")
WITH_GLOBAL = ("anchored", "naive-fedavg", "centralized")


def _successful(run):
    from .conftest import successful

    return successful(run)


def _config_value(view, key: str):
    if view.harness is not None:
        return getattr(view.harness.config, key)
    return view.config().get(key)


# --- §2 residency ---------------------------------------------------------------------------------------
def _non_shared_parameters(view):
    for entry in view.checkpoint_entries():
        names = view.checkpoint(str(entry.get("path"))).tensors
        foreign = sorted(n for n in names if not n.startswith(RELEASABLE))
        if foreign:
            yield f"checkpoint {entry.get('path')} holds {foreign[:3]}"
    if view.harness is not None and view.harness.result.final_params is not None:
        foreign = sorted(n for n in view.harness.result.final_params if not str(n).startswith(RELEASABLE))
        if foreign:
            yield f"final parameters hold {foreign[:3]}"


@pytest.mark.requirement("FED-002")
def test_global_model_holds_only_shared_parameters(runs_under_test):
    assert_each_run(runs_under_test, _non_shared_parameters, "non-shared parameters in the global model")


def _allowed_files(view) -> set[str]:
    allowed = {"manifest.json", "rounds.jsonl", "probe.safetensors"}
    for entry in view.checkpoint_entries():
        rel = str(entry.get("path"))
        ckpt = view.checkpoint(rel)
        allowed.add(f"{rel}/header.json")
        allowed.update(f"{rel}/{wf}" for wf in ckpt.header.get("weight_files", []))
    return allowed


def _data_chunks(silos, public: bytes) -> list[tuple[str, bytes]]:
    """A few 128-byte runs of every silo array that identify it: varied (≥ 24 distinct 4-byte
    words, so not a flat background) and absent from the public probe's bytes. A file that holds
    the array (in its own dtype, little-endian) holds these bytes."""
    chunks = []
    for silo in silos.values():
        for what in ("obs", "actions", "states"):
            raw = np.ascontiguousarray(getattr(silo, what)).tobytes()
            found = 0
            for i in range(1, 64):
                start = (len(raw) * i // 64) // 4 * 4
                chunk = raw[start : start + 128]
                if (
                    len(chunk) == 128
                    and len({chunk[j : j + 4] for j in range(0, 128, 4)}) >= 24
                    and chunk not in public
                ):
                    chunks.append((f"{silo.name}.{what}", chunk))
                    found += 1
                    if found == 3:
                        break
    return chunks


def _silo_data_on_disk(view):
    allowed = _allowed_files(view)
    public = np.ascontiguousarray(view.harness.probe.points).tobytes() if view.harness is not None else b""
    chunks = _data_chunks(view.harness.silos, public) if view.harness is not None else []
    for path in sorted(Path(view.root).rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(view.root).as_posix()
        if rel not in allowed and not (rel.startswith("logs/") and rel.endswith((".log", ".txt"))):
            yield f"unexpected file {rel}"
        data = path.read_bytes()
        leaked = sorted({name for name, chunk in chunks if chunk and chunk in data})
        if leaked:
            yield f"{rel} contains raw silo data ({', '.join(leaked)})"


@pytest.mark.requirement("FED-005")
def test_run_directory_holds_no_silo_data(runs_under_test):
    assert_each_run(runs_under_test, _silo_data_on_disk, "run directory content")


# --- §4 rounds ------------------------------------------------------------------------------------------
def _round_order(view):
    indices = [r.get("round_index") for r in view.records()]
    expected = list(range(view.rounds() + 1))
    if indices != expected:
        yield f"round indices {indices}, expected {expected}"
    elif view.records()[0].get("participants") != []:
        yield f"record 0 lists participants {view.records()[0].get('participants')}"


@pytest.mark.requirement("FED-009")
def test_one_record_per_round_in_order(runs_under_test):
    assert_each_run(runs_under_test, _round_order, "round records")


def _record_participants(view):
    given = set(view.harness.silos) if view.harness is not None else None
    for rec in view.records():
        t, parts = rec.get("round_index"), rec.get("participants")
        if rec.get("control") != view.control:
            yield f"round {t} names control {rec.get('control')!r}, run is {view.control!r}"
        if not isinstance(parts, list) or parts != sorted(set(parts)):
            yield f"round {t} participants {parts!r} are not sorted and distinct"
        elif given is not None and not set(parts) <= given:
            yield f"round {t} lists {sorted(set(parts) - given)}, not silos given to the run"


@pytest.mark.requirement("FED-010")
def test_records_name_the_control_and_sorted_given_silos(runs_under_test):
    assert_each_run(runs_under_test, _record_participants, "record participants")


def _below_quorum(view):
    if view.control not in ("anchored", "naive-fedavg"):
        return
    quorum = int(_config_value(view, "min_participants") or 1)
    for rec in view.records():
        if rec.get("round_index", 0) >= 1 and len(rec.get("participants") or []) < quorum:
            yield f"round {rec.get('round_index')} committed {rec.get('participants')} below quorum {quorum}"


@pytest.mark.requirement("FED-011")
def test_committed_rounds_meet_the_quorum(runs_under_test):
    assert_each_run(runs_under_test, _below_quorum, "quorum")


@pytest.mark.requirement("FED-012")
def test_run_below_quorum_raises_and_commits_nothing(runner):
    run = runner.get("quorum")
    assert len(run.silos) < run.config.min_participants
    assert isinstance(run.error, QuorumNotMet), (
        f"expected QuorumNotMet, got "
        f"{'no error' if run.error is None else type(run.error).__name__ + ': ' + str(run.error)}"
    )
    out = Path(run.out_dir)
    committed = sorted(p.relative_to(out).as_posix() for p in out.rglob("header.json")) if out.exists() else []
    late = [p for p in committed if "round-0000" not in p]
    assert not late, f"checkpoints committed after round 0: {late}"
    rounds = out / "rounds.jsonl"
    if rounds.exists():
        lines = [ln for ln in rounds.read_bytes().splitlines() if ln.strip()]
        assert len(lines) <= 1, f"{len(lines)} round records written below quorum"


def _broken_chain(view):
    if view.control not in WITH_GLOBAL:
        return
    records = view.records()
    if records and records[0].get("parent_hash") is not None:
        yield f"record 0 has parent_hash {records[0].get('parent_hash')}"
    for prev, rec in zip(records, records[1:]):
        if rec.get("parent_hash") != prev.get("global_hash") or rec.get("parent_hash") is None:
            yield (
                f"round {rec.get('round_index')} parent {rec.get('parent_hash')} != "
                f"round {prev.get('round_index')} global {prev.get('global_hash')}"
            )


@pytest.mark.requirement("FED-013")
def test_parent_hash_chain_of_records(runs_under_test):
    assert_each_run(runs_under_test, _broken_chain, "record hash chain")


# --- §6 seeds -------------------------------------------------------------------------------------------
def _sketch_seeds(view):
    manifest = view.manifest()
    root = _config_value(view, "seed")
    if manifest.get("root_seed") != root:
        yield f"manifest root_seed {manifest.get('root_seed')} != configured seed {root}"
        return
    expected = [oracle.derive_seed(root, f"sketch:{t}") for t in range(view.rounds() + 1)]
    if manifest.get("round_sketch_seeds") != expected:
        yield f"round_sketch_seeds {manifest.get('round_sketch_seeds')} != {expected}"


@pytest.mark.requirement("FED-026")
def test_manifest_lists_the_derived_sketch_seeds(runs_under_test):
    assert_each_run(runs_under_test, _sketch_seeds, "sketch seeds")


@pytest.mark.requirement("FED-028")
@pytest.mark.level("full")
def test_identical_runs_commit_identical_globals(runner):
    a, b = _successful(runner.get("twin-a")), _successful(runner.get("twin-b"))
    ha = [r.get("global_hash") for r in a.view.records()]
    hb = [r.get("global_hash") for r in b.view.records()]
    assert ha == hb and all(ha), f"two identical runs committed {ha} and {hb}"
