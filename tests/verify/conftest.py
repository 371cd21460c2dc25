"""Fixtures for the verification tests (the builder lives in ``_runbuilder``)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _runbuilder import TOY, build_comparison  # noqa: E402

from lensemble_spec.protocol import Implementation  # noqa: E402


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Built once per session; never modify it — copy it with the ``comparison`` fixture."""
    return build_comparison(tmp_path_factory.mktemp("verify-pristine"))


@pytest.fixture
def comparison(pristine: dict[str, Any], tmp_path: Path) -> Path:
    """A private, mutable copy of the comparison directory."""
    dst = tmp_path / "comparison"
    shutil.copytree(pristine["comparison"], dst, symlinks=True)
    return dst


@pytest.fixture
def run_dir(comparison: Path) -> Path:
    """A private, mutable copy of the anchored run directory (2 committed rounds after θ_0)."""
    return comparison / "anchored"


@pytest.fixture
def toy() -> Implementation:
    return TOY
