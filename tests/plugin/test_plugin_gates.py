"""Verdict gates (--lensemble-require), per-part verdicts and --lensemble-parts scope.

Defects caught: an exit code of 0 for a non-conformant or partial implementation when the user
asked for a gate; a gauge-only implementation that can never read "gauge: conformant"; a
--lensemble-parts run keeping other parts' tests or their requirements in scope (a partial run
reading incomplete, or a green one hiding a failure in the chosen part).
"""

from __future__ import annotations

import pytest
from plugin_harness import BASIC_TESTS

PASSED_OK = int(pytest.ExitCode.OK)
FAILED = int(pytest.ExitCode.TESTS_FAILED)

PART_TESTS = BASIC_TESTS + '''

@pytest.mark.requirement("TST-001")
def test_gauge_and_impl(gauge_part, impl):
    assert impl.name == "fake-impl"
'''


def test_per_part_verdicts_in_json_and_summary(suite):
    suite.tests(PART_TESTS)
    run = suite.run()
    assert run.ret == PASSED_OK, run.out
    by_part = run.report["verdicts"]["by_part"]
    assert by_part["gauge"]["verdict"] == "conformant"
    assert by_part["gauge"]["statuses"]["total"] == 1  # TST-001 only
    assert by_part["model"]["verdict"] == "partial"
    assert run.report["verdicts"]["overall"] == "partial"
    assert run.test("test_gauge_rank")["parts"] == ["gauge"]
    assert run.test("test_version")["parts"] == []
    run.result.stdout.fnmatch_lines(["*gauge: conformant (1/1 MUST passed)", "*model: partial*"])
    from lensemble_spec.report.render import render_html, render_markdown
    from lensemble_spec.schemas.compliance import ComplianceReport

    doc = ComplianceReport.model_validate(run.report)
    assert "| gauge | conformant | 1 | 1 |" in render_markdown(doc)
    assert 'data-part="gauge" data-verdict="conformant"' in render_html(doc, plots=[])


@pytest.mark.parametrize(
    "require, expected",
    [("conformant", FAILED), ("partial", PASSED_OK)],
)
def test_require_turns_the_verdict_into_the_exit_code(suite, require, expected):
    suite.tests(PART_TESTS)
    run = suite.run("--lensemble-require", require)
    assert run.report["verdicts"]["overall"] == "partial"
    assert run.ret == expected, run.out
    if expected == FAILED:
        assert "--lensemble-require conformant: not met (overall: partial)" in run.out


def test_require_partial_fails_a_non_conformant_run(suite):
    suite.tests(PART_TESTS.replace("== 1.0", "== 2.0", 1))  # test_gauge_rank fails ...
    (suite.path / "exp.toml").write_text('[xfail]\n"test_suite::test_gauge_rank" = "known"\n', encoding="utf-8")
    run = suite.run("--lensemble-require", "partial", "--lensemble-expectations", "exp.toml")
    # ... as expected: pytest alone exits 0, but a known failure is still a failure of the spec
    assert run.test("test_gauge_rank")["outcome"] == "xfailed"
    assert run.report["verdicts"]["overall"] == "non-conformant"
    assert run.ret == FAILED
    assert "not met (overall: non-conformant)" in run.out


def test_parts_scope_deselects_other_parts_and_their_requirements(suite):
    suite.tests(PART_TESTS)
    run = suite.run("--lensemble-parts", "gauge", "--lensemble-require", "conformant")
    assert run.ret == PASSED_OK, run.out
    names = sorted(t["nodeid"].split("::")[1] for t in run.report["tests"])
    assert names == ["test_gauge_and_impl", "test_gauge_rank"]
    assert [r["id"] for r in run.report["requirements"]] == ["TST-001"]
    assert run.report["verdicts"]["overall"] == "conformant"
    assert set(run.report["verdicts"]["by_part"]) == {"gauge"}
    assert run.report["counts"]["deselected"] == 3
    assert run.report["run_info"]["parts"] == ["gauge"]


def test_parts_gate_judges_each_chosen_part(suite):
    suite.tests(PART_TESTS)
    run = suite.run("--lensemble-parts", "gauge,model", "--lensemble-require", "conformant")
    assert run.ret == FAILED
    assert "model: partial" in run.out and "gauge:" not in run.out.split("not met")[1].split(")")[0]


def test_unknown_part_is_a_usage_error(suite):
    suite.tests(PART_TESTS)
    run = suite.run("--lensemble-parts", "gauge,wheels")
    assert run.ret == int(pytest.ExitCode.USAGE_ERROR)
    assert "unknown part(s) ['wheels']" in run.out
