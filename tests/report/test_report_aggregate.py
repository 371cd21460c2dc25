"""Aggregation rules: test outcomes -> requirement status -> verdicts and counts.

Defects caught: a not-implemented or skipped requirement counted as passed; a known failure
(xfail) read as conformant; SHOULD/MAY deciding conformance; an empty scope reported as conformant;
counts that do not add up (so a shrunken run could look green); --rfc scope not applied.
"""

from __future__ import annotations

import itertools

import pytest
from report_fixtures import make_report, req, sample_report

from lensemble_spec.report.aggregate import rfc_number
from lensemble_spec.schemas.compliance import (
    STATUS_PRECEDENCE,
    requirement_status,
    verdict_of,
)

OUTCOME_TO_STATUS = {
    "failed": "failed",
    "error": "failed",
    "xfailed": "expected-failure",
    "not-implemented": "not-implemented",
    "passed": "passed",
    "xpassed": "passed",
    "skipped": "skipped",
    "not-applicable": "not-applicable",
}


@pytest.mark.parametrize("a, b", list(itertools.combinations(OUTCOME_TO_STATUS, 2)))
def test_status_precedence_is_order_independent(a, b):
    expected = min(OUTCOME_TO_STATUS[a], OUTCOME_TO_STATUS[b], key=STATUS_PRECEDENCE.index)
    assert requirement_status([a, b]) == expected
    assert requirement_status([b, a, b]) == expected


def test_no_outcome_is_not_tested():
    assert requirement_status([]) == "not-tested"


@pytest.mark.parametrize(
    "statuses, verdict",
    [
        (["passed", "passed"], "conformant"),
        (["passed", "failed"], "non-conformant"),
        (["passed", "expected-failure"], "non-conformant"),
        (["passed", "not-implemented"], "partial"),
        (["not-implemented", "failed"], "non-conformant"),
        (["passed", "skipped"], "incomplete"),
        (["passed", "not-tested"], "incomplete"),
        (["not-implemented", "not-tested"], "partial"),
        ([], "not-applicable"),
    ],
)
def test_verdict_rules(statuses, verdict):
    assert verdict_of(statuses) == verdict


def test_sample_report_statuses_counts_and_verdicts():
    r = sample_report()
    status = {x.id: x.status for x in r.requirements}
    assert status == {
        "GAUGE-001": "passed",
        "GAUGE-002": "failed",
        "GAUGE-003": "not-implemented",
        "FED-001": "expected-failure",
        "FED-002": "not-tested",
    }
    assert r.verdicts.overall == "non-conformant" and r.verdicts.conformant is False
    assert r.verdicts.by_rfc["RFC-0002"].verdict == "non-conformant"
    assert r.verdicts.by_rfc["RFC-0003"].verdict == "non-conformant"
    assert r.verdicts.by_level["SHOULD"].verdict == "partial"
    assert r.verdicts.by_level["MAY"].verdict == "incomplete"
    c = r.counts
    assert (c.collected, c.run, c.passed, c.failed, c.xfailed, c.not_implemented) == (4, 3, 1, 1, 1, 1)
    assert c.run == c.passed + c.failed + c.xfailed + c.xpassed
    failed = next(x for x in r.requirements if x.id == "GAUGE-002")
    assert failed.messages == ["conformance/test_gauge.py::test_b[x|y]: AssertionError: <b>1 != 2</b> | bad"]


def test_should_and_may_never_decide_conformance():
    reqs = [req("A-001"), req("A-002", level="SHOULD"), req("A-003", level="MAY")]
    r = make_report(reqs, {"t::a": (["A-001"], "passed", None), "t::b": (["A-002"], "failed", "x")})
    assert r.verdicts.overall == "conformant"
    assert r.verdicts.by_level["SHOULD"].verdict == "non-conformant"


def test_requirement_tested_only_by_tests_that_never_ran_is_not_tested():
    reqs = [req("A-001")]
    r = build_with_unrun(reqs)
    assert r.requirements[0].status == "not-tested"
    assert r.requirements[0].tests == ["t::never"]
    assert any("never ran" in w for w in r.warnings)


def build_with_unrun(reqs):
    from report_fixtures import RUN_INFO

    from lensemble_spec.report.aggregate import build_compliance_report

    return build_compliance_report(
        requirements=reqs, items={"t::never": {"requirements": ["A-001"]}}, outcomes={}, run_info=RUN_INFO
    )


def test_rfc_filter_limits_scope():
    reqs = [req("A-001", rfc="RFC-0002"), req("B-001", rfc="RFC-0003")]
    r = make_report(reqs, {"t::a": (["A-001"], "passed", None)}, rfc_filter=[2])
    assert [x.id for x in r.requirements] == ["A-001"]
    assert r.verdicts.overall == "conformant"
    unfiltered = make_report(reqs, {"t::a": (["A-001"], "passed", None)})
    assert unfiltered.verdicts.overall == "incomplete"


def test_empty_scope_is_not_applicable_never_conformant():
    r = make_report([], {})
    assert r.verdicts.overall == "not-applicable" and r.verdicts.conformant is False


@pytest.mark.parametrize("raw", ["2", "0002", "RFC-0002", "rfc-2", " RFC 0002 ", 2])
def test_rfc_number_forms(raw):
    assert rfc_number(raw) == 2


@pytest.mark.parametrize("raw", ["", "RFC-", "two", "0002a"])
def test_rfc_number_rejects(raw):
    with pytest.raises(ValueError):
        rfc_number(raw)


def test_report_rejects_duplicate_requirements_and_inconsistent_verdict():
    from pydantic import ValidationError

    r = sample_report()
    doc = r.model_dump(mode="json")
    doc["requirements"].append(doc["requirements"][0])
    with pytest.raises(ValidationError, match="unique"):
        type(r).model_validate(doc)
    doc = r.model_dump(mode="json")
    doc["verdicts"]["conformant"] = True
    with pytest.raises(ValidationError, match="conformant"):
        type(r).model_validate(doc)


def test_requirement_rows_carry_the_rfc_location():
    from lensemble_spec.requirements import load_catalog

    catalog = load_catalog()
    first = catalog.filter(rfc="0002")[0]
    r = make_report([first], {"t::a": ([first.id], "passed", None)})
    (row,) = r.requirements
    assert row.rfc_location == first.rfc_location
    file, line = row.rfc_location.rsplit(":", 1)
    assert file.startswith("rfcs/RFC-0002-")
    assert f"**{first.id}**" in open(first.file, encoding="utf-8").read().splitlines()[int(line) - 1]
    assert make_report([req("A-001")], {}).requirements[0].rfc_location is None  # a catalog without files
