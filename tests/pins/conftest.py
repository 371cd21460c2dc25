from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # _hubcache helper



@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_HUB_OFFLINE=1 and a socket that refuses to connect: any network use fails the test."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted during pin resolution")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def hub_cache(tmp_path: Path) -> dict:
    """A cache with two revisions of a model repo and one dataset repo."""
    from _hubcache import REPO, REV_A, REV_B, add_snapshot

    cache = tmp_path / "hub"
    cache.mkdir()
    files_a = {
        "weights.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + bytes(range(64)),
        "config.json": b'{"latent_dim": 16}\n',
        "eval/results.json": b'{"effective_rank": 5.0}\n',
    }
    files_b = {"weights.safetensors": b"different bytes" * 7, "config.json": b'{"latent_dim": 32}\n'}
    snap_a = add_snapshot(cache, REPO, REV_A, files_a, ref=None)
    snap_b = add_snapshot(cache, REPO, REV_B, files_b, ref="main")
    snap_d = add_snapshot(cache, "acme/probe-set", REV_A, {"probe.safetensors": b"probe" * 10}, repo_type="dataset")
    return {
        "cache": cache,
        "files_a": files_a,
        "files_b": files_b,
        "snap_a": snap_a,
        "snap_b": snap_b,
        "snap_d": snap_d,
    }
