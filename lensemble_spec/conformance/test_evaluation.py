"""RFC-0005 on comparisons: what the controls do, non-finite numbers, and published pins.

The harness makes its own comparison at ``--level full`` (one run of each control, from the
implementation's ``run`` and driven through its primitives) and checks comparison directories
given with ``--run``. Everything the verifier checks on a comparison — one run per control sharing
seed, probe, split, θ_0 and budget (EVAL-001…004), recorded per-round metrics (EVAL-007…009),
results tables recomputed and their verdicts re-derived (EVAL-010, EVAL-011, EVAL-013…017) — is
checked once, by ``lensemble_spec.verify`` (``test_run_findings.py``). Here: what the controls
do over rounds (a "local-only" run that aggregates, a "centralized" one that trains on part of the
data), non-finite numbers written as numbers, and unpinned published rows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from lensemble_spec.artifacts import load_json_file

from ._assertions import assert_no_problems


def _silos_of(members: dict) -> set[str]:
    silos: set[str] = set()
    for view in members.values():
        if view.harness is not None:
            silos |= set(view.harness.silos)
        else:
            for rec in view.records():
                silos |= set(rec.get("participants") or [])
    return silos


def _training_rounds(comparisons, control: str, problems: list[str]):
    """``(label, view, every silo, record)`` for each round ``t >= 1`` of each comparison's
    ``control`` run; a comparison without exactly one such run is a problem."""
    for label, members in comparisons:
        views = [v for v in members.values() if v.manifest().get("control") == control]
        if len(views) != 1:
            problems.append(f"{label}: no {control} run")
            continue
        silos = sorted(_silos_of(members))
        for rec in views[0].records():
            if rec.get("round_index", 0) >= 1:
                yield label, views[0], silos, rec


@pytest.mark.requirement("EVAL-005")
def test_local_only_does_not_aggregate(comparisons_under_test):
    problems: list[str] = []
    for label, view, silos, rec in _training_rounds(comparisons_under_test, "local-only", problems):
        t = rec["round_index"]
        if rec.get("global_hash") is not None:
            problems.append(f"{label}: local-only round {t} has a global_hash")
        if sorted(rec.get("participants") or []) != silos:
            problems.append(f"{label}: local-only round {t} lists {rec.get('participants')}, not every silo {silos}")
        if sorted(view.participant_entries(t)) != silos:
            problems.append(
                f"{label}: local-only round {t} lists checkpoints for {sorted(view.participant_entries(t))}"
            )
    assert_no_problems(problems, "local-only")


@pytest.mark.requirement("EVAL-006")
def test_centralized_trains_one_model_on_every_silo(comparisons_under_test):
    problems: list[str] = []
    for label, view, silos, rec in _training_rounds(comparisons_under_test, "centralized", problems):
        t = rec["round_index"]
        if sorted(rec.get("participants") or []) != silos:
            problems.append(f"{label}: centralized round {t} lists {rec.get('participants')}, not every silo")
        entry = view.global_entry(t)
        if rec.get("global_hash") is None or entry is None or entry.get("content_hash") != rec.get("global_hash"):
            problems.append(f"{label}: centralized round {t} names no committed global checkpoint")
    assert_no_problems(problems, "centralized")


# --- §4.2–§6 results tables (comparison directories given with --run) -------------------------------------
def _table(path: Path) -> dict:
    doc = load_json_file(Path(path) / "results.json")
    if not isinstance(doc, dict):
        raise AssertionError(f"{path}/results.json is not a JSON object")
    return doc


def _rows(path: Path) -> dict[str, dict]:
    return {row.get("control"): row for row in _table(path).get("controls", []) if isinstance(row, dict)}


def _non_finite(obj: Any, where: str) -> list[str]:
    if isinstance(obj, float) and not math.isfinite(obj):
        return [f"{where}: {obj!r}"]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _non_finite(v, f"{where}.{k}")]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _non_finite(v, f"{where}[{i}]")]
    return []


def _lenient(data: bytes) -> Any:
    return json.loads(data)  # accepts NaN/Infinity literals and overflowing exponents, to find them


@pytest.mark.requirement("EVAL-012")
def test_non_finite_values_are_written_as_null(request, runs_under_test):
    problems = []
    for view in runs_under_test:
        path = Path(view.root) / "rounds.jsonl"
        if path.exists():
            for i, line in enumerate(path.read_bytes().splitlines()):
                if line.strip():
                    problems += _non_finite(_lenient(line), f"{view.label} rounds.jsonl:{i + 1}")
    try:
        tables = request.getfixturevalue("results_tables")
    except pytest.skip.Exception:
        tables = []
    for path, _m in tables:
        problems += _non_finite(_lenient((Path(path) / "results.json").read_bytes()), f"{path}/results.json")
    assert_no_problems(problems, "non-finite numbers")


@pytest.mark.requirement("EVAL-018")
def test_published_rows_pin_their_checkpoints(results_tables):
    problems = []
    for path, _members in results_tables:
        for control, row in _rows(path).items():
            for pin in row.get("pins") or []:
                if "/" in str(pin.get("uri", "")).split("@", 1)[-1] and not pin.get("sha256"):
                    problems.append(f"{path}:{control}: pin {pin.get('uri')} has no sha256")
    assert_no_problems(problems, "pins")
