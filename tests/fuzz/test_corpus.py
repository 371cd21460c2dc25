"""The corruption corpus (``_corpus.py``) against ``verify``, in process, each case under a timeout.

For every case: a private copy of its target (one run of a real tiny comparison, or the whole
comparison) is corrupted and verified. Nothing may escape as an exception, nothing may take
longer than :data:`CASE_TIMEOUT_S` (a FIFO opened for reading blocks forever; a quadratic regex
takes minutes), every failed or skipped finding names a requirement id, a protected corruption
never reads OK (and fails the requirement ids a named regression pins), a benign change stays OK,
and the text report is one finding per line with control characters escaped and exactly one
verdict line — a file name cannot forge an ``OK:`` line.
"""

from __future__ import annotations

import re
import shutil
import signal
import time
from pathlib import Path

import pytest
from _corpus import FORGED_OK, Case, cases

from lensemble_spec.verify import verify_run

CASE_TIMEOUT_S = 10.0
CORPUS = cases()
FAMILIES = {
    "rounds-lines",
    "record-fields",
    "manifest-fields",
    "header",
    "weights",
    "json-bombs",
    "probe",
    "special-files",
    "layout",
    "comparison",
    "benign",
}
VERDICT = re.compile(r"^(OK|FAILED|NOTHING VERIFIED): ")


class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):  # type: ignore[no-untyped-def]
    raise CaseTimeout(f"verification took longer than {CASE_TIMEOUT_S} s")


def materialise(case: Case, pristine: Path, base: Path) -> Path:
    if case.target == "comparison":
        root = base / "cmp"
        shutil.copytree(pristine, root, symlinks=True)
    else:
        root = base / case.target
        shutil.copytree(pristine / case.target, root, symlinks=True)
    case.apply(root)
    return root


def verify_bounded(root: Path):  # type: ignore[no-untyped-def]
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_S)
    start = time.perf_counter()
    try:
        return verify_run(root), time.perf_counter() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_text(text: str) -> None:
    lines = text.split("\n")
    assert not any(c in text for c in "\x1b\r\x00\u202e\u2028"), "raw control characters in the text report"
    verdicts = [ln for ln in lines if VERDICT.match(ln)]
    assert len(verdicts) == 1, f"{len(verdicts)} verdict lines: {verdicts}"
    assert all(
        ln.startswith(("verification of ", "  ", "failed requirements: ")) or VERDICT.match(ln) for ln in lines
    ), text[:2000]


def test_corpus_is_large_and_covers_every_family() -> None:
    assert len(CORPUS) >= 300
    assert {c.family for c in CORPUS} == FAMILIES
    assert len({c.name for c in CORPUS}) == len(CORPUS)


def test_pristine_comparison_verifies_ok(pristine_comparison: Path) -> None:
    report = verify_run(pristine_comparison)
    assert report.ok, report.render_text(show_passed=False)
    for control in ("anchored", "naive-fedavg", "local-only", "centralized"):
        assert verify_run(pristine_comparison / control).ok


@pytest.mark.parametrize("case", CORPUS, ids=[c.name.encode("unicode_escape").decode() for c in CORPUS])
def test_corruption(case: Case, pristine_comparison: Path, tmp_path: Path) -> None:
    root = materialise(case, pristine_comparison, tmp_path)
    report, seconds = verify_bounded(root)
    assert report.findings, "no findings at all"
    unnamed = [f for f in report.findings if f.status != "pass" and not f.requirement]
    assert not unnamed, f"findings without a requirement id: {unnamed[:3]}"
    if case.protected:
        assert not report.ok, f"{case.name}: a protected corruption reads OK"
        missing = case.expect - set(report.failed_requirements())
        assert not missing, f"{case.name}: expected {sorted(missing)} among {report.failed_requirements()}"
    else:
        assert report.ok, report.render_text(show_passed=False)
    text = report.render_text()
    check_text(text)
    assert FORGED_OK not in text
    assert seconds < CASE_TIMEOUT_S
