"""RFC-0002 §4–§8 on runs: the anchor a run used, the backstop flags, the recorded drift, and the
bounds an anchored run holds.

Runs come from the harness (``FederationPart.run`` on the harness world, see ``_harness.RUN_SPECS``)
and from ``--run`` directories; recorded numbers are recomputed from the run's own files (round-t
checkpoints, ``probe.safetensors``) with the model part's ``encode``. The defects: targets
re-snapshotted every round, a missing anchor, drift that saturates or reads 0° for a degenerate
frame, collapse (rank or magnitude) hidden behind a small drift.
"""

from __future__ import annotations

import numpy as np
import pytest

from lensemble_spec.errors import ProbeError

from . import _oracle as oracle
from . import _recompute as rc
from . import bounds
from ._harness import assert_no_problems

FEDERATED = ("anchored", "naive-fedavg")


def _optional_runner(request):
    try:
        return request.getfixturevalue("runner")
    except pytest.skip.Exception:
        return None


def _successful(run):
    from .conftest import successful

    return successful(run)


# --- §4 the anchor -------------------------------------------------------------------------------------
@pytest.mark.requirement("GAUGE-022")
def test_run_rejects_a_probe_with_fewer_points_than_dimensions(runner, model_part):
    run = runner.get("short-probe")
    assert len(run.probe.points) < int(model_part.latent_dim)
    assert run.error is not None, "run accepted a probe with k < d points while the anchor weight is positive"
    assert isinstance(run.error, ProbeError), (
        f"expected ProbeError, got {type(run.error).__name__}: {run.error}"
    )


@pytest.mark.requirement("GAUGE-023")
def test_anchor_is_the_probe_and_the_round0_embedding(anchored_run, model_part):
    anchor = anchored_run.result.anchor
    assert anchor is not None, "an anchored run returned no anchor"
    assert oracle.bitwise_equal(np.asarray(anchor.points), np.asarray(anchored_run.probe.points)), "anchor points are not the probe's points"
    view = anchored_run.view
    theta0 = view.params(rc.round0_path(view))
    expected = oracle.as_array(model_part.encode(theta0, anchored_run.probe.points))
    assert oracle.allclose(oracle.as_array(anchor.targets), expected, rtol=bounds.EQUIV_RTOL, atol=bounds.EQUIV_ATOL), (
        "anchor targets are not encode(θ_0, points) of the run's round-0 checkpoint"
    )


@pytest.mark.requirement("GAUGE-024")
def test_reference_targets_are_the_round0_embedding(runs_under_test, model_part):
    problems: list[str] = []
    for view in runs_under_test:
        theta0 = view.params(rc.round0_path(view))
        expected = oracle.as_array(model_part.encode(theta0, view.probe_points()))
        if not oracle.allclose(view.probe_targets(), expected, rtol=bounds.EQUIV_RTOL, atol=bounds.EQUIV_ATOL):
            problems.append(f"{view.label}: probe.safetensors targets are not encode(θ_0, points)")
        anchor = view.harness.result.anchor if view.harness is not None else None
        if anchor is not None and not oracle.allclose(oracle.as_array(anchor.targets), expected, rtol=bounds.EQUIV_RTOL, atol=bounds.EQUIV_ATOL):
            problems.append(f"{view.label}: the returned anchor's targets were refreshed (≠ encode(θ_0, points))")
    assert_no_problems(problems, "reference targets")


@pytest.mark.requirement("GAUGE-025")
def test_anchor_weight_is_lambda_anchor(runner, anchored_run, run_level):
    names = ["tiny-naive"] + (["naive-fedavg", "local-only", "centralized"] if run_level == "full" else [])
    problems: list[str] = []
    for run in [anchored_run, *(_successful(runner.get(n)) for n in names)]:
        anchor, weight = run.result.anchor, run.config.lambda_anchor
        if weight == 0 and anchor is not None:
            problems.append(f"{run.name}: lambda_anchor = 0 but the run returned an anchor (weight {anchor.weight})")
        if weight > 0 and run.config.control == "anchored" and (anchor is None or float(anchor.weight) != weight):
            problems.append(f"{run.name}: anchor weight {None if anchor is None else anchor.weight} != lambda_anchor {weight}")
    assert_no_problems(problems, "anchor weight")


# --- §5 backstop flags ------------------------------------------------------------------------------------
def _backstop_enabled(view) -> bool:
    if view.harness is not None:
        return bool(view.harness.config.backstop)
    return bool(view.config().get("backstop"))


@pytest.mark.requirement("GAUGE-031")
def test_disabled_backstop_never_fires(request, runs_under_test):
    views = [v for v in runs_under_test if not _backstop_enabled(v)]
    runner = _optional_runner(request)
    if runner is not None:
        views.append(_successful(runner.get("tiny-naive")).view)
    problems = [
        f"{v.label}: round {r.get('round_index')} has backstop_fired {fired}"
        for v in views
        for r in v.records()
        if any((fired := r.get("backstop_fired") or {}).values())
    ]
    assert_no_problems(problems, "backstop disabled")


@pytest.mark.requirement("GAUGE-032")
def test_enabled_backstop_reports_every_participant(runs_under_test):
    problems: list[str] = []
    for view in runs_under_test:
        if not _backstop_enabled(view) or view.control not in FEDERATED:
            continue
        for rec in view.records():
            if rec.get("round_index", 0) >= 1:
                fired = rec.get("backstop_fired") or {}
                if sorted(fired) != sorted(rec.get("participants") or []):
                    problems.append(f"{view.label}: round {rec.get('round_index')} flags {sorted(fired)} for participants {rec.get('participants')}")
    assert_no_problems(problems, "backstop flags")


@pytest.mark.requirement("GAUGE-032")
def test_backstop_fires_above_a_zero_threshold(runner):
    run = _successful(runner.get("always-fire"))
    problems = []
    for rec in run.view.records():
        if rec.get("round_index", 0) >= 1:
            fired = rec.get("backstop_fired") or {}
            if sorted(fired) != sorted(rec.get("participants") or []) or not all(fired.values()):
                problems.append(f"round {rec.get('round_index')}: backstop_fired {fired} (threshold 0°: every drifted participant fires)")
    assert_no_problems(problems, "backstop at threshold 0")


# --- §6 drift diagnostics ---------------------------------------------------------------------------------
@pytest.mark.requirement("GAUGE-033")
def test_recorded_drift_to_reference_recomputes(runs_under_test, model_part):
    problems: list[str] = []
    for view in runs_under_test:
        for rec in view.records():
            t = rec.get("round_index")
            recorded = (rec.get("metrics") or {}).get("drift_to_reference_deg")
            drift = rc.drift_to_reference(view, t, model_part)
            if drift.degenerate:
                continue  # GAUGE-035's case
            if recorded is None:
                problems.append(f"{view.label}: round {t} records no drift; recomputed {drift.value:.4f}°")
            elif abs(recorded - drift.value) > bounds.RECOMPUTE_ANGLE_ATOL_DEG:
                problems.append(f"{view.label}: round {t} records {recorded:.4f}°, recomputed {drift.value:.4f}°")
    assert_no_problems(problems, "drift_to_reference_deg")


@pytest.mark.requirement("GAUGE-034")
def test_pairwise_drift_is_over_pairs_of_participants(runs_under_test, model_part):
    problems: list[str] = []
    for view in runs_under_test:
        for rec in view.records():
            t, m = rec.get("round_index"), rec.get("metrics") or {}
            mean, top = m.get("drift_pairwise_mean_deg"), m.get("drift_pairwise_max_deg")
            n = len(rec.get("participants") or [])
            if n < 2:
                if mean is not None or top is not None:
                    problems.append(f"{view.label}: round {t} has {n} participant(s) but pairwise drift {mean}/{top}")
                continue
            if view.control == "centralized":
                continue
            if (mean is None) != (top is None) or (mean is None and not m.get("drift_degenerate")):
                problems.append(f"{view.label}: round {t} ({n} participants) lacks a pairwise mean/max ({mean}/{top})")
            elif mean is not None and mean > top + 1e-9:
                problems.append(f"{view.label}: round {t} pairwise mean {mean} exceeds max {top}")
            if view.global_entry(t) is None and view.participant_entries(t):
                # participants' own models are in the run (local-only): recompute the pairs
                r_mean, r_max, degenerate = rc.pairwise(view, t, model_part)
                if degenerate:
                    if mean is not None:
                        problems.append(f"{view.label}: round {t} records pairwise {mean} for a degenerate pair")
                elif mean is None or abs(mean - r_mean) > bounds.RECOMPUTE_ANGLE_ATOL_DEG or abs(top - r_max) > bounds.RECOMPUTE_ANGLE_ATOL_DEG:
                    problems.append(f"{view.label}: round {t} pairwise {mean}/{top}, recomputed {r_mean:.4f}/{r_max:.4f}")
    assert_no_problems(problems, "pairwise drift")


def _degenerate_problems(view, model_part) -> list[str]:
    problems = []
    for rec in view.records():
        t, m = rec.get("round_index"), rec.get("metrics") or {}
        if rc.drift_to_reference(view, t, model_part).degenerate:
            if m.get("drift_to_reference_deg") is not None or m.get("drift_degenerate") is not True:
                problems.append(
                    f"{view.label}: round {t} is degenerate on recomputation but records drift "
                    f"{m.get('drift_to_reference_deg')!r} with drift_degenerate={m.get('drift_degenerate')!r}"
                )
    return problems


@pytest.mark.requirement("GAUGE-035")
def test_degenerate_drift_is_null_and_flagged(runner, model_part):
    run = runner.get("degenerate-probe")
    if isinstance(run.error, ProbeError):
        return  # refusing a probe that cannot pin a frame is also conformant
    run = _successful(run)
    problems = _degenerate_problems(run.view, model_part)
    if not any(rc.drift_to_reference(run.view, r["round_index"], model_part).degenerate for r in run.view.records()):
        problems.append("the constant-probe run was not degenerate on recomputation (harness assumption broken)")
    assert_no_problems(problems, "degenerate drift")


@pytest.mark.requirement("GAUGE-035")
def test_no_drift_value_where_the_frame_is_degenerate(runs_under_test, model_part):
    problems = [p for view in runs_under_test for p in _degenerate_problems(view, model_part)]
    assert_no_problems(problems, "degenerate drift")


# --- §8 bounds of an anchored run ---------------------------------------------------------------------------
@pytest.mark.requirement("GAUGE-040")
def test_anchored_drift_to_reference_is_bounded(anchored_runs):
    problems = []
    for view in anchored_runs:
        for rec in view.records():
            m = rec.get("metrics") or {}
            drift = m.get("drift_to_reference_deg")
            if m.get("drift_degenerate") or drift is None or drift > bounds.MAX_DRIFT_TO_REFERENCE_DEG:
                problems.append(f"{view.label}: round {rec.get('round_index')} drift {drift!r} (degenerate={m.get('drift_degenerate')})")
    assert_no_problems(problems, f"drift to reference above {bounds.MAX_DRIFT_TO_REFERENCE_DEG}°")


@pytest.mark.requirement("GAUGE-041")
def test_anchored_rank_does_not_collapse(anchored_runs):
    problems = []
    for view in anchored_runs:
        k, d = view.probe_targets().shape
        floor = bounds.MIN_RANK_FRACTION * min(d, k - 1)
        for rec in view.records():
            rank = (rec.get("metrics") or {}).get("effective_rank")
            if rank is None or rank < floor:
                problems.append(f"{view.label}: round {rec.get('round_index')} effective_rank {rank!r} < {floor}")
    assert_no_problems(problems, "rank collapse")


@pytest.mark.requirement("GAUGE-042")
def test_anchored_latent_scale_does_not_collapse(anchored_runs):
    problems = []
    for view in anchored_runs:
        for rec in view.records():
            std = (rec.get("metrics") or {}).get("latent_std_mean")
            if std is None or std < bounds.MIN_LATENT_STD:
                problems.append(f"{view.label}: round {rec.get('round_index')} latent_std_mean {std!r} < {bounds.MIN_LATENT_STD}")
    assert_no_problems(problems, "magnitude collapse")
