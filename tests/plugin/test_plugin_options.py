"""--impl resolution, usage errors, the report header, and inertness when the plugin is not asked for.

Defects caught: a plugin that breaks or slows ordinary pytest runs (imports torch/numpy at start-up,
writes files, demands --impl for the project's own tests); a missing or broken implementation
surfacing as a traceback deep inside a test instead of one usage error with code and fix; an
unknown requirement id silently accepted; a header that hides which implementation was checked.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from plugin_harness import BASIC_TESTS

USAGE_ERROR = int(pytest.ExitCode.USAGE_ERROR)
INTERRUPTED = int(pytest.ExitCode.INTERRUPTED)


def test_plugin_import_is_cheap():
    code = (
        "import sys, lensemble_spec.plugin;"
        "print(sorted(m for m in ('torch', 'numpy', 'hypothesis', 'jinja2', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_inert_for_ordinary_tests(pytester):
    pytester.makepyfile(test_plain="def test_one():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert "lensemble-spec impl" not in out and "lensemble-spec compliance" not in out
    assert not (pytester.path / ".lensemble-spec").exists()


def test_missing_impl_is_a_usage_error(suite):
    suite.tests(BASIC_TESTS)
    run = suite.run(impl=False)
    assert run.ret == USAGE_ERROR
    assert "no implementation given" in run.out
    assert "--lensemble-impl module[:attribute] (alias --impl" in run.out
    assert "[protocol_violation]" in run.out
    assert run.report is None  # nothing half-done written


def test_collect_only_does_not_need_impl(suite):
    suite.tests(BASIC_TESTS)
    run = suite.run("--collect-only", impl=False)
    assert run.ret == 0, run.out
    assert "test_gauge_rank" in run.out


def test_env_var_is_the_fallback(suite, monkeypatch):
    suite.tests(BASIC_TESTS)
    monkeypatch.setenv("LENSEMBLE_SPEC_IMPL", suite.impl)
    run = suite.run(impl=False)
    assert run.report is not None, run.out
    assert run.report["run_info"]["impl"]["spec"] == suite.impl
    assert run.report["run_info"]["impl"]["name"] == "fake-impl"


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("no_such_module_xyz", "cannot import implementation module"),
        ("{impl}:NOPE", "has no attribute 'NOPE'"),
    ],
)
def test_unresolvable_impl_is_a_usage_error(suite, spec, expected):
    suite.tests(BASIC_TESTS)
    run = suite.run("--impl", spec.format(impl=suite.impl), impl=False)
    assert run.ret == USAGE_ERROR
    assert expected in run.out
    assert "fix:" in run.out


def test_incomplete_part_is_a_usage_error_naming_the_member(suite):
    from plugin_harness import write_impl

    broken = write_impl(suite.path, broken_gauge=True)
    suite.tests(BASIC_TESTS)
    run = suite.run("--impl", broken, impl=False)
    assert run.ret == USAGE_ERROR
    assert "part `gauge` lacks latent_std_mean" in run.out


def test_header_echoes_name_version_and_capabilities(suite):
    suite.tests(BASIC_TESTS)
    run = suite.run()
    run.result.stdout.fnmatch_lines(
        [
            f"lensemble-spec impl: fake-impl 1.2.3 ({suite.impl})",
            "lensemble-spec capabilities: gauge; not implemented: model, federation, artifacts",
            "lensemble-spec level: full;*",
        ]
    )


def test_unknown_requirement_id_fails_collection(suite):
    suite.tests(
        """
        import pytest

        @pytest.mark.requirement("TST-001", "TST-999")
        def test_typo(impl):
            pass
        """
    )
    run = suite.run()
    assert run.ret == INTERRUPTED, run.out
    assert "conformance/test_suite.py::test_typo: unknown requirement id 'TST-999'" in run.out
    assert "1 error" in run.out
    assert run.report is not None and run.report["unknown_requirement_ids"] == ["TST-999"]
    assert run.report["counts"]["collection_errors"] == 1
    assert run.report["verdicts"]["overall"] != "conformant"


def test_bad_level_marker_fails_collection(suite):
    suite.tests(
        """
        import pytest

        @pytest.mark.requirement("TST-001")
        @pytest.mark.level("slowish")
        def test_bad_level(impl):
            pass
        """
    )
    run = suite.run()
    assert run.ret == INTERRUPTED
    assert "level(...) takes exactly one of ('quick', 'full')" in run.out


def test_markers_are_registered(pytester):
    result = pytester.runpytest_inprocess("--markers", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*requirement(*ids)*", "*level(name)*"])


def test_bad_expectations_file_is_a_usage_error(suite):
    suite.tests(BASIC_TESTS)
    (suite.path / "exp.toml").write_text('[xfail]\n"TST-001" = ""\n', encoding="utf-8")
    run = suite.run("--expectations", "exp.toml")
    assert run.ret == USAGE_ERROR
    assert "the reason must be a non-empty string" in run.out
    (suite.path / "exp.toml").write_text('[maybe]\nx = "y"\n', encoding="utf-8")
    assert "unknown table" in suite.run("--expectations", "exp.toml").out


def test_hypothesis_profile_is_loaded_for_conformance_runs_and_restored(suite):
    from hypothesis import settings

    before = settings.get_current_profile_name()
    suite.tests(
        """
        import pytest
        from hypothesis import given, settings, strategies as st

        SEEN = []

        @pytest.mark.requirement("TST-001")
        @given(st.integers())
        def test_prop(gauge_part, x):
            SEEN.append(x)

        @pytest.mark.requirement("TST-003")
        def test_count(impl):
            s = settings()
            assert (s.max_examples, s.deadline, s.derandomize) == (7, None, True)
        """
    )
    run = suite.run("--max-examples", "7")
    assert run.ret == 0, run.out
    hyp = run.report["run_info"]["hypothesis"]
    assert hyp == {"profile": "lensemble-spec", "max_examples": 7, "derandomize": True,
                   "deadline_ms": None, "seed": None}
    assert settings.get_current_profile_name() == before
