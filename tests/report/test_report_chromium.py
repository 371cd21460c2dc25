"""The HTML report in a real browser: headless Chromium renders it, and the rendered page is asserted.

Chromium (Debian's package; ``.ci/run`` installs it) is driven over the DevTools protocol
(:mod:`_browser`, standard library only). On a report with failures, plots and a Hypothesis
failure it checks what a reader sees, not only that the file loads: the failures section is the
first section after the verdict and its first entry is a failed requirement; the requirement rows
start with the failed ones; the filter hides rows; a failure's full text (with the falsifying
example) opens from its summary; an RFC link, clicked, lands on the page ``rfcs/RFC-….html`` with
the requirement's own element as the ``:target``, scrolled into view; every plot is an SVG
rendered with non-zero width and height. A screenshot is taken and must be a real PNG.

The test never skips silently: without Chromium it fails, unless ``LENSEMBLE_SPEC_NO_BROWSER=1``
says no browser is expected on this machine.
"""

from __future__ import annotations

import os
import struct

import pytest
from _browser import Browser, find_chromium
from report_fixtures import make_report, req, round_record

from lensemble_spec.report.render import write_report
from lensemble_spec.schemas.compliance import RunRecords

CHROMIUM = find_chromium()
FALSIFYING = "Falsifying example: test_b(\n    q=array([[0., 1.], [1., 0.]]),\n)"


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("LENSEMBLE_SPEC_NO_BROWSER") == "1":
            pytest.skip("LENSEMBLE_SPEC_NO_BROWSER=1: no browser expected on this machine")
        pytest.fail(
            "chromium is not installed (apt-get install -y chromium), and LENSEMBLE_SPEC_NO_BROWSER=1 is not set"
        )
    return CHROMIUM


def browser_report(tmp_path):
    reqs = [req("GAUGE-001"), req("GAUGE-002", text="`encode(rotate(p, Q), x)` MUST equal `encode(p, x) @ Q`."),
            req("GAUGE-003", level="SHOULD"), req("FED-001", rfc="RFC-0003"), req("ART-023", rfc="RFC-0010")]
    outcomes = {
        "conformance/test_gauge.py::test_a": (["GAUGE-001"], "passed", None),
        "conformance/test_gauge.py::test_b": (["GAUGE-002"], "failed", "AssertionError: not equivariant"),
        "conformance/test_gauge.py::test_c": (["GAUGE-003"], "passed", None),
        "conformance/test_fed.py::test_d": (["FED-001"], "passed", None),
        "conformance/test_art.py::test_e": (["ART-023"], "passed", None),
    }
    runs = [RunRecords(run_dir=f"/runs/{c}", control=c, latent_dim=16,
                       records=[round_record(i, c, drift_to_reference_deg=5.0 * i * (k + 1)) for i in range(4)])
            for k, c in enumerate(("anchored", "naive-fedavg"))]
    report = make_report(reqs, outcomes, runs=runs)
    tests = [
        t.model_copy(
            update={
                "details": f"def test_b():\n>   assert False\nE   AssertionError: not equivariant\n\n{FALSIFYING}\n"
            }
        )
        if t.outcome == "failed"
        else t
        for t in report.tests
    ]
    report = report.model_copy(update={"tests": tests})
    out = tmp_path / "report"
    write_report(report, out)
    return out / "report.html"


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_chromium_renders_failures_first_links_to_rfc_anchors_and_draws_plots(chromium, tmp_path):
    page = browser_report(tmp_path)
    b = Browser(chromium, tmp_path / "profile", page.as_uri())
    try:
        b.wait_for("document.readyState === 'complete' && !!document.querySelector('#failures')")
        # the failures section is the first section after the verdict, and names the failed requirement
        order = b.evaluate(
            "Array.from(document.querySelectorAll('h1 ~ p#verdict, section, h2')).map(e => e.id || e.textContent)"
        )
        assert order[0] == "verdict" and order[1] == "failures", order
        assert b.evaluate("document.querySelector('#failures li').dataset.requirement") == "GAUGE-002"
        assert b.evaluate("document.querySelector('#verdict').innerText").startswith("Verdict: NOT CONFORMANT")
        assert b.evaluate(
            "document.querySelector('#failures').getBoundingClientRect().top < "
            "document.querySelector('#counts').getBoundingClientRect().top"
        )
        # rows: worst first; code spans rendered as <code>; the filter script works
        assert b.evaluate("document.querySelector('#requirements tbody tr').dataset.status") == "failed"
        assert (
            b.evaluate("document.querySelector('#req-GAUGE-002 td.text code').textContent") == "encode(rotate(p, Q), x)"
        )
        b.evaluate(
            "(() => { const s = document.getElementById('filter-status'); s.value = 'passed'; s.dispatchEvent(new "
            "Event('change')); })()"
        )
        assert (
            b.evaluate(
                "Array.from(document.querySelectorAll('#requirements tbody tr')).filter(r => !r.hidden).map(r => "
                "r.dataset.status)"
            )
            == ["passed"] * 4
        )
        b.evaluate(
            "(() => { const s = document.getElementById('filter-status'); s.value = ''; s.dispatchEvent(new "
            "Event('change')); })()"
        )
        # the full failure text and the falsifying example open from the summary
        assert b.evaluate("document.querySelector('details.failure pre.details').checkVisibility()") is False
        b.evaluate("document.querySelector('details.failure summary').click()")
        assert b.evaluate("document.querySelector('details.failure').open") is True
        assert b.evaluate("document.querySelector('details.failure pre.details').checkVisibility()") is True
        assert "Falsifying example: test_b(" in b.evaluate(
            "document.querySelector('details.failure pre.falsifying').innerText"
        )
        # every plot is an SVG drawn with a non-zero size; the thresholds are drawn
        sizes = b.evaluate(
            "Array.from(document.querySelectorAll('figure.plot svg')).map(s => { const r = s.getBoundingClientRect(); "
            "return [s.closest('figure').dataset.metric, r.width, r.height]; })"
        )
        assert {m for m, _, _ in sizes} >= {"effective_rank", "latent_std_mean", "drift_to_reference_deg"}
        assert all(w > 100 and h > 50 for _, w, h in sizes), sizes
        assert "MAX_DRIFT_TO_REFERENCE_DEG = 30°" in b.evaluate(
            "document.querySelector('#fig-drift_to_reference_deg').textContent"
        )
        shot = b.screenshot(tmp_path / "report.png")
        width, height = png_size(shot)
        assert width == 1280 and height > 1000 and shot.stat().st_size > 20_000
        # an RFC link, clicked, lands on the requirement's own anchor in the rendered RFC page
        b.evaluate("document.querySelector('#req-GAUGE-002 a.rfc-link').click()")
        b.wait_for(
            "location.pathname.endsWith('/rfcs/RFC-0002-latent-gauge.html') && document.readyState === 'complete'"
        )
        assert b.evaluate("location.hash") == "#GAUGE-002"
        target = b.evaluate(
            "(() => { const t = document.querySelector(':target'); return t && [t.id, t.tagName, "
            "t.getBoundingClientRect().top, innerHeight]; })()"
        )
        assert target is not None and target[:2] == ["GAUGE-002", "LI"], target
        assert -1 <= target[2] < target[3] / 2, f"anchor not scrolled into view: {target}"
        assert "GAUGE-002" in b.evaluate("document.querySelector(':target strong').textContent")
    finally:
        b.close()
