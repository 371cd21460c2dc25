"""The *not applicable* status and the one rule every verdict follows.

Defects caught: a not-applicable requirement counted as passed, or keeping a verdict from
``conformant``; a not-applicable test hiding a failure, a missing capability or a skip of the same
requirement; a skip reason the suite did not set read as not applicable; per-part verdicts judged
by another rule than the overall one (the publish example read overall ``conformant`` but
``federation: incomplete (75/80)`` because a requirement passed by an artifacts test counted as
skipped for the federation part).
"""

from __future__ import annotations

from types import SimpleNamespace

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from lensemble_spec.plugin.outcomes import NOT_APPLICABLE_PREFIX, skip_outcome
from lensemble_spec.report.aggregate import build_compliance_report
from lensemble_spec.report.render import render_html, render_markdown
from lensemble_spec.schemas.compliance import VERDICT_ORDER, requirement_status, verdict_of

RUN_INFO = {
    "impl": {"spec": "x", "name": "x", "version": "1"}, "lensemble_spec_version": "0.1.0", "python": "3.11",
    "platform": "linux", "pytest": "9", "rootdir": "/tmp/x", "started_at": "2026-12-03T16:00:00Z",
    "finished_at": "2026-12-03T16:00:01Z", "duration_s": 1.0,
}
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "not-implemented", "not-applicable",
            "precondition-not-met")
PARTS = ("gauge", "model", "federation", "artifacts")


def _req(rid: str, rfc: str = "RFC-0010", level: str = "MUST") -> SimpleNamespace:
    return SimpleNamespace(id=rid, rfc=rfc, section="1", level=level, text=f"{rid}.")


def _report(reqs, tests):
    """``tests``: node id -> (requirement ids, parts, outcome)."""
    items = {n: {"requirements": ids, "parts": parts, "level": "quick"} for n, (ids, parts, _) in tests.items()}
    outcomes = {n: {"outcome": o, "message": None, "duration": 0.0} for n, (_, _, o) in tests.items()}
    return build_compliance_report(requirements=reqs, items=items, outcomes=outcomes, run_info=RUN_INFO)


@pytest.mark.parametrize("reason, outcome", [
    (f"{NOT_APPLICABLE_PREFIX} the model part does not list 'frame'", "not-applicable"),
    ("not-implemented: no model part", "not-implemented"),
    ("harness precondition not met: world (fix: …)", "precondition-not-met"),
    ("nothing here; not-applicable: later in the text", "skipped"),  # only the prefix counts
])
def test_the_skip_reason_prefix_decides_the_outcome(reason, outcome):
    assert skip_outcome(reason) == outcome


@pytest.mark.parametrize("outcomes, status", [
    (["not-applicable"], "not-applicable"),
    (["not-applicable", "passed"], "passed"),  # a pass in any test beats not applicable
    (["not-applicable", "skipped"], "skipped"),  # something that applies went unchecked
    (["not-applicable", "not-implemented"], "not-implemented"),
    (["not-applicable", "failed"], "failed"),
    (["not-applicable", "error"], "failed"),
    (["not-applicable", "xfailed"], "expected-failure"),
])
def test_not_applicable_never_hides_another_outcome(outcomes, status):
    assert requirement_status(outcomes) == status
    assert requirement_status(list(reversed(outcomes))) == status


@pytest.mark.parametrize("statuses, verdict", [
    (["passed", "not-applicable"], "conformant"),
    (["not-applicable"], "not-applicable"),
    (["not-applicable", "skipped"], "incomplete"),
    (["not-applicable", "not-implemented"], "partial"),
    (["not-applicable", "failed"], "non-conformant"),
])
def test_verdicts_leave_not_applicable_requirements_out(statuses, verdict):
    assert verdict_of(statuses) == verdict


def test_publish_example_parts_agree_with_the_overall_verdict():
    """ART-003 passed by artifacts tests, not applicable to the runs: every part and the whole conformant."""
    reqs = [_req("ART-003"), _req("ART-023"), _req("GAUGE-041", rfc="RFC-0002")]
    report = _report(reqs, {
        "t::artifacts_pickle": (["ART-003"], ["artifacts"], "passed"),
        "t::run[ART-003]": (["ART-003"], ["federation"], "not-applicable"),
        "t::run[ART-023]": (["ART-023"], ["federation"], "not-applicable"),
        "t::run[GAUGE-041]": (["GAUGE-041"], ["federation"], "passed"),
    })
    v = report.verdicts
    assert v.overall == "conformant" and v.conformant
    assert {p: s.verdict for p, s in v.by_part.items()} == {"federation": "conformant", "artifacts": "conformant"}
    fed = v.by_part["federation"].statuses
    assert (fed.total, fed.passed, fed.not_applicable) == (3, 2, 1)
    assert (v.must.passed, v.must.not_applicable) == (2, 1)
    assert report.counts.not_applicable == 2 and report.counts.skipped == 0
    md, html = render_markdown(report, links={}), render_html(report, plots=[], links={})
    assert "| federation | conformant | 3 | 2 | 0 | 0 | 0 | 0 | 0 | 1 | 0 |" in md
    assert "1 not applicable" in md and 'data-count="not_applicable">2<' in html
    assert 'class="req s-not-applicable" data-requirement="ART-023"' in html


def test_a_requirement_only_not_applicable_is_never_counted_passed():
    report = _report([_req("GAUGE-043", rfc="RFC-0002")], {"t::frame": (["GAUGE-043"], ["model"], "not-applicable")})
    assert report.requirements[0].status == "not-applicable"
    assert report.verdicts.overall == "not-applicable" and not report.verdicts.conformant
    assert report.verdicts.must.passed == 0


_WORST = {v: i for i, v in enumerate(VERDICT_ORDER)}


@st.composite
def sessions(draw):
    n_req = draw(st.integers(1, 6))
    reqs = [
        _req(
            f"R-{i:03d}",
            rfc=draw(st.sampled_from(["RFC-0002", "RFC-0010"])),
            level=draw(st.sampled_from(["MUST", "MUST", "SHOULD"])),
        )
        for i in range(n_req)
    ]
    tests = {}
    for j in range(draw(st.integers(0, 10))):
        ids = draw(st.lists(st.sampled_from([r.id for r in reqs]), min_size=1, max_size=2, unique=True))
        parts = draw(st.lists(st.sampled_from(PARTS), max_size=2, unique=True))
        tests[f"t::{j}"] = (ids, parts, draw(st.sampled_from(OUTCOMES)))
    return reqs, tests


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(sessions())
def test_every_verdict_is_one_rule_over_the_same_statuses(session):
    reqs, tests = session
    report = _report(reqs, tests)
    status = {r.id: r.status for r in report.requirements}
    must = [r.id for r in report.requirements if r.level == "MUST"]
    v = report.verdicts
    assert v.overall == verdict_of([status[r] for r in must])
    for part, scope in v.by_part.items():
        named = [r for r in must if any(r in ids and part in parts for ids, parts, _ in tests.values())]
        assert scope.verdict == verdict_of([status[r] for r in named]), part
        assert scope.statuses.total == len(named)
    # hence: no part reads better than the overall verdict's worst, and conformant overall is conformant everywhere
    judged = [s.verdict for s in [*v.by_part.values(), *v.by_rfc.values()] if s.verdict != "not-applicable"]
    if v.overall == "conformant":
        assert set(judged) <= {"conformant"}
    if judged:
        assert v.overall == min(judged, key=_WORST.__getitem__)
    else:
        assert v.overall == "not-applicable"
