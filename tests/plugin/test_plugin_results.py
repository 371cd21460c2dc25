"""Per-requirement aggregation, counts and verdicts written to the compliance JSON.

Defects caught: a missing capability part counted as passed (or silently dropped); a requirement
with no test looking green; counts that hide a shrunken run; a failing MUST not turning the verdict;
results not landing in the JSON or the JSON not validating.
"""

from __future__ import annotations

from plugin_harness import BASIC_TESTS


def test_missing_part_is_not_implemented_and_verdict_partial(suite):
    suite.tests(BASIC_TESTS)
    run = suite.run()
    assert run.ret == 0, run.out  # a skip is not a failure for pytest ...
    rep = run.report
    assert run.test("test_model_roundtrip")["outcome"] == "not-implemented"
    assert run.test("test_model_roundtrip")["message"].startswith("not-implemented: fake-impl has no `model` part")
    assert run.req("TST-002")["status"] == "not-implemented"
    assert run.req("TST-001")["status"] == "passed"
    assert run.req("TST-003")["status"] == "passed"
    # ... but the report never calls it conformant: no --run, so ALT-001 skipped, TST-002 not implemented
    assert run.test("test_manifest")["outcome"] == "skipped"
    assert run.req("ALT-001")["status"] == "skipped"
    assert rep["verdicts"]["overall"] == "partial"
    assert rep["verdicts"]["conformant"] is False
    assert rep["verdicts"]["by_rfc"]["RFC-0090"]["verdict"] == "partial"
    assert rep["verdicts"]["by_rfc"]["RFC-0091"]["verdict"] == "incomplete"
    assert rep["verdicts"]["by_level"]["SHOULD"]["verdict"] == "conformant"
    assert rep["counts"] == {
        "collected": 4, "deselected": 0, "selected": 4, "run": 2, "passed": 2, "failed": 0,
        "errors": 0, "skipped": 1, "xfailed": 0, "xpassed": 0, "not_implemented": 1, "not_applicable": 0,
        "precondition_not_met": 0,
        "collection_errors": 0, "unmapped": 0,
    }
    assert rep["run_info"]["impl"] == {
        "spec": suite.impl, "name": "fake-impl", "version": "1.2.3",
        "capabilities": ["gauge"], "missing": ["model", "federation", "artifacts"],
    }
    run.result.stdout.fnmatch_lines(["*lensemble-spec compliance*", "verdict: PARTIAL (fake-impl 1.2.3, level full)"])


def test_all_must_passing_is_conformant_and_one_failure_is_not(suite):
    suite.tests(
        """
        import pytest

        @pytest.mark.requirement("TST-001", "TST-002")
        def test_a(gauge_part):
            pass

        @pytest.mark.requirement("ALT-001")
        def test_b(impl):
            pass
        """
    )
    run = suite.run()
    assert run.report["verdicts"]["overall"] == "conformant", run.report["requirements"]
    assert run.report["verdicts"]["conformant"] is True
    # TST-003 is a SHOULD without tests: never decides conformance, but is reported as not tested
    assert run.req("TST-003")["status"] == "not-tested"
    assert run.report["verdicts"]["by_level"]["SHOULD"]["verdict"] == "incomplete"

    suite.tests(
        """
        import pytest

        @pytest.mark.requirement("TST-001")
        def test_c(gauge_part):
            assert gauge_part.effective_rank(None) == 2.0, "rank mismatch"
        """,
        name="test_more.py",
    )
    run = suite.run()
    assert run.ret == 1
    assert run.report["verdicts"]["overall"] == "non-conformant"
    tst1 = run.req("TST-001")
    assert tst1["status"] == "failed"
    assert tst1["outcomes"] == {"passed": 1, "failed": 1}
    assert any("test_c" in m and "rank mismatch" in m for m in tst1["messages"])
    assert run.report["counts"]["failed"] == 1 and run.report["counts"]["run"] == 3


def test_must_without_any_test_is_incomplete(suite):
    suite.tests(
        """
        import pytest

        @pytest.mark.requirement("TST-001")
        def test_only_one(gauge_part):
            pass
        """
    )
    run = suite.run()
    assert run.req("TST-002")["status"] == "not-tested"
    assert run.req("TST-002")["tests"] == []
    assert run.report["verdicts"]["overall"] == "incomplete"
    assert run.report["verdicts"]["must"]["not_tested"] == 2  # TST-002 and ALT-001


def test_setup_error_and_unmapped_tests_are_counted(suite):
    suite.tests(
        """
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture exploded")

        @pytest.mark.requirement("TST-001")
        def test_err(gauge_part, broken):
            pass

        def test_no_requirement(impl):
            pass
        """
    )
    run = suite.run()
    assert run.test("test_err")["outcome"] == "error"
    assert "fixture exploded" in run.test("test_err")["message"]
    assert run.req("TST-001")["status"] == "failed"
    assert run.report["counts"]["errors"] == 1
    assert run.report["counts"]["unmapped"] == 1
    assert run.report["counts"]["run"] == 1  # the error is not "run"


def test_deselection_by_keyword_is_counted_and_leaves_requirements_untested(suite):
    suite.tests(BASIC_TESTS)
    run = suite.run("-k", "gauge_rank")
    c = run.report["counts"]
    assert (c["collected"], c["deselected"], c["selected"], c["run"]) == (4, 3, 1, 1)
    assert run.req("TST-003")["status"] == "not-tested"
    assert run.report["verdicts"]["overall"] == "incomplete"


def test_default_json_path_is_under_rootdir(suite):
    suite.tests(BASIC_TESTS)
    result = suite.pytester.runpytest_inprocess("--impl", suite.impl, "--rfc-dir", "rfcs", "-p", "no:cacheprovider")
    target = suite.path / ".lensemble-spec" / "results.json"
    assert target.is_file(), result.stdout.str()
    assert not list(target.parent.glob(".*.tmp"))  # atomic write left no temporary behind
    result.stdout.fnmatch_lines([f"results: {target}"])
