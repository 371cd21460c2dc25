"""The findings API: which requirements the verifier checks, and knock-on reporting.

:data:`RUN_REQUIREMENTS` lists every requirement id :func:`~lensemble_spec.verify.verify_run` can
report a finding for; the conformance suite parametrizes its run-directory tests over it, so each
of these requirements is implemented once, here, and both entry points (``lensemble-spec verify``
and ``pytest conformance --run``) report the same outcome for it.

**Knock-on reporting.** A document that does not validate hides every check that reads it: when
``rounds.jsonl`` fails ART-020 nothing can be said about drift bounds or recorded metrics. Such a
requirement is reported as a ``skip`` whose message starts with ``not checkable:`` and names the
document and its requirement — "not checkable: `rounds.jsonl` does not validate (ART-020)" — never
as a failure with ``None`` values and never silently absent. :func:`add_knock_on` adds these
findings (one per dependent requirement and run) to a finished report.
"""

from __future__ import annotations

from collections.abc import Iterable

from .report import Finding, VerificationReport

#: Every requirement id verify_run can report on (a run directory, a comparison, a results table).
RUN_REQUIREMENTS: tuple[str, ...] = (
    "ART-001", "ART-003", "ART-004", "ART-007", "ART-013", "ART-014", "ART-015", "ART-016", "ART-017",
    "ART-018", "ART-019", "ART-020", "ART-021", "ART-022", "ART-023", "ART-024", "ART-025", "ART-026",
    "ART-027", "ART-028", "ART-029",
    "EVAL-001", "EVAL-002", "EVAL-003", "EVAL-004", "EVAL-007", "EVAL-008", "EVAL-009", "EVAL-010",
    "EVAL-011", "EVAL-013", "EVAL-014", "EVAL-015", "EVAL-016", "EVAL-017", "EVAL-019", "EVAL-020", "EVAL-021",
    "FED-009", "FED-013", "FED-026",
    "GAUGE-024", "GAUGE-031", "GAUGE-033", "GAUGE-034", "GAUGE-035", "GAUGE-040", "GAUGE-041", "GAUGE-042",
)  # fmt: skip

NOT_CHECKABLE = "not checkable:"


#: A document's requirement -> (its file name, the requirements whose checks read it). Only the
#: requirements of one run are affected (a comparison's runs are verified independently).
DEPENDENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ART-016": ("manifest.json", (
        "ART-001", "ART-004", "ART-007", "ART-014", "ART-017", "ART-018", "ART-019", "ART-020", "ART-021", "ART-022",
        "EVAL-007", "EVAL-008", "EVAL-009", "GAUGE-024", "GAUGE-031", "GAUGE-033", "GAUGE-034", "GAUGE-035",
        "GAUGE-040", "GAUGE-041", "GAUGE-042",
    )),
    "ART-020": ("rounds.jsonl", (
        "ART-021", "EVAL-007", "EVAL-008", "EVAL-009", "GAUGE-031", "GAUGE-033", "GAUGE-034", "GAUGE-035",
        "GAUGE-040", "GAUGE-041", "GAUGE-042",
    )),
    "ART-022": ("probe.safetensors", ("EVAL-007", "GAUGE-024", "GAUGE-033", "GAUGE-034", "GAUGE-035", "GAUGE-041")),
    "EVAL-015": ("results.json", ("EVAL-010", "EVAL-011", "EVAL-013", "EVAL-014", "EVAL-016", "EVAL-017")),
}  # fmt: skip


def is_not_checkable(finding: Finding) -> bool:
    return finding.status == "skip" and finding.message.startswith(NOT_CHECKABLE)


def not_checkable_message(document: str, requirement: str) -> str:
    return f"{NOT_CHECKABLE} `{document}` does not validate ({requirement})"


def _scope(subject: str, document: str) -> str | None:
    """The run prefix of a finding about ``document`` (``""`` or ``"<control>/"``), else None."""
    at = subject.find(document)
    if at < 0:
        return None
    prefix = subject[:at]
    return prefix if prefix == "" or (prefix.endswith("/") and "/" not in prefix[:-1]) else None


#: Requirements under which a document's reading errors are filed besides its own (bounded JSON,
#: literals, schema version, path confinement): any of them failing means the document is unusable.
READING_REQUIREMENTS = ("ART-026", "ART-027", "ART-028", "ART-029")


def add_knock_on(report: VerificationReport) -> list[Finding]:
    """Add a ``not checkable`` finding for each requirement that depends on a document which
    failed to validate and has no finding of its own in that run; return the added findings."""
    added: list[Finding] = []
    for doc_req, (document, dependents) in DEPENDENTS.items():
        blocked: dict[str, str] = {}  # scope -> the failed requirement that made the document unusable
        for f in report.findings:
            if f.status == "fail" and f.requirement in (doc_req, *READING_REQUIREMENTS):
                scope = _scope(f.subject, document)
                if scope is not None:
                    blocked.setdefault(scope, f.requirement)
        for scope, cause in sorted(blocked.items()):
            present = {f.requirement for f in report.findings if _in_scope(f.subject, scope)}
            for req in dependents:
                if req not in present:
                    added.append(
                        report.skipped(
                            req, "not-checkable", f"{scope}{document}", not_checkable_message(document, cause)
                        )
                    )
                    present.add(req)
    return added


def _replace(report: VerificationReport, old: Finding, message: str) -> Finding:
    new = Finding(old.requirement, "skip", "not-checkable", old.subject, message)
    report.findings[report.findings.index(old)] = new
    return new


def downgrade_knock_on_failures(report: VerificationReport) -> list[Finding]:
    """Turn failures that are only consequences of another finding into ``not checkable``:

    * the run layout (ART-015) of a run whose manifest could not be read: without the manifest's
      checkpoint list every checkpoint directory looks unexpected;
    * a verdict (EVAL-014) of a row without ``latent_dim``: the verdict cannot be derived, which is
      the missing key's failure (EVAL-016), not a wrong verdict.
    """
    changed: list[Finding] = []
    manifest_blocked = {
        scope
        for f in report.findings
        if f.status == "fail" and f.requirement in ("ART-016", *READING_REQUIREMENTS)
        and (scope := _scope(f.subject, "manifest.json")) is not None
    }  # fmt: skip
    for scope in manifest_blocked:
        loaded = any(f.requirement in ("ART-001", "ART-004") and _in_scope(f.subject, scope) for f in report.findings)
        if loaded:
            continue  # the manifest was read (it failed on content): its checkpoint list is usable
        for f in [
            f
            for f in report.findings
            if f.requirement == "ART-015" and f.status == "fail" and _in_scope(f.subject, scope)
        ]:
            changed.append(
                _replace(
                    report,
                    f,
                    f"{not_checkable_message('manifest.json', 'ART-016')}; without its checkpoint list: {f.message}",
                )
            )
    for f in [
        f
        for f in report.findings
        if f.requirement == "EVAL-014" and f.status == "fail" and f.message.startswith("no latent_dim")
    ]:
        changed.append(
            _replace(
                report, f, f"{NOT_CHECKABLE} the row has no `latent_dim` (EVAL-016), so its verdict cannot be derived"
            )
        )
    return changed


def add_tier1_verdicts(report: VerificationReport) -> list[Finding]:
    """EVAL-013 (a verdict is a function of tier-1 metrics only) from each EVAL-014 verdict check:
    the verifier re-derives every verdict with the RFC-0005 §5 rule, which reads tier-1 metrics
    only, so a verdict that differs from it depends on something else."""
    added = []
    for f in list(report.findings):
        if f.requirement == "EVAL-014" and f.check == "verdict" and f.status in ("pass", "fail"):
            message = (
                f"the verdict is the tier-1 rule's: {f.message}"
                if f.status == "pass"
                else f"the verdict is not the tier-1 rule's: {f.message}"
            )
            added.append(report.add("EVAL-013", f.status, "verdict-tier1", f.subject, message))
    return added


def _in_scope(subject: str, scope: str) -> bool:
    if scope:
        return subject.startswith(scope)
    first = subject.split("/", 1)[0]
    return first not in _CONTROL_NAMES


_CONTROL_NAMES = frozenset({"local-only", "naive-fedavg", "anchored", "centralized"})


def findings_for(reports: Iterable[VerificationReport], requirement: str) -> list[Finding]:
    """Every finding of ``requirement`` across ``reports``, in order."""
    return [f for r in reports for f in r.findings if f.requirement == requirement]


__all__ = [
    "DEPENDENTS",
    "NOT_CHECKABLE",
    "RUN_REQUIREMENTS",
    "add_knock_on",
    "add_tier1_verdicts",
    "findings_for",
    "is_not_checkable",
    "not_checkable_message",
]
