"""The one place where pytest reports become test outcomes of the compliance vocabulary.

:func:`record` folds the setup/call/teardown reports of one test into one :class:`~.state.Outcome`
(``passed``, ``failed``, ``error``, ``skipped``, ``xfailed``, ``xpassed``, ``not-implemented``,
``not-applicable``, ``precondition-not-met``; see :mod:`lensemble_spec.schemas.compliance`). A new
status is added here: a skip-reason prefix and one line in :func:`skip_outcome`.

Three skip-reason prefixes set a status of their own:

* :func:`skip_not_implemented` — the capability part or method the test needs is absent or raised
  ``NotImplementedError`` (never passed; the verdict is at best ``partial``);
* :func:`skip_not_applicable` — the suite established there is nothing to check: an optional
  feature the implementation *declares* it does not offer (RFC-0002 §8.1's frame-only anchor
  without ``"frame"`` in ``anchor_variants``), or a document the inputs under test cannot contain
  (artifact pins in runs made without ``--run``). Left out of the verdict; only the suite's own
  code calls it, after checking the declaration or the inputs — an implementation that raises
  pytest's skip from its own methods is failed by the guard (``lensemble_spec.guard``);
* ``harness precondition not met:`` (:data:`PRECONDITION_PREFIX`, set by the suite's
  ``conformance._expect.precondition_not_met(what, fix)``) — the harness, not the implementation,
  could not set the check up (its oracle refused the input, the harness world does not fit the
  model's declared shapes). Outcome ``precondition-not-met``: never a failure of the
  implementation and never a pass (the requirement counts as unchecked, the verdict is at best
  ``incomplete``); the reason names the fix.
"""

from __future__ import annotations

import re
from typing import NoReturn

import pytest

from .state import Outcome

NOT_IMPLEMENTED_PREFIX = "not-implemented:"
NOT_APPLICABLE_PREFIX = "not-applicable:"
PRECONDITION_PREFIX = "harness precondition not met:"
MESSAGE_LIMIT = 400


def skip_not_implemented(reason: str) -> NoReturn:
    """Skip the current test as NOT IMPLEMENTED (never counted as passed)."""
    __tracebackhide__ = True  # the skip is reported at the caller's line
    pytest.skip(f"{NOT_IMPLEMENTED_PREFIX} {reason}")


def skip_not_applicable(reason: str) -> NoReturn:
    """Skip the current test as NOT APPLICABLE: ``reason`` names the declaration or the inputs
    that leave it nothing to check (left out of the verdict; never a way to hide a failure)."""
    __tracebackhide__ = True
    pytest.skip(f"{NOT_APPLICABLE_PREFIX} {reason}")


def is_not_implemented(reason: str | None) -> bool:
    return bool(reason) and reason.lstrip().startswith(NOT_IMPLEMENTED_PREFIX)


def is_not_applicable(reason: str | None) -> bool:
    return bool(reason) and reason.lstrip().startswith(NOT_APPLICABLE_PREFIX)


def is_precondition(reason: str | None) -> bool:
    return bool(reason) and str(reason).lstrip().startswith(PRECONDITION_PREFIX)


def skip_outcome(reason: str) -> str:
    """The outcome of a test skipped with ``reason`` (prefixes set by the suite's helpers)."""
    if is_not_implemented(reason):
        return "not-implemented"
    if is_not_applicable(reason):
        return "not-applicable"
    if is_precondition(reason):
        return "precondition-not-met"
    return "skipped"


def _skip_reason(report: pytest.TestReport) -> str:
    lr = report.longrepr
    msg = str(lr[2]) if isinstance(lr, tuple) and len(lr) == 3 else str(lr or "")
    return msg.removeprefix("Skipped: ").strip()


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_XDIST_HEADER = re.compile(r"\A\[gw\d+\] [^\n]*\n+")  # "[gw1] linux -- Python …" (worker banner)


def short(text: str | None) -> str | None:
    """One line, bounded, without object addresses (so one session's file equals another's)."""
    if text is None:
        return None
    text = _ADDRESS.sub("", " ".join(str(text).split()))
    return text[:MESSAGE_LIMIT] + ("…" if len(text) > MESSAGE_LIMIT else "")


def failure_message(report: pytest.TestReport) -> str:
    lr = report.longrepr
    crash = getattr(lr, "reprcrash", None)
    msg = getattr(crash, "message", None) or str(lr or "").strip().splitlines()[-1:] or [""]
    if isinstance(msg, list):
        msg = msg[0]
    text = getattr(report, "longreprtext", "") or ""
    falsifying = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("Falsifying example")]
    if falsifying:
        idx = text.find(falsifying[0])
        msg = f"{msg} | {text[idx:idx + 200].strip()}"
    return short(str(msg)) or ""


DETAILS_LIMIT = 20_000


def failure_details(report: pytest.TestReport) -> str | None:
    """The whole failure text (assertion, traceback, Hypothesis falsifying example), bounded."""
    text = _XDIST_HEADER.sub("", _ADDRESS.sub("", (getattr(report, "longreprtext", "") or "").strip()))
    if len(text) > DETAILS_LIMIT:
        text = text[: DETAILS_LIMIT // 4] + "\n…\n" + text[-3 * DETAILS_LIMIT // 4 :]
    return text or None


def record(rec: Outcome, report: pytest.TestReport) -> None:
    """Fold one phase report of a test into its outcome."""
    rec.duration += float(report.duration or 0.0)
    wasxfail = getattr(report, "wasxfail", None)
    if report.when == "call":
        if wasxfail is not None:
            rec.outcome = "xfailed" if report.skipped else "xpassed"
            rec.message = short(wasxfail) if report.skipped else short(f"XPASS: {wasxfail}")
        elif report.passed:
            rec.outcome = "passed"
        elif report.failed:
            rec.outcome = "failed"
            rec.message = failure_message(report)
            rec.details = failure_details(report)
        else:
            reason = _skip_reason(report)
            rec.outcome = skip_outcome(reason)
            rec.message = short(reason)
    elif report.when == "setup":
        if report.failed:
            rec.outcome = "error"
            rec.message = "setup: " + failure_message(report)
            rec.details = failure_details(report)
        elif report.skipped:
            if wasxfail is not None:
                rec.outcome, rec.message = "xfailed", short(wasxfail)
            else:
                reason = _skip_reason(report)
                rec.outcome = skip_outcome(reason)
                rec.message = short(reason)
    elif report.when == "teardown" and report.failed and rec.outcome != "failed":
        rec.outcome = "error"
        rec.message = "teardown: " + failure_message(report)
        rec.details = failure_details(report)
