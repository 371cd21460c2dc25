"""A check that hits the suite's ``precondition_not_met`` reads *precondition-not-met* in the JSON.

Defects caught: the harness's own precondition recorded as a plain skip, a failure or a pass; its
fix lost on the way to the compliance JSON; a session whose only outcome for a MUST is a harness
precondition read as conformant. Both the call phase and a fixture (setup phase) are exercised:
the suite's world fixtures raise it during setup.
"""

from __future__ import annotations

PRECONDITION_TESTS = '''
import pytest
from lensemble_spec.conformance._expect import precondition_not_met

@pytest.fixture
def world(gauge_part):
    precondition_not_met("the harness world cannot feed this model: action_dim 6", "declare action_dim 5")

@pytest.mark.requirement("TST-001")
def test_gauge_rank(gauge_part):
    assert gauge_part.effective_rank(None) == 1.0

@pytest.mark.requirement("TST-002")
def test_oracle(gauge_part):
    precondition_not_met("the oracle refused the input", "use a well-conditioned batch")

@pytest.mark.requirement("TST-003")
def test_version(impl):
    assert impl.version == "1.2.3"

@pytest.mark.requirement("ALT-001")
def test_world(world):
    raise AssertionError("never reached: the world fixture could not be set up")
'''


def test_a_harness_precondition_is_its_own_status_and_never_conformant(suite):
    suite.tests(PRECONDITION_TESTS)
    run = suite.run()
    assert run.ret == 0, run.out  # not a failure of the implementation ...
    rep = run.report
    oracle, world = run.test("test_oracle"), run.test("test_world")
    assert oracle["outcome"] == world["outcome"] == "precondition-not-met"
    assert (
        oracle["message"]
        == "harness precondition not met: the oracle refused the input (fix: use a well-conditioned batch)"
    )
    assert world["message"].startswith("harness precondition not met: the harness world cannot feed this model")
    assert "(fix: declare action_dim 5)" in world["message"]
    assert run.req("TST-002")["status"] == run.req("ALT-001")["status"] == "precondition-not-met"
    assert run.req("TST-002")["reasons"] == [oracle["message"]]
    assert run.req("TST-001")["status"] == "passed"
    # ... and never a pass: the verdict is at best incomplete
    assert rep["verdicts"]["overall"] == "incomplete" and rep["verdicts"]["conformant"] is False
    assert rep["verdicts"]["must"]["precondition_not_met"] == 2 and rep["verdicts"]["must"]["failed"] == 0
    c = rep["counts"]
    assert (c["precondition_not_met"], c["skipped"], c["failed"], c["errors"], c["passed"]) == (2, 0, 0, 0, 2)
    run.result.stdout.fnmatch_lines(["verdict: INCOMPLETE*", "MUST requirements:*2 harness precondition not met*"])
