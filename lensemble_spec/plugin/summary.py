"""End of session: the compliance report, the results file, the verdict gate and the summary.

The report is built in the process that saw every test report (the only process without xdist,
the controller with it) and written atomically; sessions that ran nothing (``--collect-only``,
``--setup-plan``, ``--setup-only``) and xdist workers write nothing. ``--lensemble-require`` turns
the verdict into the exit code: ``conformant`` accepts only ``conformant``; ``partial`` accepts
any verdict without a failure (``partial``, ``incomplete``, ``conformant``). With
``--lensemble-parts`` every chosen part's verdict must meet it as well.
"""

from __future__ import annotations

import datetime as _dt
import platform
import time
from typing import Any

import pytest

from ..errors import LensembleError
from .collection import catalog_of
from .recording import send_to_controller
from .state import State, get_state, is_xdist_worker

ACCEPTS = {
    "conformant": frozenset({"conformant"}),
    "partial": frozenset({"conformant", "incomplete", "partial"}),
}


def _ran_nothing(config: pytest.Config) -> bool:
    opt = config.option
    return bool(getattr(opt, "collectonly", False) or getattr(opt, "setupplan", False)
                or getattr(opt, "setuponly", False))


def session_finish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = get_state(config)
    if state is None:
        return
    if is_xdist_worker(config):
        send_to_controller(config, state)
        return
    if not state.active or _ran_nothing(config):
        return
    report = build_report(config, state, int(exitstatus))
    state.report = report
    from ..artifacts.atomic import atomic_write_json

    try:
        atomic_write_json(state.json_path, report.model_dump(mode="json"))
        state.written = state.json_path
    except LensembleError as exc:  # ArtifactError: unwritable path
        state.write_error = f"{exc.message} ({exc.remediation})"
    failing = gate_failures(state, report)
    if failing:
        state.gate_message = (
            f"--lensemble-require {state.require}: not met ({'; '.join(failing)})"
        )
        if int(session.exitstatus) == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def gate_failures(state: State, report: Any) -> list[str]:
    """The verdicts that do not meet ``--lensemble-require`` (empty: the gate passes)."""
    if not state.require:
        return []
    accepted = ACCEPTS[state.require]
    failing = []
    if report.verdicts.overall not in accepted:
        failing.append(f"overall: {report.verdicts.overall}")
    for part in state.parts:
        verdict = report.verdicts.by_part.get(part)
        got = verdict.verdict if verdict is not None else "not-applicable"
        if got not in accepted:
            failing.append(f"{part}: {got}")
    return failing


def terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = get_state(config)
    if state is None or not state.active or state.report is None:
        return
    r = state.report
    c, v = r.counts, r.verdicts
    tr = terminalreporter
    tr.write_sep("=", "lensemble-spec compliance")
    colour = {"conformant": {"green": True}, "non-conformant": {"red": True}}.get(v.overall, {"yellow": True})
    who = f"{r.run_info.impl.name} {r.run_info.impl.version}" if r.run_info.impl.name else "artifact-only run"
    tr.write_line(f"verdict: {v.overall.upper()} ({who}, level {r.run_info.level})", bold=True, **colour)
    for part, sv in v.by_part.items():
        st = sv.statuses
        na = f", {st.not_applicable} not applicable" if st.not_applicable else ""
        pn = f", {st.precondition_not_met} harness precondition not met" if st.precondition_not_met else ""
        tr.write_line(f"  {part}: {sv.verdict} ({st.passed}/{st.total - st.not_applicable} MUST passed{pn}{na})")
    m = v.must
    tr.write_line(
        f"MUST requirements: {m.total} in scope - {m.passed} passed, {m.failed} failed, "
        f"{m.expected_failure} expected-failure, {m.not_implemented} not implemented, "
        f"{m.precondition_not_met} harness precondition not met, "
        f"{m.skipped} skipped, {m.not_applicable} not applicable, {m.not_tested} not tested"
    )
    tr.write_line(
        f"tests: {c.collected} collected, {c.deselected} deselected, {c.run} run "
        f"({c.passed} passed, {c.failed} failed, {c.xfailed} xfailed, {c.xpassed} xpassed), "
        f"{c.errors} errors, {c.skipped} skipped, {c.not_implemented} not implemented, "
        f"{c.precondition_not_met} harness precondition not met, {c.not_applicable} not applicable"
    )
    for w in r.warnings:
        tr.write_line(f"warning: {w}", yellow=True)
    if state.written:
        tr.write_line(f"results: {state.written}")
    if state.write_error:
        tr.write_line(f"could not write results: {state.write_error}", red=True)
    if state.gate_message:
        tr.write_line(state.gate_message, red=True, bold=True)


# --- report assembly ------------------------------------------------------------------------------
def build_report(config: pytest.Config, state: State, exitstatus: int | None = None) -> Any:
    """Assemble and validate the :class:`ComplianceReport` of this session."""
    from ..report.aggregate import build_compliance_report

    catalog = state.catalog
    if catalog is None:
        try:
            catalog = catalog_of(config, state)
        except LensembleError as exc:  # an artifact-only run without RFCs still gets counts
            state.warnings.append(f"requirement catalog unavailable: {exc}")
    return build_compliance_report(
        requirements=catalog.all() if catalog is not None else [],
        items=state.items,
        outcomes={k: {"outcome": v.outcome, "message": v.message, "duration": v.duration, "details": v.details}
                  for k, v in state.results.items()},
        run_info=_run_info(config, state, exitstatus),
        rfc_filter=state.rfc_filter,
        requirement_scope=state.requirement_scope,
        deselected=state.deselected,
        collection_errors=state.collection_errors,
        expectations=[
            {"kind": e.kind, "match": e.match, "reason": e.reason, "by": e.by,
             "matched": sorted(set(e.matched))}
            for e in state.expectations
        ],
        unknown_ids=state.unknown_ids,
        warnings=state.warnings,
        runs=_load_runs(state),
    )


def _load_runs(state: State) -> list[Any]:
    if not state.run_dirs:
        return []
    from ..report.runs import load_runs

    return [r for d in state.run_dirs for r in load_runs(d)]


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _parts() -> tuple[str, ...]:
    from ..constants import PARTS

    return PARTS


def _run_info(config: pytest.Config, state: State, exitstatus: int | None) -> dict[str, Any]:
    from .. import __version__

    impl: dict[str, Any] = {"spec": state.impl_spec}
    if state.impl is not None:
        caps = state.impl.capabilities()
        impl.update(
            name=state.impl.name,
            version=state.impl.version,
            capabilities=caps,
            missing=[p for p in _parts() if p not in caps],
        )
    hyp: dict[str, Any] = {"profile": state.hypothesis_profile}
    if state.hypothesis_profile:
        try:
            from hypothesis import settings

            prof = settings.get_profile(state.hypothesis_profile)
            deadline = prof.deadline
            hyp.update(
                max_examples=prof.max_examples,
                derandomize=prof.derandomize,
                deadline_ms=None if deadline is None else deadline.total_seconds() * 1000.0,
            )
        except Exception as exc:  # noqa: BLE001 - an unknown user profile: record what we know
            state.warnings.append(f"hypothesis profile {state.hypothesis_profile!r}: {exc}")
    seed = getattr(config.option, "hypothesis_seed", None)
    hyp["seed"] = None if seed is None else str(seed)
    return {
        "impl": impl,
        "lensemble_spec_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pytest": pytest.__version__,
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "level": state.level,
        "rfc_filter": [f"RFC-{n:04d}" for n in state.rfc_filter],
        "parts": list(state.parts),
        "require": state.require,
        "run_dirs": [str(p) for p in state.run_dirs],
        "expectations_file": str(state.expectations_file) if state.expectations_file else None,
        "strict_expectations": state.strict,
        "hypothesis": hyp,
        "rootdir": str(config.rootpath),
        "args": [str(a) for a in config.invocation_params.args],
        "started_at": state.started_wall,
        "finished_at": now(),
        "duration_s": round(max(time.monotonic() - state.started_mono, 0.0), 3),
        "exit_status": exitstatus,
    }


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
