"""The plugin in CI set-ups: pytest-xdist, --collect-only, --help, junitxml, -k by requirement id.

Each run is a subprocess (xdist starts worker processes) in a scratch directory holding a tiny RFC
set, a fake gauge-only implementation and a conformance module with every outcome: passed,
failed, expected failure (expectations file), not implemented, skipped, deselected.

Defects caught: a compliance file written from one xdist worker only (a fraction of the tests,
the rest "never ran", still claiming a verdict); --collect-only overwriting the last real results
with "incomplete, 0 run"; junit test cases no dashboard can map to requirements; -k unable to
select a requirement's tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from plugin_harness import write_impl, write_rfcs

CI_TESTS = '''
import pytest

@pytest.mark.requirement("TST-001")
@pytest.mark.parametrize("x", range(6))
def test_rank(gauge_part, x):
    assert gauge_part.effective_rank(None) == 1.0

@pytest.mark.requirement("TST-001")
def test_rank_fails(gauge_part):
    assert gauge_part.effective_rank(None) == 2.0, "rank is not two"

@pytest.mark.requirement("TST-002")
def test_model(model_part):
    pass

@pytest.mark.lensemble_requirement("TST-003")
@pytest.mark.parametrize("x", range(4))
def test_version(impl, x):
    assert impl.version == "1.2.3"

@pytest.mark.requirement("ALT-001")
def test_alt(run_dirs):
    pytest.skip("no run")

@pytest.mark.requirement("TST-003")
def test_known(impl):
    assert False, "known"
'''


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str]:
    write_rfcs(tmp_path)
    impl = write_impl(tmp_path)
    (tmp_path / "conformance").mkdir()
    (tmp_path / "conformance" / "test_ci.py").write_text(textwrap.dedent(CI_TESTS), encoding="utf-8")
    (tmp_path / "exp.toml").write_text('[xfail]\n"test_ci::test_known" = "known bug"\n', encoding="utf-8")
    return tmp_path, impl


def _pytest(root: Path, impl: str, *args: str, json_name: str = "out.json") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LENSEMBLE_SPEC", "PYTEST_"))}
    env["PYTHONPATH"] = str(root)
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "conformance",
            "--lensemble-impl", impl, "--lensemble-rfc-dir", "rfcs", "--lensemble-expectations", "exp.toml",
            "--lensemble-json", json_name, *args]
    return subprocess.run(argv, cwd=root, env=env, check=False, capture_output=True, text=True, timeout=180)


def _comparable(path: Path) -> dict:
    """The document less what legitimately differs between two sessions (times, argv)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc.pop("run_info")
    for t in doc["tests"]:
        t.pop("duration_s")
    return doc


def test_xdist_results_equal_a_single_process_run(project):
    pytest.importorskip("xdist")
    root, impl = project
    single = _pytest(root, impl, "-k", "not test_alt", json_name="single.json")
    double = _pytest(root, impl, "-k", "not test_alt", "-n", "2", json_name="double.json")
    assert single.returncode == double.returncode == 1, single.stdout + double.stdout
    a, b = _comparable(root / "single.json"), _comparable(root / "double.json")
    assert a == b
    assert a["counts"]["selected"] == 13 and a["counts"]["deselected"] == 1
    assert a["counts"]["xfailed"] == 1 and a["counts"]["not_implemented"] == 1
    assert not any("never ran" in w for w in a["warnings"])
    assert "lensemble-spec compliance" in double.stdout  # the summary prints on the controller
    assert "verdict: NON-CONFORMANT" in double.stdout


def test_collect_only_and_help_write_nothing(project):
    root, impl = project
    done = _pytest(root, impl)
    assert done.returncode == 1
    before = (root / "out.json").read_bytes()
    for args in (["--co"], ["--collect-only", "-q"], ["--help"], ["--setup-plan"]):
        done = _pytest(root, impl, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        assert (root / "out.json").read_bytes() == before, args
    assert "--lensemble-impl=MODULE[:ATTR]" in _pytest(root, impl, "--help").stdout
    (root / "out.json").unlink()
    _pytest(root, impl, "--co")
    assert not (root / "out.json").exists()
    assert not (root / ".lensemble-spec").exists()


def test_junit_cases_carry_requirement_properties_and_k_selects_by_id(project):
    root, impl = project
    done = _pytest(root, impl, "--junitxml", "junit.xml")
    assert done.returncode == 1
    cases = ET.parse(root / "junit.xml").getroot().iter("testcase")
    props = {
        c.get("name"): sorted(p.get("value") for p in c.iter("property") if p.get("name") == "requirement")
        for c in cases
    }
    assert len(props) == 14
    assert props["test_rank[0]"] == ["TST-001"] and props["test_model"] == ["TST-002"]
    assert props["test_version[3]"] == ["TST-003"]  # the namespaced marker too
    assert all(props.values())

    done = _pytest(root, impl, "-k", "TST-003", json_name="k.json")
    doc = json.loads((root / "k.json").read_text(encoding="utf-8"))
    selected = sorted(t["nodeid"].split("::")[1] for t in doc["tests"])
    assert selected == ["test_known", *[f"test_version[{i}]" for i in range(4)]]
    assert doc["counts"]["deselected"] == 9


def test_xdist_junit_and_k_together(project):
    pytest.importorskip("xdist")
    root, impl = project
    done = _pytest(root, impl, "-n", "2", "-k", "TST-001", "--junitxml", "junit.xml")
    assert done.returncode == 1
    names = {c.get("name") for c in ET.parse(root / "junit.xml").getroot().iter("testcase")}
    assert names == {f"test_rank[{i}]" for i in range(6)} | {"test_rank_fails"}
    doc = json.loads((root / "out.json").read_text(encoding="utf-8"))
    assert doc["counts"]["selected"] == 7 and doc["counts"]["deselected"] == 7
