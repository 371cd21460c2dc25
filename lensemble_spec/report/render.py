"""Render a :class:`ComplianceReport` as HTML and Markdown with jinja2 (templates in ``templates/``).

Both views show the same things, in this order: the verdict (with the rule that produced it), the
caveats that make a run less than it looks (deselected, skipped, not-implemented, quick level, RFC
filter, collection errors, stale expectations), the test counts, the verdict per RFC and per RFC
2119 level, one row per requirement (id, RFC §, level, text, status, tests, reasons/messages),
the expectations applied, per-round plots when run records are present, and the run info.

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
    "partial": "NOT CONFORMANT",  # the verdict code beside it says partial / incomplete
    "incomplete": "NOT CONFORMANT",
    "not-applicable": "NO VERDICT",
}

VERDICT_RULE = (
    "Conformant iff every MUST requirement in scope has at least one test that ran and passed, and "
    "none failed, is an expected failure, is not implemented, was skipped or went untested. "
    "partial = no MUST failed but some are not implemented; incomplete = some MUST were not tested; "
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


def caveats(report: ComplianceReport) -> list[str]:
    """Plain sentences saying why a run may show less than the whole suite."""
    c, info = report.counts, report.run_info
    out: list[str] = []
    if c.collection_errors:
        out.append(f"{c.collection_errors} collection error(s): part of the suite never ran.")
    if c.deselected:
        out.append(f"{c.deselected} of {c.collected} collected tests were deselected.")
    if c.not_implemented:
        out.append(f"{c.not_implemented} test(s) need a capability the implementation does not provide.")
    if c.skipped:
        out.append(f"{c.skipped} test(s) were skipped.")
    if c.errors:
        out.append(f"{c.errors} test(s) errored in setup or teardown.")
    if c.xfailed:
        out.append(f"{c.xfailed} test(s) failed as the expectations file predicted.")
    if c.xpassed:
        out.append(f"{c.xpassed} test(s) expected to fail passed: remove their expectations.")
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
    return env


def _context(report: ComplianceReport, **extra: Any) -> dict[str, Any]:
    impl = report.run_info.impl
    who = f"{impl.name} {impl.version}" if impl.name else "artifact-only run (no implementation)"
    return {
        "report": report,
        "who": who,
        "verdict": report.verdicts.overall,
        "verdict_text": VERDICT_TEXT[report.verdicts.overall],
        "verdict_rule": VERDICT_RULE,
        "caveats": caveats(report),
        **extra,
    }


def render_html(report: ComplianceReport, *, plots: Sequence[Any] | None = None) -> str:
    """The report as one self-contained HTML page (plots inline as SVG)."""
    if plots is None:
        from .plots import round_plots

        plots = round_plots(report.runs)
    return _env(True).get_template("report.html.j2").render(**_context(report, plots=list(plots)))


def render_markdown(report: ComplianceReport, *, plot_files: Mapping[str, str] | None = None) -> str:
    """The report as Markdown; ``plot_files`` maps a plot title to a relative SVG path."""
    return _env(False).get_template("report.md.j2").render(
        **_context(report, plot_files=dict(plot_files or {}))
    )


def write_report(report: ComplianceReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.html``, ``report.md``, ``results.json`` and ``plots/*.svg`` into ``out_dir``.

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
    written["report.html"] = atomic_write_text(out / "report.html", render_html(report, plots=plots))
    written["report.md"] = atomic_write_text(out / "report.md", render_markdown(report, plot_files=plot_files))
    written["results.json"] = atomic_write_json(out / "results.json", report)
    return written
