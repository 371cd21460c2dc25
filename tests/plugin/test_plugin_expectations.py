"""The expectations file: xfail/skip by requirement id and by node-id prefix, stale entries, strictness.

Defects caught: expected failures reported as passes (or as plain failures), an expectation that
matches nothing going unnoticed (array-api-tests' stale-xfail problem), an unexpectedly passing
test hidden when strictness is asked for, a known failure letting the verdict read conformant.
"""

from __future__ import annotations

import pytest

FAILING_TESTS = '''
import pytest

@pytest.mark.requirement("TST-001")
def test_rank_is_one(gauge_part):
    assert gauge_part.effective_rank(None) == 1.0

@pytest.mark.requirement("TST-002")
def test_known_bug(impl):
    assert impl.version == "9.9.9", "version mismatch"

@pytest.mark.requirement("ALT-001")
def test_slow_thing(impl):
    pass
'''


def _write(suite, text: str) -> None:
    (suite.path / "exp.toml").write_text(text, encoding="utf-8")


def test_xfail_by_requirement_and_skip_by_nodeid(suite):
    suite.tests(FAILING_TESTS)
    _write(
        suite,
        '[xfail]\nTST-002 = "sign convention differs (issue #12)"\n\n'
        '[skip]\n"conformance/test_suite.py::test_slow" = "needs a GPU"\n',
    )
    run = suite.run("--expectations", "exp.toml")
    assert run.ret == 0, run.out
    known = run.test("test_known_bug")
    assert known["outcome"] == "xfailed"
    assert known["expectation"] == "xfail"
    assert known["expectation_reason"] == "sign convention differs (issue #12)"
    assert run.req("TST-002")["status"] == "expected-failure"
    slow = run.test("test_slow_thing")
    assert (slow["outcome"], slow["expectation"]) == ("skipped", "skip")
    assert "needs a GPU" in slow["message"]
    assert run.req("ALT-001")["status"] == "skipped"
    # a known failure is still a failure of the spec
    assert run.report["verdicts"]["overall"] == "non-conformant"
    assert run.report["counts"]["xfailed"] == 1 and run.report["counts"]["skipped"] == 1
    entries = {e["match"]: e for e in run.report["expectations"]}
    assert entries["TST-002"]["by"] == "requirement"
    assert entries["TST-002"]["matched"] == ["conformance/test_suite.py::test_known_bug"]
    assert entries["conformance/test_suite.py::test_slow"]["by"] == "nodeid"
    assert run.report["stale_expectations"] == []


def test_stale_entries_warn_and_are_listed(suite):
    suite.tests(FAILING_TESTS)
    _write(
        suite,
        '[xfail]\nTST-002 = "known"\nTST-003 = "nothing tests this"\n'
        '"conformance/test_gone.py" = "file was removed"\n',
    )
    run = suite.run("--expectations", "exp.toml")
    stale = sorted(e["match"] for e in run.report["stale_expectations"])
    assert stale == ["TST-003", "conformance/test_gone.py"]
    run.result.stdout.fnmatch_lines(["*StaleExpectationWarning: stale expectation: [[]xfail[]] 'TST-003'*"])
    assert run.result.parseoutcomes().get("warnings", 0) >= 2


def test_skip_wins_over_xfail(suite):
    suite.tests(FAILING_TESTS)
    _write(suite, '[xfail]\nTST-002 = "known"\n[skip]\n"conformance/test_suite.py::test_known" = "too slow"\n')
    run = suite.run("--expectations", "exp.toml")
    assert run.test("test_known_bug")["outcome"] == "skipped"
    assert run.test("test_known_bug")["expectation"] == "skip"


@pytest.mark.parametrize("strict", [False, True])
def test_unexpected_pass(suite, strict):
    suite.tests(FAILING_TESTS)
    _write(suite, '[xfail]\nTST-001 = "thought to be broken"\n')
    args = ["--expectations", "exp.toml"] + (["--strict-expectations"] if strict else [])
    run = suite.run(*args)
    rank = run.test("test_rank_is_one")
    if strict:
        assert rank["outcome"] == "failed"
        assert "XPASS(strict)" in (rank["message"] or "")
        assert run.req("TST-001")["status"] == "failed"
        assert run.ret == 1
    else:
        assert rank["outcome"] == "xpassed"
        assert run.req("TST-001")["status"] == "passed"
        assert run.report["counts"]["xpassed"] == 1
    assert run.report["run_info"]["strict_expectations"] is strict
