"""Render a :class:`ComplianceReport` as HTML and Markdown with jinja2 (templates in ``templates/``).

Both views show the same things, in this order: the verdict headline (with the rule that produced
it), the failures first (every failed or expected-failure requirement, then every MUST that did not
pass, each linking to its row), the caveats that make a run less than it looks (deselected,
skipped, not-implemented, quick level, RFC filter, collection errors, stale expectations), the test
counts, the verdict per capability part (when the compliance JSON has one), per RFC and per RFC
2119 level, one row per requirement — worst status first — (id linking to the RFC text, RFC §,
level, text with its Markdown rendered, status, tests, reasons, and for a failed test its full
failure text and any Hypothesis falsifying example in an expandable block), the expectations
applied, one plot per metric when run records are present, and the run info. The HTML page has a
few lines of inline script to filter rows by status or text and to sort by a column; the rows are
readable without it. :func:`write_report` also writes the RFCs as HTML (``rfcs/*.html``, one anchor
per requirement id, :mod:`.rfc_html`) so those links resolve offline.

Escaping: the HTML environment autoescapes every value (requirement text, test ids and failure
messages are untrusted); only the sanitised SVG of :mod:`.plots` is marked safe. The Markdown
environment escapes through the ``md`` filter (HTML entities for ``& < >``, backslash for the
Markdown punctuation that would change meaning, ``|`` for table cells, newlines to spaces), so a
requirement text cannot break a table row or inject markup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..schemas.compliance import ComplianceReport

TEMPLATES = Path(__file__).with_name("templates")

VERDICT_TEXT = {
    "conformant": "CONFORMANT",
    "non-conformant": "NOT CONFORMANT",
    "partial": "PARTIAL",
    "incomplete": "INCOMPLETE",
    "not-applicable": "NO VERDICT",
}

#: Requirement statuses, worst first: the default row order and the failures section.
STATUS_ORDER = (
    "failed",
    "expected-failure",
    "not-implemented",
    "precondition-not-met",
    "skipped",
    "not-tested",
    "passed",
    "not-applicable",
)
FAILURE_STATUSES = ("failed", "expected-failure")
_FALSIFYING = re.compile(r"^(?:E\s+)?((?:Falsifying (?:explicit )?example|Failing test case):.*)$")


def verdict_summary(report: ComplianceReport) -> str:
    """One sentence after the verdict word: what decided it, in MUST-requirement counts."""
    m, v = report.verdicts.must, report.verdicts.overall
    na = f" ({m.not_applicable} not applicable)" if m.not_applicable else ""
    if v == "conformant":
        return (
            f"all {m.total - m.not_applicable} applicable MUST requirements passed{na}"
            if na
            else f"all {m.total} MUST requirements passed"
        )
    if v == "non-conformant":
        n = m.failed + m.expected_failure
        return f"{n} of {m.total} MUST requirement(s) failed"
    if v == "partial":
        return f"not conformant: no MUST requirement failed, but {m.not_implemented} of {m.total} are not implemented"
    if v == "incomplete":
        unchecked = m.skipped + m.not_tested + m.precondition_not_met
        harness = (
            (
                f" ({m.precondition_not_met} because a harness precondition was not met: the harness's problem, "
                "see the fixes below)"
            )
            if m.precondition_not_met
            else ""
        )
        return f"not conformant: no MUST requirement failed, but {unchecked} of {m.total} were not checked{harness}"
    return "no MUST requirement in scope"


def falsifying_example(details: str | None) -> str | None:
    """The Hypothesis ``Falsifying example:`` / ``Failing test case:`` block of a failure text, if any.

    pytest prefixes the lines of a Hypothesis note with ``E``; the block ends at a line that is
    ``)`` alone (the call closed) or at the first blank line.
    """
    if not details:
        return None
    lines = details.splitlines()
    for i, line in enumerate(lines):
        m = _FALSIFYING.match(line)
        if m is None:
            continue
        block = [m.group(1)]
        for nxt in lines[i + 1 :]:
            text = re.sub(r"^E(?:\s|$)", "", nxt, count=1) if nxt.startswith("E") else nxt
            if not text.strip():
                break
            block.append(text.rstrip())
            if text.strip() == ")":
                break
        return "\n".join(block)
    return None


def part_verdicts(report: Any) -> list[tuple[str, str, Any]]:
    """``[(part, verdict, statuses|None)]`` from the compliance JSON's per-part verdicts, if it has them.

    Accepts ``verdicts.by_part`` (or ``verdicts.parts``) mapping a part name to a scope verdict
    (``{verdict, statuses}``) or to a bare verdict string; returns ``[]`` when there is none.
    """
    verdicts = getattr(report, "verdicts", None)
    raw = getattr(verdicts, "by_part", None) or getattr(verdicts, "parts", None) or {}
    if hasattr(raw, "model_dump"):
        raw = raw.model_dump()
    out = []
    for name, value in dict(raw).items():
        if isinstance(value, str):
            out.append((str(name), value, None))
        else:
            verdict = getattr(value, "verdict", None) or (value.get("verdict") if isinstance(value, dict) else None)
            statuses = getattr(value, "statuses", None) or (value.get("statuses") if isinstance(value, dict) else None)
            if isinstance(statuses, dict):
                from types import SimpleNamespace

                statuses = SimpleNamespace(
                    **{
                        k: statuses.get(k, 0)
                        for k in (
                            "total",
                            "passed",
                            "failed",
                            "expected_failure",
                            "not_implemented",
                            "precondition_not_met",
                            "skipped",
                            "not_applicable",
                            "not_tested",
                        )
                    }
                )
            out.append((str(name), str(verdict), statuses))
    return out


def harness_preconditions(report: ComplianceReport) -> list[tuple[str, list[str]]]:
    """``[(reason with its fix, [requirement ids])]``: every distinct *harness precondition not met*
    reason of the session, with the requirements whose tests hit it (first seen first)."""
    out: dict[str, list[str]] = {}
    for t in report.tests:
        if t.outcome != "precondition-not-met":
            continue
        ids = out.setdefault(t.message or "harness precondition not met", [])
        ids.extend(r for r in t.requirements if r not in ids)
    return [(reason, sorted(ids)) for reason, ids in out.items()]


VERDICT_RULE = (
    "Conformant iff every MUST requirement in scope has at least one test that ran and passed, and "
    "none failed, is an expected failure, is not implemented, was skipped or went untested. "
    "partial = no MUST failed but some are not implemented; incomplete = some MUST were not tested; "
    "precondition not met = the harness could not set a check up (its oracle, its world): the harness's problem, "
    "with the fix beside it, never a failure of the implementation and never a pass. "
    "not applicable = the suite found nothing to check (an optional feature the implementation declares it does "
    "not offer, a document the inputs cannot contain): left out, never counted as passed. "
    "SHOULD and MAY requirements never decide conformance."
)

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}#+!|~])")


def md_escape(value: Any) -> str:
    """Escape text for a Markdown table cell or paragraph (see module docstring)."""
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return " ".join(text.split())


def md_code(value: Any) -> str:
    """An inline code span for ids (node ids with ``_`` stay readable); pipes escaped for tables."""
    text = " ".join(("" if value is None else str(value)).split())
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


#: A caveat per non-zero count, in this order (``{n}`` the count, ``{collected}`` the collected tests).
_COUNT_CAVEATS = (
    ("collection_errors", "{n} collection error(s): part of the suite never ran."),
    ("deselected", "{n} of {collected} collected tests were deselected."),
    ("not_implemented", "{n} test(s) need a capability the implementation does not provide."),
    ("skipped", "{n} test(s) were skipped."),
    (
        "precondition_not_met",
        "{n} test(s) could not be set up by the harness (harness precondition not met): "
        "not a failure of the implementation, but not a pass either; the fixes are listed under "
        "'Harness preconditions not met'.",
    ),
    (
        "not_applicable",
        "{n} test(s) had nothing to apply to (an optional feature not offered, "
        "a document the inputs cannot contain); their requirements are left out of the verdict.",
    ),
    ("errors", "{n} test(s) errored in setup or teardown."),
    ("xfailed", "{n} test(s) failed as the expectations file predicted."),
    ("xpassed", "{n} test(s) expected to fail passed: remove their expectations."),
)


def caveats(report: ComplianceReport) -> list[str]:
    """Plain sentences saying why a run may show less than the whole suite."""
    c, info = report.counts, report.run_info
    out = [text.format(n=getattr(c, key), collected=c.collected) for key, text in _COUNT_CAVEATS if getattr(c, key)]
    if info.level == "quick":
        out.append("Run at --level quick: tests marked level('full') were skipped.")
    if info.rfc_filter:
        out.append(f"Scope limited to {', '.join(info.rfc_filter)}.")
    if report.stale_expectations:
        out.append(f"{len(report.stale_expectations)} expectation entr(y/ies) matched no test.")
    if report.verdicts.must.not_tested:
        out.append(f"{report.verdicts.must.not_tested} MUST requirement(s) had no test run.")
    out.extend(report.warnings)
    return out


def _env(autoescape: bool) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["mdcode"] = md_code
    env.filters["mdtext"] = md_text
    if autoescape:
        from markupsafe import Markup

        from .rfc_html import inline

        env.filters["inline"] = lambda text: Markup(inline("" if text is None else str(text)))
    return env


def md_text(value: Any) -> str:
    """Requirement text for a Markdown cell: its code spans kept as code spans, the rest escaped (:func:`md_escape`)."""
    text = " ".join(("" if value is None else str(value)).split())

    def plain(part: str) -> str:  # md_escape trims; keep the spaces around code spans
        lead, trail = " " if part.startswith(" ") else "", " " if part.endswith(" ") and part.strip() else ""
        return lead + md_escape(part) + trail

    out, pos = [], 0
    for m in re.finditer(r"(`+)(.+?)\1", text):
        out.append(plain(text[pos : m.start()]))
        out.append(m.group(0).replace("|", "\\|"))
        pos = m.end()
    out.append(plain(text[pos:]))
    return "".join(out).strip()


def _context(report: ComplianceReport, links: Mapping[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    impl = report.run_info.impl
    who = f"{impl.name} {impl.version}" if impl.name else "artifact-only run (no implementation)"
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    order = {r.id: i for i, r in enumerate(report.requirements)}
    rows = sorted(report.requirements, key=lambda r: (rank.get(r.status, len(rank)), order[r.id]))
    tests = {t.nodeid: t for t in report.tests}
    if links is None:
        from .rfc_html import rfc_links

        links = rfc_links()
    return {
        "report": report,
        "who": who,
        "verdict": report.verdicts.overall,
        "verdict_text": VERDICT_TEXT[report.verdicts.overall],
        "verdict_summary": verdict_summary(report),
        "verdict_rule": VERDICT_RULE,
        "caveats": caveats(report),
        "rows": rows,
        "failures": [r for r in rows if r.status in FAILURE_STATUSES],
        "must_not_passed": [r for r in rows if r.level == "MUST" and r.status not in (*FAILURE_STATUSES, "passed")],
        "preconditions": harness_preconditions(report),
        "tests_by_id": tests,
        "falsifying": {n: falsifying_example(t.details) for n, t in tests.items() if t.details},
        "parts": part_verdicts(report),
        "links": dict(links),
        **extra,
    }


def render_html(
    report: ComplianceReport, *, plots: Sequence[Any] | None = None, links: Mapping[str, str] | None = None
) -> str:
    """The report as one HTML page (plots inline as SVG; requirement ids link to ``rfcs/*.html``)."""
    if plots is None:
        from .plots import round_plots

        plots = round_plots(report.runs)
    return _env(True).get_template("report.html.j2").render(**_context(report, links, plots=list(plots)))


def render_markdown(
    report: ComplianceReport, *, plot_files: Mapping[str, str] | None = None, links: Mapping[str, str] | None = None
) -> str:
    """The report as Markdown; ``plot_files`` maps a plot title to a relative SVG path."""
    return _env(False).get_template("report.md.j2").render(**_context(report, links, plot_files=dict(plot_files or {})))


def write_report(report: ComplianceReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.html``, ``report.md``, ``results.json``, ``plots/*.svg`` and ``rfcs/*.html`` into ``out_dir``.

    Every file is written atomically; ``results.json`` is the (validated) report re-serialised,
    including any run records added since the test session. Returns the written paths by name.
    """
    from ..artifacts.atomic import atomic_write_json, atomic_write_text
    from .plots import round_plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = round_plots(report.runs)
    written: dict[str, Path] = {}
    plot_files: dict[str, str] = {}
    for p in plots:
        rel = f"plots/{p.metric}.svg"
        svg = p.svg if "xmlns=" in p.svg else p.svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"', 1)
        written[rel] = atomic_write_text(out / rel, svg + "\n")
        plot_files[p.title] = rel
    from .rfc_html import rfc_links, write_rfc_pages

    links = rfc_links()
    if links:
        written.update(write_rfc_pages(out))
    written["report.html"] = atomic_write_text(out / "report.html", render_html(report, plots=plots, links=links))
    written["report.md"] = atomic_write_text(
        out / "report.md", render_markdown(report, plot_files=plot_files, links=links)
    )
    written["results.json"] = atomic_write_json(out / "results.json", report)
    return written
