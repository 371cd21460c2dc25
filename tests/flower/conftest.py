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


@pytest.fixture
def deployment(tmp_path, flower_sandbox):
    """A :class:`_deploy.Deployment` with a TLS connection ``local`` to a free SuperLink port and
    throwaway credentials (CA, SuperLink certificate, ``node0…node5`` keys); every process it
    starts is stopped by pid at teardown, whatever the test did."""
    import os

    from lensemble_reference.flower.credentials import write_credentials
    from lensemble_reference.flower.deploy import write_connection

    from ._deploy import BIN, Deployment, free_port

    if not (BIN / "flower-superlink").exists() or not (BIN / "flwr").exists():
        pytest.skip("flower-superlink / flwr executables are not installed next to this Python")
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # the SuperLink spawns flower-superexec by name
    creds = tmp_path / "creds"
    write_credentials(creds, nodes=6)
    dep = Deployment(tmp_path, env)
    dep.creds, dep.port = creds, free_port()
    write_connection(flower_sandbox, name="local", address=f"127.0.0.1:{dep.port}", root_certificates=creds / "ca.crt")
    try:
        yield dep
    finally:
        dep.stop()
