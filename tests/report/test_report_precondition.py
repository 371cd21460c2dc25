"""The *harness precondition not met* status: the harness's own shortcoming, reported apart.

Defects caught: a check the harness could not set up (its oracle refused the input, the harness
world does not fit the model's declared shapes) read as a failure of the implementation, as a
pass, or as a plain skip without its fix; a precondition hiding a failure or a missing capability of
the same requirement; a requirement whose only outcome is a precondition not met leaving the
verdict ``conformant``; the reports not showing the fix; old compliance files (without the new
counts) no longer loading.
"""

from __future__ import annotations

import json

import pytest
from report_fixtures import RUN_INFO
from report_fixtures import req as _req

from lensemble_spec.conformance._expect import precondition_not_met
from lensemble_spec.plugin.outcomes import (
    PRECONDITION_PREFIX,
    is_precondition,
    skip_outcome,
)
from lensemble_spec.report.aggregate import build_compliance_report
from lensemble_spec.report.render import (
    caveats,
    harness_preconditions,
    render_html,
    render_markdown,
    verdict_summary,
)
from lensemble_spec.schemas.compliance import (
    STATUS_PRECEDENCE,
    ComplianceReport,
    requirement_status,
    verdict_of,
)

FIX = "declare action_dim 5, or adapt the model to it in the adapter"
REASON = f"{PRECONDITION_PREFIX} the harness world cannot feed this model: action_dim 6 (fix: {FIX})"


def _report(reqs, tests):
    """``tests``: node id -> (requirement ids, parts, outcome); skip-like outcomes carry :data:`REASON`."""
    items = {n: {"requirements": ids, "parts": parts, "level": "quick"} for n, (ids, parts, _) in tests.items()}
    outcomes = {n: {"outcome": o, "message": REASON if o == "precondition-not-met" else None, "duration": 0.0}
                for n, (_, _, o) in tests.items()}
    return build_compliance_report(requirements=reqs, items=items, outcomes=outcomes, run_info=RUN_INFO)


@pytest.mark.parametrize("reason, outcome", [
    (REASON, "precondition-not-met"),
    ("  " + REASON, "precondition-not-met"),
    ("no --run directories given", "skipped"),
    ("the oracle said: harness precondition not met: later in the text", "skipped"),  # only the prefix counts
    ("not-implemented: no model part", "not-implemented"),
    ("not-applicable: nothing to check", "not-applicable"),
])
def test_the_skip_reason_prefix_decides_the_outcome(reason, outcome):
    assert skip_outcome(reason) == outcome
    assert is_precondition(reason) == (outcome == "precondition-not-met")


def test_the_suite_helper_writes_the_prefix_and_the_fix():
    with pytest.raises(pytest.skip.Exception) as info:
        precondition_not_met("the oracle refused the input", "use a well-conditioned batch")
    reason = str(info.value.msg)
    assert skip_outcome(reason) == "precondition-not-met"
    assert reason.endswith("(fix: use a well-conditioned batch)")


@pytest.mark.parametrize("outcomes, status", [
    (["precondition-not-met"], "precondition-not-met"),
    (["precondition-not-met", "passed"], "passed"),  # like a skip: a pass in another test beats it
    (["precondition-not-met", "xpassed"], "passed"),
    (["precondition-not-met", "skipped"], "precondition-not-met"),  # the one that names a fix is shown
    (["precondition-not-met", "not-applicable"], "precondition-not-met"),
    (["precondition-not-met", "not-implemented"], "not-implemented"),
    (["precondition-not-met", "failed"], "failed"),
    (["precondition-not-met", "error"], "failed"),
    (["precondition-not-met", "xfailed"], "expected-failure"),
])
def test_a_precondition_never_hides_another_outcome(outcomes, status):
    assert requirement_status(outcomes) == status
    assert requirement_status(list(reversed(outcomes))) == status


def test_precedence_places_it_after_passed_and_before_skipped():
    order = list(STATUS_PRECEDENCE)
    assert order.index("passed") < order.index("precondition-not-met") < order.index("skipped")


@pytest.mark.parametrize("statuses, verdict", [
    (["precondition-not-met"], "incomplete"),
    (["passed", "precondition-not-met"], "incomplete"),
    (["passed", "precondition-not-met", "not-applicable"], "incomplete"),
    (["precondition-not-met", "not-implemented"], "partial"),
    (["precondition-not-met", "failed"], "non-conformant"),
])
def test_a_precondition_keeps_every_verdict_from_conformant(statuses, verdict):
    assert verdict_of(statuses) == verdict


def test_a_must_only_hit_by_a_precondition_is_unchecked_and_shown_with_its_fix():
    reqs = [_req("MODEL-001", rfc="RFC-0005"), _req("GAUGE-004", rfc="RFC-0002")]
    report = _report(reqs, {
        "t::world[a]": (["MODEL-001"], ["model"], "precondition-not-met"),
        "t::world[b]": (["MODEL-001"], ["model"], "precondition-not-met"),
        "t::rotate": (["GAUGE-004"], ["gauge"], "passed"),
    })
    status = {r.id: r.status for r in report.requirements}
    assert status == {"MODEL-001": "precondition-not-met", "GAUGE-004": "passed"}
    v = report.verdicts
    assert v.overall == "incomplete" and not v.conformant
    assert v.by_part["model"].verdict == "incomplete" and v.by_part["gauge"].verdict == "conformant"
    assert (v.must.passed, v.must.precondition_not_met, v.must.failed, v.must.skipped) == (1, 1, 0, 0)
    assert (report.counts.precondition_not_met, report.counts.skipped, report.counts.failed) == (2, 0, 0)

    assert harness_preconditions(report) == [(REASON, ["MODEL-001"])]
    assert "1 because a harness precondition was not met" in verdict_summary(report)
    assert any("harness precondition not met" in c for c in caveats(report))
    md, html = render_markdown(report, links={}), render_html(report, plots=[], links={})
    for page in (md, html):
        assert "Harness preconditions not met" in page
        assert "the harness world cannot feed this model" in page and "fix:" in page
    assert 'data-count="precondition_not_met">2<' in html
    assert 'class="req s-precondition-not-met" data-requirement="MODEL-001"' in html
    assert "No requirement failed." in md  # the implementation is not blamed


def test_compliance_files_without_the_new_counts_still_load():
    report = _report([_req("GAUGE-004", rfc="RFC-0002")], {"t::rotate": (["GAUGE-004"], ["gauge"], "passed")})
    doc = json.loads(report.model_dump_json())
    del doc["counts"]["precondition_not_met"]
    del doc["verdicts"]["must"]["precondition_not_met"]
    for scope in (*doc["verdicts"]["by_rfc"].values(), *doc["verdicts"]["by_level"].values()):
        del scope["statuses"]["precondition_not_met"]
    old = ComplianceReport.model_validate(doc)
    assert old.counts.precondition_not_met == 0 and old.verdicts.must.precondition_not_met == 0
