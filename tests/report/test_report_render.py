"""HTML and Markdown rendering of a ComplianceReport, and the per-round plots.

Defects caught: a requirement missing from or duplicated in the report; a verdict not shown; counts
not shown (a shrunken run looking green); untrusted text (requirement text, test ids, failure
messages) injecting markup into HTML or breaking a Markdown table row; plots with clashing ids,
XML comments or a degenerate frame drawn as a normal point.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from report_fixtures import NASTY, sample_report

from lensemble_spec.report.plots import round_plots, sanitize_svg
from lensemble_spec.report.render import md_escape, render_html, render_markdown


class Walker(HTMLParser):
    """Collects start tags with attributes, text per element id, and all ids."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: list[str] = []
        self.stack: list[str | None] = []
        self.text_by_id: dict[str, str] = {}
        self.open_ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if a.get("id"):
            self.ids.append(a["id"])
        if tag not in {"meta", "br", "hr", "img", "input", "link", "path", "use", "rect", "line"}:
            self.stack.append(a.get("id"))
            if a.get("id"):
                self.open_ids.append(a["id"])

    def handle_startendtag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if a.get("id"):
            self.ids.append(a["id"])

    def handle_endtag(self, tag):
        if self.stack:
            ident = self.stack.pop()
            if ident and self.open_ids and self.open_ids[-1] == ident:
                self.open_ids.pop()

    def handle_data(self, data):
        for ident in self.open_ids:
            self.text_by_id[ident] = self.text_by_id.get(ident, "") + data


def walk(html: str) -> Walker:
    w = Walker()
    w.feed(html)
    w.close()
    return w


def test_html_has_every_requirement_once_and_the_verdict():
    report = sample_report()
    w = walk(render_html(report, plots=[]))
    rows = [a["data-requirement"] for t, a in w.tags if t == "tr" and "data-requirement" in a]
    assert sorted(rows) == sorted(r.id for r in report.requirements)
    assert len(rows) == len(set(rows))
    statuses = {a["data-requirement"]: a["data-status"] for t, a in w.tags if t == "tr" and "data-requirement" in a}
    assert statuses == {r.id: r.status for r in report.requirements}
    verdict = [a for t, a in w.tags if a.get("id") == "verdict"]
    assert len(verdict) == 1 and verdict[0]["data-verdict"] == "non-conformant"
    assert "NOT CONFORMANT" in w.text_by_id["verdict"]
    counts = {a["data-count"] for t, a in w.tags if "data-count" in a}
    assert {"collected", "run", "skipped", "not_implemented", "deselected"} <= counts
    rfc_rows = {a["data-rfc"]: a["data-verdict"] for t, a in w.tags if "data-rfc" in a and "data-verdict" in a}
    assert rfc_rows == {"RFC-0002": "non-conformant", "RFC-0003": "non-conformant"}
    level_rows = {a["data-level"] for t, a in w.tags if "data-level" in a and "data-verdict" in a}
    assert level_rows == {"MUST", "SHOULD", "MAY"}


def test_html_escapes_untrusted_text():
    html = render_html(sample_report(), plots=[])
    w = walk(html)
    assert not [t for t, _ in w.tags if t == "b"]  # nothing injected became markup
    assert (
        len([t for t, _ in w.tags if t == "script"]) == 1 and "alert" not in html.split("<script>")[1]
    )  # our own filter script only
    assert not [
        a for t, a in w.tags if t == "a" and "http://e" in (a.get("href") or "")
    ]  # no links out of untrusted text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html  # requirement text, through the inline renderer
    assert "&lt;b&gt;1 != 2&lt;/b&gt;" in html
    assert "<title>lensemble-spec compliance: fake &lt;impl&gt; 1.0" in html
    # the decoded text still says what the requirement says
    assert 'S @ Q ≈ T <script>alert("x")</script>' in w.text_by_id["req-GAUGE-001"]


def _md_table(md: str, heading: str) -> list[str]:
    section = md.split(f"## {heading}\n", 1)[1]
    lines = []
    for line in section.splitlines()[1:]:
        if not line.startswith("|"):
            if lines:
                break
            continue
        lines.append(line)
    return lines[2:]  # drop header and separator


def _cells(row: str) -> list[str]:
    # split on pipes that are not escaped
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_markdown_one_row_per_requirement_with_seven_cells_worst_first():
    report = sample_report()
    md = render_markdown(report, links={})
    rows = _md_table(md, "Requirements")
    assert len(rows) == len(report.requirements)
    by_id = {r.id: r for r in report.requirements}
    seen = []
    for row in rows:
        cells = _cells(row)
        assert len(cells) == 7, row
        r = by_id[cells[0].strip("`")]
        assert cells[4] == f"**{r.status}**"
        seen.append(r.status)
    assert seen[0] == "failed" and seen.index("passed") > seen.index("not-implemented")
    assert "**Verdict: NOT CONFORMANT** — 2 of 3 MUST requirement(s) failed." in md  # GAUGE-002 failed, FED-001 xfailed
    assert md.index("## Failures first") < md.index("## Test counts")
    linked = render_markdown(report)
    assert "[`GAUGE-002`](rfcs/RFC-0002-latent-gauge.html#GAUGE-002)" in linked
    # the counts row (precondition not met, not applicable after not implemented)
    assert "| 4 | 0 | 3 | 1 | 1 | 0 | 0 | 1 | 0 | 0 | 1 | 0 | 0 | 0 |" in md


def test_markdown_escapes_special_characters():
    md = render_markdown(sample_report(), links={})
    assert "<script>" not in md and "<b>" not in md
    assert "&lt;script&gt;" in md
    row = next(r for r in _md_table(md, "Requirements") if r.startswith("| `GAUGE-001`"))
    assert r"a\|b" in row and r"\*bold\*" in row and r"\[link\]" in row and "`tick`" in row
    failed = next(r for r in _md_table(md, "Requirements") if r.startswith("| `GAUGE-002`"))
    assert r"`conformance/test_gauge.py::test_b[x\|y]`" in failed
    assert md_escape("a\nb") == "a b"
    assert NASTY.count("|") == 2


def test_plots_for_each_metric_with_safe_unique_ids():
    report = sample_report(with_runs=True)
    plots = round_plots(report.runs)
    assert [p.metric for p in plots] == ["effective_rank", "latent_std_mean", "drift_to_reference_deg", "val_pred"]
    html = render_html(report, plots=plots)
    assert html.count("<svg") == 4
    assert "<!--" not in html and "<?xml" not in html
    w = walk(html)
    assert len(w.ids) == len(set(w.ids)), "duplicate ids across inline SVGs"
    drift = next(p for p in plots if p.metric == "drift_to_reference_deg")
    assert "degenerate frame" in drift.svg  # the naive run's degenerate round is marked, not dropped
    assert "naive-fedavg (naive)" in next(p for p in plots if p.metric == "effective_rank").svg
    assert round_plots(report.runs)[0].svg == plots[0].svg  # deterministic


def test_no_runs_no_plots():
    assert round_plots([]) == []
    html = render_html(sample_report())
    assert "<svg" not in html and "Per-round metrics" not in html


def test_sanitize_svg_prefixes_references():
    svg = (
        '<?xml version="1.0"?><!-- c --><svg><defs><path id="m1"/></defs>'
        '<use xlink:href="#m1"/><g clip-path="url(#p2)"/></svg>'
    )
    out = sanitize_svg(svg, "f")
    assert out == '<svg><defs><path id="f-m1"/></defs><use xlink:href="#f-m1"/><g clip-path="url(#f-p2)"/></svg>'


def test_caveats_name_every_nonzero_count_in_order():
    from lensemble_spec.report.render import caveats

    report = sample_report()
    assert caveats(report)[:2] == [
        "1 test(s) need a capability the implementation does not provide.",
        "1 test(s) failed as the expectations file predicted.",
    ]
    counts = report.counts.model_copy(update={"collection_errors": 2, "deselected": 3, "xpassed": 1})
    lines = caveats(report.model_copy(update={"counts": counts}))
    assert lines[:5] == [
        "2 collection error(s): part of the suite never ran.",
        f"3 of {counts.collected} collected tests were deselected.",
        "1 test(s) need a capability the implementation does not provide.",
        "1 test(s) failed as the expectations file predicted.",
        "1 test(s) expected to fail passed: remove their expectations.",
    ]
