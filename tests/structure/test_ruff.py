"""The tree passes ``ruff check`` with the configuration in pyproject.toml (line length 120).

ruff comes with the ``dev`` extra (``make venv`` installs it); without it this test fails and
says so rather than skipping, so a clean ``make test`` always lints.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATHS = ("lensemble_spec", "lensemble_reference", "tests", "benchmarks")


def _ruff() -> str:
    beside = Path(sys.executable).with_name("ruff")
    found = str(beside) if beside.is_file() else shutil.which("ruff")
    assert found, "ruff is not installed: `pip install -e '.[dev]'` (or `make venv`) installs it"
    return found


def test_ruff_check_is_clean() -> None:
    result = subprocess.run(
        [_ruff(), "check", "--no-cache", "--output-format", "concise", *PATHS],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_ruff_reads_the_project_configuration() -> None:
    result = subprocess.run([_ruff(), "check", "--show-settings", "lensemble_spec/errors.py"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "line_length = 120" in result.stdout.replace("line-length", "line_length")
