"""RFC-0005: comparisons of the four controls, per-round metrics, results tables and verdicts.

The harness makes its own comparison at ``--level full`` (one run of each control, same world,
same configuration except what RFC-0005 §2.1 lets a control change) and checks comparison
directories given with ``--run``; held-out metrics, series and verdicts of a ``results.json`` are
recomputed from the comparison's checkpoints (``conformance._evaluation``). The defects: controls
that differ in more than their defining settings (a naive rung that also drops SIGReg), a
"local-only" run that aggregates, per-round metrics that do not match the committed weights,
held-out numbers inside training records, non-finite numbers written as numbers, and verdicts
asserted rather than derived from tier-1 metrics.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from lensemble_spec.artifacts import load_json_file
from lensemble_spec.protocol import CONTROLS
from lensemble_spec.schemas import ResultsTable

from . import _evaluation as ev
from . import _oracle as oracle
from . import _recompute as rc
from . import bounds
from ._harness import assert_no_problems

SHARED_CONFIG = ("rounds", "inner_steps", "batch_size", "inner_lr", "lambda_sigreg", "outer")
HELDOUT_IN_RECORDS = ("val_pred", "val_pred_identity", "skill_vs_identity", "state_probe_r2")
ROW_METRICS = ("latent_dim", *ev.HELDOUT_METRICS)
ROW_SERIES = ("effective_rank", "latent_std_mean", "latent_rms", "drift_to_reference_deg")


def _silos_of(members: dict) -> set[str]:
    silos: set[str] = set()
    for view in members.values():
        if view.harness is not None:
            silos |= set(view.harness.silos)
        else:
            for rec in view.records():
                silos |= set(rec.get("participants") or [])
    return silos


# --- §2 comparisons ---------------------------------------------------------------------------------
@pytest.mark.requirement("EVAL-001")
def test_comparison_has_one_run_per_control_sharing_seed_probe_and_split(comparisons_under_test):
    problems = []
    for label, members in comparisons_under_test:
        controls = sorted(v.manifest().get("control") for v in members.values())
        if controls != sorted(CONTROLS):
            problems.append(f"{label}: controls {controls}, expected one run of each of {sorted(CONTROLS)}")
        for key in ("root_seed", "probe_hash", "split_policy"):
            values = {json.dumps(v.manifest().get(key), sort_keys=True) for v in members.values()}
            if len(values) != 1:
                problems.append(f"{label}: manifests disagree on {key}")
    assert_no_problems(problems, "comparison")


@pytest.mark.requirement("EVAL-002")
def test_round0_checkpoints_are_identical(comparisons_under_test):
    problems = []
    for label, members in comparisons_under_test:
        images = {}
        for name, view in members.items():
            images[name] = view.checkpoint(rc.round0_path(view)).tensors
        first_name, first = next(iter(images.items()))
        for name, tensors in images.items():
            if tensors != first:
                problems.append(f"{label}: round-0 tensors of {name} differ from {first_name}'s")
    assert_no_problems(problems, "round-0 checkpoints")


@pytest.mark.requirement("EVAL-003")
def test_controls_share_the_training_budget(comparisons_under_test):
    problems = []
    for label, members in comparisons_under_test:
        for key in SHARED_CONFIG:
            values = {json.dumps(v.config().get(key), sort_keys=True) for v in members.values()}
            if len(values) != 1:
                problems.append(f"{label}: manifest configs disagree on {key}: {sorted(values)}")
    assert_no_problems(problems, "shared configuration")


@pytest.mark.requirement("EVAL-004")
def test_naive_differs_from_anchored_only_in_anchor_and_backstop(comparisons_under_test):
    problems = []
    for label, members in comparisons_under_test:
        by_control = {v.manifest().get("control"): v for v in members.values()}
        if "anchored" not in by_control or "naive-fedavg" not in by_control:
            problems.append(f"{label}: needs both an anchored and a naive-fedavg run")
            continue
        a, n = by_control["anchored"].config(), by_control["naive-fedavg"].config()
        differing = sorted(k for k in set(a) | set(n) if a.get(k, "<absent>") != n.get(k, "<absent>"))
        extra = [k for k in differing if k not in ("control", "lambda_anchor", "backstop")]
        if extra:
            problems.append(f"{label}: naive-fedavg also differs from anchored in {extra}")
        if n.get("lambda_anchor") != 0 or n.get("backstop") is not False:
            problems.append(f"{label}: naive-fedavg has lambda_anchor={n.get('lambda_anchor')!r}, backstop={n.get('backstop')!r}")
    assert_no_problems(problems, "naive control")


@pytest.mark.requirement("EVAL-005")
def test_local_only_does_not_aggregate(comparisons_under_test):
    problems = []
    for label, members in comparisons_under_test:
        views = [v for v in members.values() if v.manifest().get("control") == "local-only"]
        if len(views) != 1:
            problems.append(f"{label}: no local-only run")
            continue
        view, silos = views[0], sorted(_silos_of(members))
        for rec in view.records():
            t = rec.get("round_index", 0)
            if t < 1:
                continue
            if rec.get("global_hash") is not None:
                problems.append(f"{label}: local-only round {t} has a global_hash")
            if sorted(rec.get("participants") or []) != silos:
                problems.append(f"{label}: local-only round {t} lists {rec.get('participants')}, not every silo {silos}")
            if sorted(view.participant_entries(t)) != silos:
                problems.append(f"{label}: local-only round {t} lists checkpoints for {sorted(view.participant_entries(t))}")
    assert_no_problems(problems, "local-only")


@pytest.mark.requirement("EVAL-006")
def test_centralized_trains_one_model_on_every_silo(comparisons_under_test):
    problems = []
    for label, members in comparisons_under_test:
        views = [v for v in members.values() if v.manifest().get("control") == "centralized"]
        if len(views) != 1:
            problems.append(f"{label}: no centralized run")
            continue
        view, silos = views[0], sorted(_silos_of(members))
        for rec in view.records():
            t = rec.get("round_index", 0)
            if t < 1:
                continue
            if sorted(rec.get("participants") or []) != silos:
                problems.append(f"{label}: centralized round {t} lists {rec.get('participants')}, not every silo")
            entry = view.global_entry(t)
            if rec.get("global_hash") is None or entry is None or entry.get("content_hash") != rec.get("global_hash"):
                problems.append(f"{label}: centralized round {t} names no committed global checkpoint")
    assert_no_problems(problems, "centralized")


# --- §4.1 per-round metrics ---------------------------------------------------------------------------
@pytest.mark.requirement("EVAL-007")
def test_round_collapse_metrics_recompute_from_checkpoints(runs_under_test, model_part):
    problems = []
    for view in runs_under_test:
        for rec in view.records():
            t, m = rec.get("round_index"), rec.get("metrics") or {}
            expected = rc.collapse(view, t, model_part)
            for name, want in expected.items():
                got = m.get(name)
                if got is None or not oracle.close_scalar(got, want, rtol=bounds.RECOMPUTE_RTOL, atol=bounds.RECOMPUTE_ATOL):
                    problems.append(f"{view.label}: round {t} {name} recorded {got!r}, recomputed {want:.6g}")
    assert_no_problems(problems, "per-round collapse metrics")


@pytest.mark.requirement("EVAL-008")
def test_records_hold_no_heldout_metrics(runs_under_test):
    problems = [
        f"{view.label}: round {rec.get('round_index')} records {name} = {value!r}"
        for view in runs_under_test
        for rec in view.records()
        for name in HELDOUT_IN_RECORDS
        if (value := (rec.get("metrics") or {}).get(name)) is not None
    ]
    assert_no_problems(problems, "held-out metrics in round records")


def _scale_problems(where: str, m: dict) -> list[str]:
    if m.get("effective_rank") is None and m.get("effective_dim") is None:
        return []
    missing = [k for k in ("latent_std_mean", "latent_rms") if m.get(k) is None]
    return [f"{where}: reports a rank but not {missing}"] if missing else []


@pytest.mark.requirement("EVAL-009")
def test_records_pair_rank_with_scale(runs_under_test):
    problems = [p for view in runs_under_test for rec in view.records() for p in _scale_problems(f"{view.label} round {rec.get('round_index')}", rec.get("metrics") or {})]
    assert_no_problems(problems, "rank without scale")


# --- §4.2–§6 results tables (comparison directories given with --run) -------------------------------------
def _table(path: Path) -> dict:
    doc = load_json_file(Path(path) / "results.json")
    if not isinstance(doc, dict):
        raise AssertionError(f"{path}/results.json is not a JSON object")
    return doc


def _rows(path: Path) -> dict[str, dict]:
    return {row.get("control"): row for row in _table(path).get("controls", []) if isinstance(row, dict)}


def _rounds(members: dict) -> int:
    values = {v.rounds() for v in members.values()}
    if len(values) != 1:
        raise AssertionError(f"runs disagree on the number of rounds: {sorted(values)}")
    return values.pop()


def _view_of(members: dict, control: str):
    hits = [v for v in members.values() if v.manifest().get("control") == control]
    return hits[0] if len(hits) == 1 else None


@pytest.mark.requirement("EVAL-009")
def test_results_rows_pair_rank_with_scale(results_tables):
    problems = [p for path, _m in results_tables for c, row in _rows(path).items() for p in _scale_problems(f"{path}:{c}", row.get("metrics") or {})]
    assert_no_problems(problems, "rank without scale")


def _compare(where: str, got: Any, want: float | None, name: str) -> list[str]:
    if want is None:
        return [] if got is None else [f"{where}: {name} = {got!r}, recomputed as not finite (must be null)"]
    if got is None:
        return [f"{where}: {name} is null, recomputed {want:.6g}"]
    if name in ev.ANGLE_METRICS:
        ok = abs(got - want) <= bounds.RECOMPUTE_ANGLE_ATOL_DEG
    else:
        ok = oracle.close_scalar(got, want, rtol=bounds.RECOMPUTE_RTOL, atol=bounds.RECOMPUTE_ATOL)
    return [] if ok else [f"{where}: {name} = {got!r}, recomputed {want:.6g}"]


@pytest.mark.requirement("EVAL-010")
def test_results_metrics_recompute_from_final_checkpoints(results_tables, model_part):
    problems = []
    for path, members in results_tables:
        heldout = ev.heldout_for(_table(path).get("split"), members, model_part)
        if heldout is None:
            pytest.skip(f"{path}: the held-out split cannot be rebuilt (see conformance/_evaluation.py)")
        rounds = _rounds(members)
        for control, row in _rows(path).items():
            view = _view_of(members, control)
            if view is None:
                problems.append(f"{path}: row {control} has no run directory")
                continue
            expected = ev.round_metrics(view, rounds, model_part, heldout)
            metrics = row.get("metrics") or {}
            for name in ev.HELDOUT_METRICS:
                problems += _compare(f"{path}:{control}", metrics.get(name), expected[name], name)
            if metrics.get("latent_dim") != int(model_part.latent_dim):
                problems.append(f"{path}:{control}: latent_dim {metrics.get('latent_dim')!r} != {model_part.latent_dim}")
    assert_no_problems(problems, "results metrics")


@pytest.mark.requirement("EVAL-011")
def test_results_series_recompute_per_round(results_tables, model_part):
    problems = []
    for path, members in results_tables:
        heldout = ev.heldout_for(_table(path).get("split"), members, model_part)
        if heldout is None:
            pytest.skip(f"{path}: the held-out split cannot be rebuilt (see conformance/_evaluation.py)")
        for control, row in _rows(path).items():
            view = _view_of(members, control)
            if view is None:
                continue
            series = {k: v for k, v in (row.get("series") or {}).items() if k in ev.HELDOUT_METRICS}
            per_round: dict[int, dict] = {}
            for name, values in series.items():
                for t, got in enumerate(values or []):
                    if t not in per_round:
                        per_round[t] = ev.round_metrics(view, t, model_part, heldout)
                    problems += _compare(f"{path}:{control} round {t}", got, per_round[t][name], name)
    assert_no_problems(problems, "results series")


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


@pytest.mark.requirement("EVAL-013", "EVAL-014")
def test_verdicts_follow_the_tier1_rule(results_tables):
    problems = []
    for path, _members in results_tables:
        for control, row in _rows(path).items():
            metrics, series = row.get("metrics") or {}, row.get("series") or {}
            expected = oracle.verdict(metrics, series)
            if row.get("verdict") not in oracle.VERDICTS:
                problems.append(f"{path}:{control}: verdict {row.get('verdict')!r} is not one of {oracle.VERDICTS}")
            elif row.get("verdict") != expected:
                problems.append(f"{path}:{control}: verdict {row.get('verdict')!r}, the RFC-0005 §5 rule gives {expected!r}")
    assert_no_problems(problems, "verdicts")


@pytest.mark.requirement("EVAL-015")
def test_results_table_validates_with_one_row_per_control(results_tables):
    problems = []
    for path, _members in results_tables:
        try:
            table = ResultsTable.model_validate(_table(path))
        except Exception as exc:
            problems.append(f"{path}/results.json is not a ResultsTable: {exc}")
            continue
        controls = sorted(row.control for row in table.controls)
        if table.schema_version != 1 or controls != sorted(CONTROLS):
            problems.append(f"{path}: schema_version {table.schema_version}, rows {controls}")
    assert_no_problems(problems, "results table")


@pytest.mark.requirement("EVAL-016")
def test_results_rows_carry_every_metric(results_tables):
    problems = []
    for path, _members in results_tables:
        for control, row in _rows(path).items():
            metrics = row.get("metrics") or {}
            missing = [k for k in ROW_METRICS if k not in metrics]
            bad = [k for k in ROW_METRICS if k in metrics and metrics[k] is not None and not (isinstance(metrics[k], (int, float)) and math.isfinite(metrics[k]))]
            if missing or bad:
                problems.append(f"{path}:{control}: missing {missing}, not finite-or-null {bad}")
    assert_no_problems(problems, "results metrics keys")


@pytest.mark.requirement("EVAL-017")
def test_results_rows_carry_full_series(results_tables):
    problems = []
    for path, members in results_tables:
        rounds = _rounds(members)
        for control, row in _rows(path).items():
            series = row.get("series") or {}
            for key in ROW_SERIES:
                values = series.get(key)
                if not isinstance(values, list) or len(values) != rounds + 1:
                    problems.append(f"{path}:{control}: series {key} has {None if values is None else len(values)} entries, expected {rounds + 1}")
    assert_no_problems(problems, "results series")


@pytest.mark.requirement("EVAL-018")
def test_published_rows_pin_their_checkpoints(results_tables):
    problems = []
    for path, _members in results_tables:
        for control, row in _rows(path).items():
            for pin in row.get("pins") or []:
                if "/" in str(pin.get("uri", "")).split("@", 1)[-1] and not pin.get("sha256"):
                    problems.append(f"{path}:{control}: pin {pin.get('uri')} has no sha256")
    assert_no_problems(problems, "pins")

