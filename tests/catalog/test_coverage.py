"""Meta-test: every MUST requirement has a conformance test, and every marker names a real id.

Conformance tests declare what they check with ``@pytest.mark.requirement("GAUGE-002", ...)``.
The markers are found *statically* (:func:`lensemble_spec.requirement_tests.scan_requirement_tests`,
an AST scan of ``conformance/**/*.py``), so coverage is known without importing or running the
suite; ids must be string literals for that reason.

``NOT_YET_COVERED`` is the explicit allow-list of MUST ids that no conformance test checks yet.
It may only shrink: an id listed there that *is* covered fails the test (remove it), and so does
a listed id that is unknown or not a MUST. Adding a MUST to an RFC therefore needs either a
conformance test or a deliberate entry here.

Defects caught: a MUST nobody tests (coverage would read green for an unchecked rule), a test
whose marker misspells an id (its result would be reported against nothing), a marker that the
scan cannot read (a computed id), and a stale allow-list.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from lensemble_spec.requirement_tests import scan_requirement_tests
from lensemble_spec.requirements import load_catalog

CONFORMANCE_DIR = Path(__file__).resolve().parents[2] / "conformance"

#: MUST requirements without a conformance test yet. Only ever remove ids from this set.
NOT_YET_COVERED: frozenset[str] = frozenset()


def scan_markers(root: Path) -> tuple[dict[str, list[str]], list[str]]:
    """``({id: ["file:line", ...]}, problems)`` from the library's scan of ``root``."""
    found, problems = scan_requirement_tests(root)
    return {rid: [ref.location for ref in refs] for rid, refs in found.items()}, problems


# --- the scanner itself -----------------------------------------------------------------------------
def test_scanner_finds_every_marker_form(tmp_path):
    root = tmp_path / "conformance"
    (root / "sub").mkdir(parents=True)
    (root / "test_a.py").write_text(dedent('''
        import pytest
        from pytest import mark

        pytestmark = [pytest.mark.requirement("ART-001")]

        @pytest.mark.requirement("GAUGE-001", "GAUGE-002")
        def test_one(): ...

        @mark.requirement("FED-001")
        class TestGroup:
            @pytest.mark.parametrize("x", [pytest.param(1, marks=pytest.mark.requirement("EVAL-001"))])
            def test_two(self, x): ...
    '''))
    (root / "sub" / "test_b.py").write_text(dedent('''
        from lensemble_spec.plugin import requirement

        @requirement("GAUGE-001")
        def test_three(): ...
    '''))
    found, problems = scan_markers(root)
    assert problems == []
    assert sorted(found) == ["ART-001", "EVAL-001", "FED-001", "GAUGE-001", "GAUGE-002"]
    assert found["GAUGE-001"] == ["conformance/sub/test_b.py:4", "conformance/test_a.py:7"]
    refs, _ = scan_requirement_tests(root)
    assert [r.nodeid for r in refs["GAUGE-001"]] == [
        "conformance/sub/test_b.py::test_three",
        "conformance/test_a.py::test_one",
    ]
    assert [r.nodeid for r in refs["ART-001"]] == ["conformance/test_a.py"]  # module-wide pytestmark
    assert [r.nodeid for r in refs["FED-001"]] == ["conformance/test_a.py::TestGroup"]
    assert [r.nodeid for r in refs["EVAL-001"]] == ["conformance/test_a.py::TestGroup::test_two"]


def test_scanner_reports_markers_it_cannot_read(tmp_path):
    root = tmp_path / "conformance"
    root.mkdir()
    (root / "test_bad.py").write_text(dedent('''
        import pytest
        ID = "GAUGE-001"

        @pytest.mark.requirement(ID)
        def test_computed(): ...

        @pytest.mark.requirement
        def test_bare(): ...

        @pytest.mark.requirement()
        def test_empty(): ...
    '''))
    (root / "test_broken.py").write_text("def test(:\n")
    found, problems = scan_markers(root)
    assert found == {}
    assert len(problems) == 4, problems
    assert any("not a string literal (ID)" in p for p in problems)
    assert any("without ids" in p for p in problems)
    assert any("takes one or more string ids" in p for p in problems)
    assert any(p.startswith("conformance/test_broken.py:1: cannot parse") for p in problems)


# --- the real suite ---------------------------------------------------------------------------------
CATALOG = load_catalog()
MUST_IDS = frozenset(r.id for r in CATALOG.by_level("MUST"))


@pytest.fixture(scope="module")
def markers() -> dict[str, list[str]]:
    assert CONFORMANCE_DIR.is_dir(), CONFORMANCE_DIR
    found, problems = scan_markers(CONFORMANCE_DIR)
    assert not problems, "\n".join(problems)
    return found


def test_every_marker_names_a_known_requirement(markers):
    unknown = {rid: where for rid, where in markers.items() if rid not in CATALOG}
    assert not unknown, f"conformance tests name ids that no RFC defines: {unknown}"


def test_every_must_requirement_has_a_conformance_test(markers):
    missing = sorted(MUST_IDS - set(markers) - NOT_YET_COVERED, key=CATALOG.ids.index)
    assert not missing, (
        "MUST requirements without a conformance test (add a test marked with the id, or, "
        f"deliberately, an entry in NOT_YET_COVERED): {missing}"
    )


def test_allow_list_only_shrinks(markers):
    stale = sorted(NOT_YET_COVERED & set(markers))
    assert not stale, f"now covered by conformance tests, remove from NOT_YET_COVERED: {stale}"
    not_must = sorted(NOT_YET_COVERED - MUST_IDS)
    assert not not_must, f"NOT_YET_COVERED lists ids that are unknown or not MUST: {not_must}"
