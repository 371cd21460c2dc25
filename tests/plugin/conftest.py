"""Fixtures for the plugin tests.

pytester is enabled by the ``pytester`` fixture below rather than ``pytest_plugins = ["pytester"]``:
pytest refuses ``pytest_plugins`` in a conftest that is not loaded at start-up, and this directory's
conftest is loaded late when the whole ``tests/`` tree runs (``make test``).
"""

from __future__ import annotations

import importlib

import pytest
from plugin_harness import Suite, write_rfcs

# Inner in-process runs snapshot sys.modules and drop what they imported; numpy refuses to be
# imported twice in one process. Import what a conformance session loads up front, so it stays.
for _mod in (
    "numpy",
    "hypothesis",
    "lensemble_spec.protocol",
    "lensemble_spec.schemas",
    "lensemble_spec.schemas.compliance",
    "lensemble_spec.report.aggregate",
    "lensemble_spec.report.runs",
    "lensemble_spec.artifacts.atomic",
):
    importlib.import_module(_mod)


@pytest.fixture
def pytester(request: pytest.FixtureRequest, tmp_path_factory, monkeypatch):
    from _pytest.pytester import Pytester

    pm = request.config.pluginmanager
    if not pm.has_plugin("pytester"):
        pm.import_plugin("pytester")  # late registration gives --runpytest its default
    monkeypatch.delenv("LENSEMBLE_SPEC_IMPL", raising=False)
    return Pytester(request, tmp_path_factory, monkeypatch, _ispytest=True)


@pytest.fixture
def suite(pytester):
    """A pytester dir with rfcs/ and a fake implementation module (see plugin_harness.Suite)."""
    write_rfcs(pytester.path)
    pytester.syspathinsert()
    return Suite(pytester)
