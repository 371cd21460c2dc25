"""The plugin inside somebody else's project: as if lensemble-spec were not installed.

A scratch project with its own plugin that registers ``--level``, ``--impl`` and ``--run`` (and
markers ``requirement``/``level``), and its own top-level ``conformance/`` test folder. pytest runs
twice in a subprocess — with the lensemble-spec plugin loaded (entry point) and with it blocked
(``-p no:lensemble_spec``) — and must give the same exit code, the same output and write the same
files (none of ours).

Defects caught: an argparse "conflicting option string" crash at start-up, the plugin demanding an
implementation for a project's own ``conformance/`` folder (recognising its suite by words in
paths), its fixtures or marker checks leaking into other projects, a results file written for a
session that never ran the suite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DUMMY_PLUGIN = '''
import pytest

def pytest_addoption(parser):
    g = parser.getgroup("dummy")
    g.addoption("--level", default="low", help="the dummy plugin's level")
    g.addoption("--impl", default=None, help="the dummy plugin's implementation")
    g.addoption("--run", action="store_true", help="the dummy plugin's run switch")

def pytest_configure(config):
    config.addinivalue_line("markers", "requirement(x): the dummy project's own marker")
    config.addinivalue_line("markers", "level(x): the dummy project's own marker")

@pytest.fixture
def impl(request):
    return request.config.getoption("--impl")
'''

OWN_TESTS = '''
import pytest

@pytest.mark.requirement("NOT-AN-ID")
@pytest.mark.level("whatever")
def test_level(request):
    assert request.config.getoption("--level") == "high"

def test_impl(impl):
    assert impl == "theirs"

def test_run(request):
    assert request.config.getoption("--run") is True

def test_fails():
    assert 1 == 2
'''


def _project(root: Path, how: str) -> list[str]:
    (root / "conformance").mkdir(parents=True)
    (root / "conformance" / "test_own.py").write_text(textwrap.dedent(OWN_TESTS), encoding="utf-8")
    if how == "plugin":
        (root / "dummy_levels.py").write_text(textwrap.dedent(DUMMY_PLUGIN), encoding="utf-8")
        return ["-p", "dummy_levels"]
    (root / "conftest.py").write_text(textwrap.dedent(DUMMY_PLUGIN), encoding="utf-8")
    return []


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts)


def _run(root: Path, args: list[str], **extra_env: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LENSEMBLE_SPEC", "PYTEST_"))}
    env.update(extra_env)
    env["PYTHONPATH"] = str(root)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=root, env=env, check=False, capture_output=True, text=True, timeout=120,
    )
    text = out.stdout + out.stderr
    text = re.sub(r"^plugins: .*$", "plugins: <list>", text, flags=re.MULTILINE)  # names the blocked plugin
    text = re.sub(r"\d+\.\d+s", "<t>s", text)
    text = re.sub(r" at 0x[0-9a-f]+", " at 0x?", text)
    return out.returncode, text


@pytest.mark.parametrize("how", ["plugin", "conftest"])
@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--level", "high", "--impl", "theirs", "--run"],
        ["--level", "high", "--impl", "theirs", "--run", "conformance", "--co"],
    ],
    ids=["plain", "their-options", "collect-only"],
)
def test_foreign_project_behaves_as_without_lensemble_spec(tmp_path, how, args):
    with_ours = tmp_path / "with" / "proj"
    without = tmp_path / "without" / "proj"
    extra = _project(with_ours, how)
    _project(without, how)
    rc_with, out_with = _run(with_ours, [*extra, *args])
    rc_without, out_without = _run(without, [*extra, "-p", "no:lensemble_spec", *args])
    out_with = out_with.replace(str(with_ours), "<root>")
    out_without = out_without.replace(str(without), "<root>")
    assert "conflicting option" not in out_with
    assert rc_with == rc_without, out_with
    assert out_with == out_without
    assert _files(with_ours) == _files(without)
    assert not (with_ours / ".lensemble-spec").exists()
    if args[:1] == ["--level"] and "--co" not in args:
        assert "1 failed, 3 passed" in out_with  # their options reached their tests


def test_an_exported_implementation_variable_does_not_make_the_session_ours(tmp_path):
    """A CI job may export LENSEMBLE_SPEC_IMPL for all its pytest runs: it is only a fallback."""
    with_ours, without = tmp_path / "with" / "proj", tmp_path / "without" / "proj"
    extra = _project(with_ours, "conftest")
    _project(without, "conftest")
    rc_with, out_with = _run(with_ours, extra, LENSEMBLE_SPEC_IMPL="no_such_adapter_xyz")
    rc_without, out_without = _run(without, [*extra, "-p", "no:lensemble_spec"])
    assert rc_with == rc_without
    assert out_with.replace(str(with_ours), "<root>") == out_without.replace(str(without), "<root>")
    assert _files(with_ours) == _files(without)


def test_namespaced_options_still_work_beside_the_foreign_plugin(tmp_path):
    """The foreign plugin owns --impl; --lensemble-impl still selects our implementation."""
    root = tmp_path / "p"
    extra = _project(root, "plugin")
    (root / "myimpl.py").write_text(
        "class G:\n"
        "    def procrustes_align(self, a, b): return [[1.0]]\n"
        "    def rotation_angle_deg(self, q): return 0.0\n"
        "    def frame_drift_deg(self, a, b): return 0.0\n"
        "    def effective_rank(self, z): return 1.0\n"
        "    def latent_std_mean(self, z): return 1.0\n"
        "class I:\n    name = 'mine'\n    version = '1'\n    gauge = G()\n"
        "    model = federation = artifacts = None\n"
        "IMPLEMENTATION = I()\n",
        encoding="utf-8",
    )
    rc, out = _run(root, [*extra, "--lensemble-impl", "myimpl", "--lensemble-json", "r.json",
                          "--lensemble-parts", "gauge", "--pyargs", "lensemble_spec.conformance",
                          "-k", "effective_rank", "--co", "-q"])
    assert rc == 0, out
    assert "test_gauge_primitives.py::" in out
    assert not (root / "r.json").exists()  # --co writes nothing
