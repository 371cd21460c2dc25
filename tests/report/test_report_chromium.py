"""The HTML report shows its verdict in a real browser (headless Chromium's rendered DOM).

Skips cleanly when Chromium is not installed (CI installs it with ``apt-get install -y chromium``).
Defect caught: a report whose verdict is only in markup a browser does not display (broken HTML,
a verdict hidden by the page structure).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from report_fixtures import make_report, req, sample_report

from lensemble_spec.report.render import render_html

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or "") if p and Path(p).exists()),
    None,
)

# ~1-2 s per test (a browser start), so not marked slow.
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")


def _dump_dom(path: Path, tmp_path: Path) -> str:
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_chromium_shows_the_verdict(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(sample_report(with_runs=True)), encoding="utf-8")
    dom = _dump_dom(page, tmp_path)
    assert 'id="verdict"' in dom and 'data-verdict="non-conformant"' in dom
    assert "Verdict: <strong>NOT CONFORMANT</strong>" in dom
    assert dom.count("data-requirement=") == 5
    assert "<svg" in dom
    assert "<script>alert" not in dom  # escaped text stays text in the browser's DOM too


def test_chromium_shows_a_conformant_verdict(tmp_path):
    report = make_report([req("A-001")], {"t::a": (["A-001"], "passed", None)})
    page = tmp_path / "ok.html"
    page.write_text(render_html(report), encoding="utf-8")
    dom = _dump_dom(page, tmp_path)
    assert "Verdict: <strong>CONFORMANT</strong>" in dom
