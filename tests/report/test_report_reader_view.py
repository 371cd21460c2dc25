"""What a reader needs from the report: failures first, RFC links that land, full failure text,
per-part verdicts, threshold lines, comparison directories plotted, an exit status to gate on.

Defects caught: a failure listed only in catalog order (pages down); an id whose link has no
anchor in the shipped RFC HTML, or a requirement with two anchors; Markdown in requirement text
shown raw, or a link out of untrusted text; the full failure text or the Hypothesis falsifying
example lost; per-part verdicts dropped (or their absence breaking the page); plots without the
RFC-0002 bounds; a comparison directory given to ``--run``/``--runs`` read as one empty run; the
Markdown headline saying "NOT CONFORMANT (partial)"; ``report --require conformant`` exiting 0
on a non-conformant result; a message cut before the falsifying example.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from report_fixtures import make_report, req, round_record, sample_report

from lensemble_spec import cli
from lensemble_spec.report.plots import round_plots, thresholds
from lensemble_spec.report.render import (
    falsifying_example,
    part_verdicts,
    render_html,
    render_markdown,
)
from lensemble_spec.report.rfc_html import (
    inline,
    markdown_to_html,
    rfc_links,
    write_rfc_pages,
)
from lensemble_spec.report.runs import load_runs
from lensemble_spec.requirements import default_rfc_dir, load_catalog
from lensemble_spec.schemas.compliance import RunRecords

DETAILS = """def test_rotation(q):
>       assert np.allclose(a, b)
E       AssertionError: not equivariant

Falsifying example: test_rotation(
    q=array([[0., 1.],
           [1., 0.]]),
)

You can reproduce this example by temporarily adding @reproduce_failure('6.1', b'AA') as a decorator"""


def test_every_requirement_has_exactly_one_anchor_in_the_rendered_rfcs(tmp_path):
    written = write_rfc_pages(tmp_path)
    pages = {p.split("/")[-1]: path.read_text() for p, path in written.items()}
    links = rfc_links()
    catalog = load_catalog()
    assert set(links) == set(catalog.ids)
    for rid, link in links.items():
        page, anchor = link.removeprefix("rfcs/").split("#")
        assert anchor == rid
        assert pages[page].count(f'id="{rid}"') == 1, rid
    for name, html in pages.items():
        ids = re.findall(r'\bid="([^"]+)"', html)
        assert len(ids) == len(set(ids)), f"duplicate anchors in {name}"
    assert {Path(r.file).name for r in catalog} == {n.replace(".html", ".md") for n in pages}
    assert (tmp_path / "rfcs").is_dir() and sorted(default_rfc_dir().glob("RFC-*.md"))


def test_inline_markdown_renders_code_spans_and_never_links_out():
    out = inline("`a<b>` **must** *x* [rfc](RFC-0002-latent-gauge.md#GAUGE-001) [out](http://evil.example) <i>")
    assert "<code>a&lt;b&gt;</code>" in out and "<strong>must</strong>" in out and "<em>x</em>" in out
    assert '<a href="RFC-0002-latent-gauge.html#GAUGE-001">rfc</a>' in out
    assert "http://evil.example" in out and 'href="http' not in out and "<i>" not in out
    body = markdown_to_html("# T\n\n- **ART-001** (MUST): A `x` MUST be.\n  continued.\n\n```\n<raw>\n```\n")
    assert (
        '<li id="ART-001" class="requirement level-MUST"><strong>ART-001</strong> (MUST): A <code>x</code> MUST be. '
        'continued.</li>'
        in body
    )
    assert "<pre><code>&lt;raw&gt;</code></pre>" in body


def _failing_report():
    reqs = [
        req("GAUGE-001"),
        req("GAUGE-002", text="`encode` MUST commute with `rotate`."),
        req("GAUGE-003", level="SHOULD"),
    ]
    outcomes = {
        "c::a": (["GAUGE-001"], "passed", None),
        "c::b": (["GAUGE-002"], "failed", "AssertionError: not equivariant"),
        "c::c": (["GAUGE-003"], "failed", "AssertionError: should"),
    }
    report = make_report(reqs, outcomes)
    tests = [t.model_copy(update={"details": DETAILS}) if t.nodeid == "c::b" else t for t in report.tests]
    return report.model_copy(update={"tests": tests})


def test_failures_come_first_with_their_full_text_and_falsifying_example():
    html = render_html(_failing_report(), plots=[])
    assert html.index('id="failures"') < html.index('id="counts"') < html.index('id="requirements"')
    failures = html[html.index('id="failures"'):html.index("</section>")]
    assert failures.index('href="#req-GAUGE-002"') < failures.index(
        'href="#req-GAUGE-003"'
    )  # MUST first in catalog order
    rows = re.findall(r'<tr id="req-([A-Z]+-\d+)"', html)
    assert rows == ["GAUGE-002", "GAUGE-003", "GAUGE-001"]  # failed before passed
    assert "<code>encode</code> MUST commute with <code>rotate</code>" in html
    assert '<pre class="falsifying">Falsifying example: test_rotation(' in html
    assert "reproduce_failure" in html  # the whole text, not a 400-character cut
    assert falsifying_example(DETAILS).endswith(")")
    assert falsifying_example("no example here") is None


@pytest.mark.parametrize(
    "outcome, word, rest",
    [("failed", "NOT CONFORMANT", "1 of 1 MUST requirement(s) failed"),
     ("not-implemented", "PARTIAL", "not conformant: no MUST requirement failed, but 1 of 1 are not implemented"),
     ("skipped", "INCOMPLETE", "not conformant: no MUST requirement failed, but 1 of 1 were not checked"),
     ("passed", "CONFORMANT", "all 1 MUST requirements passed")],
)
def test_markdown_headline_says_what_decided_the_verdict(outcome, word, rest):
    md = render_markdown(make_report([req("A-001")], {"t::a": (["A-001"], outcome, "why")}), links={})
    assert f"**Verdict: {word}** — {rest}." in md
    assert "NOT CONFORMANT (" not in md


def test_part_verdicts_render_when_present_and_are_optional():
    assert part_verdicts(sample_report()) == []  # absent: nothing, no error
    statuses = {
        "total": 3,
        "passed": 2,
        "failed": 1,
        "not_implemented": 0,
        "skipped": 0,
        "not_tested": 0,
        "expected_failure": 0,
    }
    fake = SimpleNamespace(
        verdicts=SimpleNamespace(
            by_part={"gauge": {"verdict": "non-conformant", "statuses": statuses}, "model": "conformant"}
        )
    )
    parts = part_verdicts(fake)
    assert [(n, v) for n, v, _ in parts] == [("gauge", "non-conformant"), ("model", "conformant")]
    assert parts[0][2].failed == 1 and parts[1][2] is None


def test_plots_draw_the_rfc_bounds_with_labelled_axes():
    cat = load_catalog()
    runs = [RunRecords(run_dir="/r/a", control="anchored", latent_dim=16, records=[round_record(i) for i in range(3)])]
    bounds = thresholds(runs)
    assert bounds["drift_to_reference_deg"][0][0] == cat.param("MAX_DRIFT_TO_REFERENCE_DEG")
    assert bounds["effective_rank"][0][0] == pytest.approx(cat.param("MIN_RANK_FRACTION") * 16)
    assert bounds["latent_std_mean"][0][0] == cat.param("MIN_LATENT_STD")
    svgs = {p.metric: p.svg for p in round_plots(runs)}
    assert "MAX_DRIFT_TO_REFERENCE_DEG = 30°" in svgs["drift_to_reference_deg"]
    assert "MIN_RANK_FRACTION·d = 0.25·16 = 4" in svgs["effective_rank"]
    assert "MIN_LATENT_STD = 0.001" in svgs["latent_std_mean"]
    assert all("round (0 = before training)" in s for s in svgs.values())
    assert "drift to reference (degrees)" in svgs["drift_to_reference_deg"]


def _comparison(root: Path) -> Path:
    cmp_dir = root / "cmp"
    for control in ("anchored", "naive-fedavg"):
        d = cmp_dir / control
        d.mkdir(parents=True)
        (d / "manifest.json").write_text(json.dumps({"control": control}))
        (d / "rounds.jsonl").write_text("\n".join(json.dumps(round_record(i, control)) for i in range(3)) + "\n")
    (cmp_dir / "results.json").write_text(
        json.dumps({"controls": [{"control": "anchored"}, {"control": "naive-fedavg"}]})
    )
    return cmp_dir


def test_a_comparison_directory_is_read_as_one_run_per_control(tmp_path):
    runs = load_runs(_comparison(tmp_path))
    assert [(r.control, len(r.records), r.problems) for r in runs] == [("anchored", 3, []), ("naive-fedavg", 3, [])]
    single = load_runs(tmp_path / "cmp" / "anchored")
    assert len(single) == 1 and single[0].control == "anchored"


@pytest.fixture
def only_report(monkeypatch):
    from importlib.metadata import EntryPoint

    ep = EntryPoint(name="report", value="lensemble_spec.commands.report:register", group="lensemble_spec.commands")
    monkeypatch.setattr(cli, "entry_points", lambda group: [ep] if group == ep.group else [])


def test_report_plots_comparisons_and_require_gates_the_exit_status(tmp_path, only_report, capsys):
    cmp_dir = _comparison(tmp_path)
    report = sample_report().model_copy(
        update={"runs": [RunRecords(run_dir=str(cmp_dir), problems=["no rounds.jsonl"])]}
    )
    src = tmp_path / "results.json"
    src.write_text(json.dumps(report.model_dump(mode="json")))
    out = tmp_path / "out"
    assert cli.main(["report", "--from", str(src), "--out", str(out), "--require", "conformant"]) == 3
    assert "--require conformant: the verdict is non-conformant" in capsys.readouterr().err
    html = (out / "report.html").read_text()
    assert "no rounds.jsonl" not in html and html.count('class="plot"') == 4
    assert "anchored (anchored)" in html and "naive-fedavg (naive-fedavg)" in html  # both controls overlaid
    assert (out / "rfcs" / "RFC-0002-latent-gauge.html").is_file()
    ok = make_report([req("A-001")], {"t::a": (["A-001"], "passed", None)})
    src.write_text(json.dumps(ok.model_dump(mode="json")))
    assert cli.main(["report", "--from", str(src), "--out", str(tmp_path / "ok"), "--require", "conformant"]) == 0
    shutil.rmtree(out)


def test_part_verdicts_table_is_rendered_in_both_views(monkeypatch):
    import lensemble_spec.report.render as render

    statuses = SimpleNamespace(
        total=3, passed=2, failed=1, expected_failure=0, not_implemented=0, precondition_not_met=0, skipped=0,
        not_applicable=0, not_tested=0,
    )
    monkeypatch.setattr(
        render, "part_verdicts", lambda report: [("gauge", "non-conformant", statuses), ("model", "partial", None)]
    )
    html = render_html(sample_report(), plots=[], links={})
    assert '<tr class="v-non-conformant" data-part="gauge" data-verdict="non-conformant">' in html
    assert 'data-part="model" data-verdict="partial"' in html
    assert "| gauge | non-conformant |" in render_markdown(sample_report(), links={})
    monkeypatch.undo()
    assert 'id="verdict-by-part"' not in render_html(sample_report(), plots=[], links={})
