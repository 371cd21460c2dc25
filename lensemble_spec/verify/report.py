"""Findings and the verification report.

A :class:`Finding` is one check applied to one subject (a file, a checkpoint, a metric of a
round, a pin): the requirement id it checks, a status and a one-line message. Status:

``pass``  the check ran and the artifact satisfies the requirement;
``fail``  the check ran and the artifact violates it (the message says how);
``skip``  the check could not run (missing prerequisite, nothing recorded to recompute from,
          no hub cache given) — listed so a thin run directory cannot read as fully verified.

A report is ``ok`` when nothing failed **and** at least one check passed.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "skip"]

# Control characters (C0, DEL, C1), Unicode line/paragraph separators and bidirectional overrides:
# printed raw, a file name could end a line and forge an "OK:" verdict or recolour the terminal.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """``text`` with every control character escaped (``\\n``, ``\\x1b``, ``\\u202e``): one safe line."""
    def esc(m: re.Match[str]) -> str:
        c = ord(m.group())
        return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"

    return _UNPRINTABLE.sub(esc, str(text))

STATUSES: tuple[str, ...] = ("pass", "fail", "skip")


@dataclass(frozen=True)
class Finding:
    requirement: str  # e.g. "ART-004"; "" only for findings no requirement covers
    status: Status
    check: str  # short stable name of the check, e.g. "content-hash"
    subject: str  # what was checked, e.g. "checkpoints/round-0001"
    message: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def line(self) -> str:
        """One line of text; subject and message come from files, so control characters are escaped."""
        req = printable(self.requirement or "-")
        check, subject, message = printable(self.check), printable(self.subject), printable(self.message)
        return f"{self.status.upper():4} {req:10} {check:18} {subject}: {message}"


@dataclass
class VerificationReport:
    """What :func:`lensemble_spec.verify.verify_run` found, in check order."""

    target: str
    findings: list[Finding] = field(default_factory=list)
    impl: str | None = None
    hub_cache: str | None = None

    def add(self, requirement: str, status: Status, check: str, subject: str, message: str) -> Finding:
        finding = Finding(requirement, status, check, subject, message)
        self.findings.append(finding)
        return finding

    def passed(self, requirement: str, check: str, subject: str, message: str = "ok") -> Finding:
        return self.add(requirement, "pass", check, subject, message)

    def failed(self, requirement: str, check: str, subject: str, message: str) -> Finding:
        return self.add(requirement, "fail", check, subject, message)

    def skipped(self, requirement: str, check: str, subject: str, message: str) -> Finding:
        return self.add(requirement, "skip", check, subject, message)

    def judge(self, held: bool, requirement: str, check: str, subject: str, passed: str, failed: str) -> Finding:
        """A pass finding worded ``passed`` when ``held``, else a fail finding worded ``failed``."""
        return self.add(requirement, "pass" if held else "fail", check, subject, passed if held else failed)

    def extend(self, findings: list[Finding]) -> None:
        self.findings.extend(findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "fail"]

    @property
    def ok(self) -> bool:
        return not self.failures and any(f.status == "pass" for f in self.findings)

    def failed_requirements(self) -> list[str]:
        return sorted({f.requirement for f in self.failures if f.requirement})

    def counts(self) -> dict[str, int]:
        return {s: sum(f.status == s for f in self.findings) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "lensemble-spec/verification",
            "schema_version": 1,
            "target": self.target,
            "impl": self.impl,
            "hub_cache": self.hub_cache,
            "ok": self.ok,
            "counts": self.counts(),
            "failed_requirements": self.failed_requirements(),
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def render_text(self, *, show_passed: bool = True) -> str:
        lines = [f"verification of {printable(self.target)}" + (f" (impl {printable(self.impl)})" if self.impl else "")]
        for f in self.findings:
            if show_passed or f.status != "pass":
                lines.append("  " + f.line())
        c = self.counts()
        verdict = "OK" if self.ok else ("FAILED" if self.failures else "NOTHING VERIFIED")
        lines.append(f"{verdict}: {c['pass']} passed, {c['fail']} failed, {c['skip']} skipped")
        if self.failures:
            lines.append("failed requirements: " + ", ".join(self.failed_requirements()))
        return "\n".join(lines)


def findings_to_pytest_params(report: VerificationReport) -> list[Any]:
    """One ``pytest.param`` per finding, for the conformance suite to parametrize over.

    Each param carries the :class:`Finding` as its single value, an id
    ``"<requirement>:<check>:<subject>"`` (deduplicated with a counter) and the marker
    ``pytest.mark.requirement(<id>)`` so the plugin files the result under that requirement.
    A test body then needs only::

        @pytest.mark.parametrize("finding", findings_to_pytest_params(report))
        def test_run_artifacts(finding):
            if finding.status == "skip":
                pytest.skip(finding.message)
            assert finding.status == "pass", finding.message
    """
    import pytest

    params = []
    seen: dict[str, int] = {}
    for finding in report.findings:
        base = f"{finding.requirement or 'none'}:{finding.check}:{finding.subject}"
        n = seen.get(base, 0)
        seen[base] = n + 1
        marks = [pytest.mark.requirement(finding.requirement)] if finding.requirement else []
        params.append(pytest.param(finding, id=base if n == 0 else f"{base}#{n}", marks=marks))
    return params


__all__ = ["printable", "Finding", "STATUSES", "Status", "VerificationReport", "findings_to_pytest_params"]
