"""Fixtures for the Flower engine tests: a sandboxed Flower environment."""

from __future__ import annotations

import pytest

pytest.importorskip("flwr.app", reason="flwr (extra 'flower') is not installed")


@pytest.fixture(autouse=True)
def flower_sandbox(tmp_path_factory, monkeypatch):
    """Flower/Ray never phone home, never ``uv sync`` and write their state under a tmp dir."""
    home = tmp_path_factory.mktemp("flwr-home")
    monkeypatch.setenv("FLWR_HOME", str(home))
    monkeypatch.setenv("FLWR_TELEMETRY_ENABLED", "0")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION", "1")
    return home
