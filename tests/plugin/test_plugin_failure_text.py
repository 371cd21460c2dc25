"""The compliance JSON keeps a failed test's whole failure text, Hypothesis falsifying example included.

Defects caught: the report only ever seeing the 400-character one-line message, so a long
assertion or the falsifying example of a property test is lost (issue #17).
"""

from __future__ import annotations


def test_failed_test_keeps_its_full_text_and_falsifying_example(suite):
    suite.tests(
        """
        import pytest
        from hypothesis import given, settings, strategies as st

        @pytest.mark.requirement("TST-001")
        @settings(max_examples=20, derandomize=True, database=None)
        @given(st.integers(min_value=0, max_value=100))
        def test_prop(gauge_part, n):
            assert n < 7, "x" * 600

        @pytest.mark.requirement("TST-002", "TST-003", "ALT-001")
        def test_ok(impl):
            pass
        """
    )
    run = suite.run()
    failed = run.test("test_prop")
    assert failed["outcome"] == "failed"
    assert len(failed["message"]) <= 401  # the one-line summary stays short ...
    assert "n=7" in failed["details"] and "x" * 600 in failed["details"]  # ... the whole text does not
    from lensemble_spec.report.render import falsifying_example

    example = falsifying_example(
        failed["details"]
    )  # "Failing test case:" (Hypothesis >= 6.1xx) or "Falsifying example:"
    assert example is not None and example.splitlines()[0].endswith("test_prop(") and "n=7," in example
    assert run.test("test_ok").get("details") is None
