"""RFC-0002 §4–§8 on runs: the anchor a run used, the backstop flags, the recorded drift, and the
bounds an anchored run holds.

Runs come from the harness (the implementation's ``FederationPart.run`` and the runs the harness
drives through its primitives, on the harness world, see ``_runs.RUN_SPECS``). What a run
directory records — targets that re-encode from θ_0 (GAUGE-024), backstop flags of a disabled
backstop (GAUGE-031), recorded drift (GAUGE-033–035) and the bounds of an anchored run (GAUGE-040–042)
— is checked once, by ``lensemble_spec.verify`` (``test_run_findings.py``). Here: what only the
harness can see — the anchor a run returned, how it reacts to a too-small or constant probe, and
whether the backstop fires when it must. The defects: targets re-snapshotted every round, a
missing anchor, a probe that cannot pin a frame accepted, a degenerate frame read as 0°.
"""

from __future__ import annotations

import numpy as np
import pytest

from lensemble_spec.errors import ProbeError

from . import _assertions as check
from . import bounds
from ._assertions import assert_no_problems

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
    assert check.bitwise_equal(np.asarray(anchor.points), np.asarray(anchored_run.probe.points)), (
        "anchor points are not the probe's points"
    )
    view = anchored_run.view
    theta0 = view.params(_round0_path(view))
    expected = check.as_array(model_part.encode(theta0, anchored_run.probe.points))
    assert check.allclose(check.as_array(anchor.targets), expected, rtol=bounds.EQUIV_RTOL, atol=bounds.EQUIV_ATOL), (
        "anchor targets are not encode(θ_0, points) of the run's round-0 checkpoint"
    )


@pytest.mark.requirement("GAUGE-024")
def test_returned_anchor_targets_are_never_refreshed(runs_under_test, model_part):
    """The anchor a harness run returns still holds ``encode(θ_0, points)`` after the last round
    (the probe file's targets are the verifier's business)."""
    problems: list[str] = []
    views = [v for v in runs_under_test if v.harness is not None and v.harness.result.anchor is not None]
    if not views:
        pytest.skip("no harness run returned an anchor")
    for view in views:
        theta0 = view.params(_round0_path(view))
        expected = check.as_array(model_part.encode(theta0, view.probe_points()))
        if not check.allclose(
            check.as_array(view.harness.result.anchor.targets), expected, rtol=bounds.EQUIV_RTOL, atol=bounds.EQUIV_ATOL
        ):
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
            problems.append(
                f"{run.name}: anchor weight {None if anchor is None else anchor.weight} != lambda_anchor {weight}"
            )
    assert_no_problems(problems, "anchor weight")


# --- §5 backstop flags ------------------------------------------------------------------------------------
def _backstop_enabled(view) -> bool:
    if view.harness is not None:
        return bool(view.harness.config.backstop)
    return bool(view.config().get("backstop"))


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
                    problems.append(
                        f"{view.label}: round {rec.get('round_index')} flags {sorted(fired)} for participants "
                        f"{rec.get('participants')}"
                    )
    assert_no_problems(problems, "backstop flags")


@pytest.mark.requirement("GAUGE-032")
def test_backstop_fires_above_a_zero_threshold(runner):
    run = _successful(runner.get("always-fire"))
    problems = []
    for rec in run.view.records():
        if rec.get("round_index", 0) >= 1:
            fired = rec.get("backstop_fired") or {}
            if sorted(fired) != sorted(rec.get("participants") or []) or not all(fired.values()):
                problems.append(
                    f"round {rec.get('round_index')}: backstop_fired {fired} (threshold 0°: every drifted participant "
                    f"fires)"
                )
    assert_no_problems(problems, "backstop at threshold 0")


# --- §6 drift diagnostics ---------------------------------------------------------------------------------
@pytest.mark.requirement("GAUGE-035")
def test_degenerate_drift_is_null_and_flagged(runner, impl):
    """A constant probe cannot pin a frame: the run refuses it (ProbeError) or records its drift
    as null with ``drift_degenerate`` set — checked by the verifier on the run's own files."""
    from lensemble_spec.verify import verify_run

    run = runner.get("degenerate-probe")
    if isinstance(run.error, ProbeError):
        return  # refusing a probe that cannot pin a frame is also conformant
    run = _successful(run)
    findings = [f for f in verify_run(run.view.root, impl=impl).findings if f.requirement == "GAUGE-035"]
    failed = [f"{f.subject}: {f.message}" for f in findings if f.status == "fail"]
    assert not failed, f"{run.view.label}: " + "; ".join(failed)
    assert any(f.status == "pass" and "degenerate" in f.message for f in findings), (
        f"{run.view.label}: the constant-probe run was not degenerate on recomputation (harness assumption broken): "
        f"{[f.message for f in findings]}"
    )


def _round0_path(view) -> str:
    entry = view.global_entry(0)
    if entry is None:
        raise view.fail("the manifest lists no round-0 global checkpoint (θ_0)")
    return str(entry.get("path"))
