"""Run-directory requirements, checked once: by ``lensemble_spec.verify`` (RFC-0002, -0003, -0005, -0010).

Every requirement the verifier can check on a run or comparison directory
(:data:`lensemble_spec.verify.RUN_REQUIREMENTS`) is one test here, fed by the verifier's findings
on every run under test: the harness's runs (the implementation's own ``run`` and the runs the
harness drives through its primitives — the anchored run and a backstop-off run at ``--level
quick``; at ``--level full`` each source's four-control comparison with its ``results.json``) and
the directories given with ``--run``. ``lensemble-spec verify DIR`` reports the same findings, so the
two entry points cannot disagree about a requirement (``tests/mutants`` checks they do not).

A requirement fails when any finding for it fails (the message lists them), passes when at
least one passed and none failed, and is skipped with the verifier's reason when its findings were
all skipped — for a document that does not validate, "not checkable: `rounds.jsonl` does not
validate (ART-020)". With no finding at all the runs hold nothing it governs (artifact pins in
runs made without ``--run``, a degenerate frame in runs that have none): *not applicable*.
Pins are resolved with the network blocked: any socket use while verifying fails ART-025.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from lensemble_spec.plugin import skip_not_applicable, skip_not_implemented
from lensemble_spec.verify import (
    findings_for,
    is_not_checkable,
    verify_run,
)

from ._world import HARNESS_SPLIT
from .conftest import run_fixture


class _NetworkAttempt:
    """Socket entry points that record the call and refuse it (installed only while verifying)."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def refuse(self, what: str, address_at: int):
        def blocked(*args: Any, **kwargs: Any) -> Any:
            address = args[address_at] if len(args) > address_at else kwargs
            self.attempts.append(f"{what}({address!r})")
            raise OSError(f"network access during run verification ({what}) is blocked by the conformance suite")

        return blocked


def _results_split(path: Path) -> Any:
    from lensemble_spec.artifacts import load_json_file

    try:
        doc = load_json_file(path / "results.json")
    except Exception:  # noqa: BLE001 — the verifier reports an unreadable table (EVAL-015)
        return None
    return doc.get("split") if isinstance(doc, dict) else None


def _targets(request: pytest.FixtureRequest) -> list[tuple[Path, Path | None]]:
    """(directory, held-out file or None) for every run or comparison under test."""
    from .conftest import _harness_runs, _optional_part, successful

    targets: list[tuple[Path, Path | None]] = []
    runs = _harness_runs(request)
    runner = _optional_part(request, "runner") if runs else None
    if runner is not None:
        drivers = sorted({r.driver for r in runs})
        if request.getfixturevalue("run_level") == "full":
            targets += [(runner.comparison(d), runner.heldout_path()) for d in drivers]
        else:
            targets += [(Path(r.view.root), None) for r in runs]
        # a backstop-off run: GAUGE-031 and the naive control's records at every level
        targets += [(Path(successful(runner.make("tiny-naive", d)).view.root), None) for d in drivers]
    impl = request.getfixturevalue("impl")
    for path in request.getfixturevalue("run_dirs"):
        heldout = None
        if impl.model is not None and _results_split(Path(path)) == HARNESS_SPLIT and runner is not None:
            heldout = runner.heldout_path()
        elif impl.model is not None and _results_split(Path(path)) == HARNESS_SPLIT:
            from ._comparison import heldout_file
            from ._world import world_for

            base = request.getfixturevalue("tmp_path_factory").mktemp("heldout")
            heldout = heldout_file(world_for(impl.model).heldout, base / "heldout.safetensors")
        targets.append((Path(path), heldout))
    return targets


def verify_offline(
    targets: list[tuple[Path, Path | None]], impl: Any, hub_cache: Path | None
) -> tuple[list[Any], list[str]]:
    """``verify_run`` on each (directory, held-out file) with sockets blocked; returns the reports
    and every network access attempted meanwhile (each one fails ART-025)."""
    net = _NetworkAttempt()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", net.refuse("socket.connect", 1))  # (self, address)
        mp.setattr(socket.socket, "connect_ex", net.refuse("socket.connect_ex", 1))
        mp.setattr(socket, "create_connection", net.refuse("socket.create_connection", 0))
        mp.setattr(socket, "getaddrinfo", net.refuse("socket.getaddrinfo", 0))  # (host, port, ...)
        reports = [verify_run(path, impl=impl, hub_cache=hub_cache, heldout=heldout) for path, heldout in targets]
    return reports, net.attempts


@run_fixture
def run_reports(request: pytest.FixtureRequest, impl: Any, hub_cache_dir: Path | None) -> tuple[list[Any], list[str]]:
    """(verification reports, network attempts) over every run under test — made once per session."""
    targets = _targets(request)
    if not targets:
        skip_not_implemented("no federation part to make a run and no --run directory")
    return verify_offline(targets, impl, hub_cache_dir)


def _req(rid: str, mark: Any) -> Any:
    return pytest.param(rid, id=rid, marks=mark)


#: One test per requirement the verifier checks (:data:`RUN_REQUIREMENTS`; ``tests/verify/test_knock_on.py``
#: asserts they are equal).
#: Written out so the static coverage scan (``tests/catalog``) sees every id as a literal.
RUN_REQUIREMENT_PARAMS = [
    _req("ART-001", pytest.mark.requirement("ART-001")),
    _req("ART-003", pytest.mark.requirement("ART-003")),
    _req("ART-004", pytest.mark.requirement("ART-004")),
    _req("ART-007", pytest.mark.requirement("ART-007")),
    _req("ART-013", pytest.mark.requirement("ART-013")),
    _req("ART-014", pytest.mark.requirement("ART-014")),
    _req("ART-015", pytest.mark.requirement("ART-015")),
    _req("ART-016", pytest.mark.requirement("ART-016")),
    _req("ART-017", pytest.mark.requirement("ART-017")),
    _req("ART-018", pytest.mark.requirement("ART-018")),
    _req("ART-019", pytest.mark.requirement("ART-019")),
    _req("ART-020", pytest.mark.requirement("ART-020")),
    _req("ART-021", pytest.mark.requirement("ART-021")),
    _req("ART-022", pytest.mark.requirement("ART-022")),
    _req("ART-023", pytest.mark.requirement("ART-023")),
    _req("ART-024", pytest.mark.requirement("ART-024")),
    _req("ART-025", pytest.mark.requirement("ART-025")),
    _req("ART-026", pytest.mark.requirement("ART-026")),
    _req("ART-027", pytest.mark.requirement("ART-027")),
    _req("ART-028", pytest.mark.requirement("ART-028")),
    _req("ART-029", pytest.mark.requirement("ART-029")),
    _req("EVAL-001", pytest.mark.requirement("EVAL-001")),
    _req("EVAL-002", pytest.mark.requirement("EVAL-002")),
    _req("EVAL-003", pytest.mark.requirement("EVAL-003")),
    _req("EVAL-004", pytest.mark.requirement("EVAL-004")),
    _req("EVAL-007", pytest.mark.requirement("EVAL-007")),
    _req("EVAL-008", pytest.mark.requirement("EVAL-008")),
    _req("EVAL-009", pytest.mark.requirement("EVAL-009")),
    _req("EVAL-010", pytest.mark.requirement("EVAL-010")),
    _req("EVAL-011", pytest.mark.requirement("EVAL-011")),
    _req("EVAL-013", pytest.mark.requirement("EVAL-013")),
    _req("EVAL-014", pytest.mark.requirement("EVAL-014")),
    _req("EVAL-015", pytest.mark.requirement("EVAL-015")),
    _req("EVAL-016", pytest.mark.requirement("EVAL-016")),
    _req("EVAL-017", pytest.mark.requirement("EVAL-017")),
    _req("EVAL-019", pytest.mark.requirement("EVAL-019")),
    _req("EVAL-020", pytest.mark.requirement("EVAL-020")),
    _req("EVAL-021", pytest.mark.requirement("EVAL-021")),
    _req("FED-009", pytest.mark.requirement("FED-009")),
    _req("FED-013", pytest.mark.requirement("FED-013")),
    _req("FED-026", pytest.mark.requirement("FED-026")),
    _req("GAUGE-024", pytest.mark.requirement("GAUGE-024")),
    _req("GAUGE-031", pytest.mark.requirement("GAUGE-031")),
    _req("GAUGE-033", pytest.mark.requirement("GAUGE-033")),
    _req("GAUGE-034", pytest.mark.requirement("GAUGE-034")),
    _req("GAUGE-035", pytest.mark.requirement("GAUGE-035")),
    _req("GAUGE-040", pytest.mark.requirement("GAUGE-040")),
    _req("GAUGE-041", pytest.mark.requirement("GAUGE-041")),
    _req("GAUGE-042", pytest.mark.requirement("GAUGE-042")),
]


#: Requirements that govern something a correct run may lack entirely; with no finding for them
#: in any run under test they are *not applicable* (RFC-0010 A.7). Every other requirement with no
#: finding is *skipped*: a run that should have given the verifier something to check did not.
ONLY_WHEN_PRESENT: dict[str, str] = {
    "ART-003": "no pickle-capable file in any checkpoint",
    "ART-023": "no artifact pin: runs made by the harness or without publishing carry none",
    "ART-024": "no artifact pin: runs made by the harness or without publishing carry none",
    "ART-025": "no artifact pin: runs made by the harness or without publishing carry none",
    "ART-026": "no document path that leaves its directory",
    "ART-027": "no oversized or over-deep JSON document",
    "ART-028": "no JSON document with NaN, Infinity or a repeated key",
    "ART-029": "no document with an unsupported schema_version",
    "GAUGE-035": "no degenerate frame in any round record",
}


@pytest.mark.parametrize("requirement", RUN_REQUIREMENT_PARAMS)
def test_run_requirement(requirement: str, run_reports: tuple[list[Any], list[str]]) -> None:
    reports, attempts = run_reports
    findings = findings_for(reports, requirement)
    where = {id(f): r.target for r in reports for f in r.findings}
    failed = [f"{where[id(f)]}: {f.subject}: {f.message}" for f in findings if f.status == "fail"]
    if requirement == "ART-025":
        failed += [f"network access attempted while resolving pins: {a}" for a in attempts]
    if failed:
        shown = "\n  ".join(failed[:20]) + (f"\n  … and {len(failed) - 20} more" if len(failed) > 20 else "")
        pytest.fail(f"{requirement}: {len(failed)} of {len(findings)} finding(s) failed:\n  {shown}", pytrace=False)
    if not any(f.status == "pass" for f in findings):
        blocked = sorted({f.message for f in findings if is_not_checkable(f)})
        if blocked:
            pytest.skip("; ".join(blocked))
        reasons = sorted({f.message for f in findings if f.status == "skip"})
        if reasons:
            pytest.skip("; ".join(reasons[:3]))
        nothing = f"nothing in the runs under test that {requirement} applies to"
        if requirement in ONLY_WHEN_PRESENT:  # the runs hold nothing it governs: not a pass either
            skip_not_applicable(f"{nothing} ({ONLY_WHEN_PRESENT[requirement]})")
        pytest.skip(nothing)
