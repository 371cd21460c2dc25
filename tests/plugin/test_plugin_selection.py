"""--rfc filtering, --level quick, and --run directories (artifact-only runs, records for plots).

Defects caught: --rfc keeping tests of other RFCs or leaving their requirements in scope (a green
partial run); quick runs executing full tests, or looking conformant when a MUST is only checked
at full level; --run directories not reaching tests or the report; artifact-only runs demanding
an implementation.
"""

from __future__ import annotations

import json

import pytest
from plugin_harness import BASIC_TESTS

USAGE_ERROR = int(pytest.ExitCode.USAGE_ERROR)


def test_rfc_filter_deselects_other_rfcs(suite):
    suite.tests(BASIC_TESTS)
    run = suite.run("--rfc", "RFC-0091")
    assert [t["nodeid"].split("::")[1] for t in run.report["tests"]] == ["test_manifest"]
    assert [r["id"] for r in run.report["requirements"]] == ["ALT-001"]
    assert run.report["counts"]["deselected"] == 3
    assert run.report["run_info"]["rfc_filter"] == ["RFC-0091"]
    assert set(run.report["verdicts"]["by_rfc"]) == {"RFC-0091"}


def test_rfc_filter_accepts_plain_numbers_and_repeats(suite):
    suite.tests(BASIC_TESTS)
    run = suite.run("--rfc", "90", "--rfc", "0091")
    assert run.report["counts"]["deselected"] == 0
    assert run.report["run_info"]["rfc_filter"] == ["RFC-0090", "RFC-0091"]


def test_rfc_filter_with_unknown_rfc_is_a_usage_error(suite):
    suite.tests(BASIC_TESTS)
    run = suite.run("--rfc", "0099")
    assert run.ret == USAGE_ERROR
    assert "rfc '0099' names no RFC with requirements" in run.out


LEVEL_TESTS = '''
import pytest

@pytest.mark.requirement("TST-001")
def test_fast(gauge_part):
    pass

@pytest.mark.requirement("TST-002")
@pytest.mark.level("full")
def test_slow(gauge_part):
    pass

@pytest.mark.requirement("ALT-001")
def test_alt(impl):
    pass
'''


def test_quick_level_skips_full_tests_and_cannot_be_conformant(suite):
    suite.tests(LEVEL_TESTS)
    quick = suite.run("--level", "quick")
    slow = quick.test("test_slow")
    assert slow["outcome"] == "skipped" and slow["level"] == "full"
    assert "level quick" in slow["message"]
    assert quick.req("TST-002")["status"] == "skipped"
    assert quick.report["verdicts"]["overall"] == "incomplete"
    assert quick.report["run_info"]["level"] == "quick"

    full = suite.run("--level", "full")
    assert full.test("test_slow")["outcome"] == "passed"
    assert full.report["verdicts"]["overall"] == "conformant"


def _round(i: int) -> dict:
    return {
        "schema_version": 1, "run_id": "run-a", "control": "anchored", "round_index": i,
        "participants": ["silo0", "silo1"], "global_hash": None, "parent_hash": None,
        "metrics": {"effective_rank": 3.0 + i, "drift_to_reference_deg": 1.5 * i},
        "backstop_fired": {}, "wall_time_s": 0.5,
    }


def test_artifact_only_run(suite):
    run_dir = suite.path / "runs" / "a"
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps({"control": "anchored"}), encoding="utf-8")
    lines = [json.dumps(_round(i)) for i in (1, 0)] + ["{not json"]
    (run_dir / "rounds.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    suite.tests(BASIC_TESTS)

    run = suite.run("--run", "runs/a", impl=False)
    assert run.ret == 0, run.out
    assert run.test("test_manifest")["outcome"] == "passed"
    assert run.req("ALT-001")["status"] == "passed"
    for name in ("test_gauge_rank", "test_version"):
        t = run.test(name)
        assert t["outcome"] == "not-implemented"
        assert "no implementation given" in t["message"]
    assert run.report["verdicts"]["overall"] == "partial"
    assert run.report["run_info"]["impl"]["name"] is None
    assert run.report["run_info"]["run_dirs"] == [str(run_dir)]
    (runs,) = run.report["runs"]
    assert runs["control"] == "anchored" and runs["source"] == "rounds.jsonl"
    assert [r["round_index"] for r in runs["records"]] == [0, 1]  # sorted
    assert len(runs["problems"]) == 1 and "rounds.jsonl:3" in runs["problems"][0]
    run.result.stdout.fnmatch_lines(["lensemble-spec impl: none (artifact-only run*"])


def test_missing_run_dir_is_a_usage_error(suite):
    suite.tests(BASIC_TESTS)
    run = suite.run("--run", "runs/nope")
    assert run.ret == USAGE_ERROR
    assert "run 'runs/nope' is not a directory" in run.out
