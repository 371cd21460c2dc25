"""The ART-025 conformance check (the verifier's pin findings, judged by
``conformance/test_run_findings.py``) on hand-made caches.

:func:`check` verifies a comparison directory with the network blocked, exactly as the suite's
``run_reports`` fixture does, and judges ART-025 with the suite's own test function, so each way
a pin can fail is shown on its own in milliseconds; the
plugin wiring of ``--hub-cache`` is covered by ``tests/plugin/test_plugin_hub_cache.py`` and the
whole path by the mutant ``pin-cache-tampered`` and ``test_reference_is_conformant.py``.

Defects caught: a check that passes when the pinned file is absent, when its bytes differ from
the pin, when the pinned revision is not cached, or when the snapshot entry leads outside the
repository cache; a check that does not notice a resolver reaching for the network (even one that
swallows the refusal); a check that passes vacuously instead of skipping when there are no pins
or no cache; a malformed pin counted twice (it is ART-023's failure); the socket patch leaking
out of the test.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

import pytest

from conformance import test_run_findings as suite
from lensemble_spec.publish.hubcache import commit_to_cache

REPO = "acme/toy-world-model"
REV = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
OTHER_REV = "ffffffffffffffffffffffffffffffffffffffff"
WEIGHTS = b"pretend safetensors bytes " * 40
CONFIG = b'{"latent_dim": 16}'


def add_snapshot(cache: Path, repo: str, rev: str, files: dict[str, bytes]) -> Path:
    """The cache ``lensemble-spec publish`` writes (huggingface_hub's layout; safetensors as LFS blobs)."""
    return commit_to_cache(cache, repo, rev, files, lfs={p for p in files if p.endswith(".safetensors")})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def uri(path: str, rev: str = REV) -> str:
    return f"hf://models/{REPO}@{rev}/{path}"


def comparison(tmp_path: Path, pins: list[dict]) -> list[tuple[Path, dict]]:
    """A comparison directory holding only ``results.json`` with the pins on the anchored row."""
    root = tmp_path / "comparison"
    root.mkdir()
    table = {
        "schema_version": 1,
        "controls": [{"control": "anchored", "pins": pins}, {"control": "naive-fedavg", "pins": []}],
    }
    (root / "results.json").write_text(json.dumps(table))
    return [(root, {})]


GOOD_PINS = [
    {"uri": uri("weights.safetensors"), "sha256": sha(WEIGHTS)},
    {"uri": uri("config.json"), "sha256": sha(CONFIG)},
]


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    cache = tmp_path / "hub"
    add_snapshot(cache, REPO, REV, {"weights.safetensors": WEIGHTS, "config.json": CONFIG})
    return cache


def check(tables, hub_dir, monkeypatch):
    """ART-025 as the suite judges it: ``verify_run`` with sockets blocked, then the suite's test.
    (A placeholder run directory makes the folder a comparison; its own failures are other ids.)"""
    ((root, _),) = tables
    (root / "anchored").mkdir(exist_ok=True)
    (root / "anchored" / "manifest.json").write_text("{}")
    return suite.test_run_requirement("ART-025", suite.verify_offline([(root, None)], None, hub_dir))


def failure(tables, hub_dir, monkeypatch) -> str:
    with pytest.raises(pytest.fail.Exception) as info:
        check(tables, hub_dir, monkeypatch)
    return str(info.value)


def test_pins_of_a_genuine_cache_pass(tmp_path, hub, monkeypatch):
    assert check(comparison(tmp_path, GOOD_PINS), hub, monkeypatch) is None


def test_absent_file_fails_naming_the_pin(tmp_path, hub, monkeypatch):
    pins = GOOD_PINS + [{"uri": uri("optimizer.safetensors"), "sha256": sha(b"x")}]
    msg = failure(comparison(tmp_path, pins), hub, monkeypatch)
    assert uri("optimizer.safetensors") in msg and "is not in the cached snapshot" in msg
    assert uri("weights.safetensors") not in msg  # the good pins are not reported


def test_uncached_revision_fails(tmp_path, hub, monkeypatch):
    pins = [{"uri": uri("weights.safetensors", OTHER_REV), "sha256": sha(WEIGHTS)}]
    msg = failure(comparison(tmp_path, pins), hub, monkeypatch)
    assert f"revision {OTHER_REV} is not cached" in msg and REV in msg


def test_different_bytes_fail_naming_the_pin(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    forged = WEIGHTS[:-1] + b"!"
    add_snapshot(
        cache, REPO, REV, {"weights.safetensors": forged, "config.json": CONFIG}
    )  # a consistent cache, other bytes
    msg = failure(comparison(tmp_path, GOOD_PINS), cache, monkeypatch)
    assert uri("weights.safetensors") in msg and sha(forged) in msg
    assert uri("config.json") not in msg


def test_snapshot_entry_escaping_the_repository_fails(tmp_path, hub, monkeypatch):
    entry = hub / "models--acme--toy-world-model" / "snapshots" / REV / "weights.safetensors"
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(WEIGHTS)  # the right bytes, in the wrong place
    entry.unlink()
    os.symlink(outside, entry)
    msg = failure(comparison(tmp_path, GOOD_PINS), hub, monkeypatch)
    assert "resolves outside the repository cache" in msg and uri("weights.safetensors") in msg


def test_a_resolver_reaching_for_the_network_fails_even_if_it_swallows_the_refusal(tmp_path, hub, monkeypatch):
    import lensemble_spec.artifacts.pins as pins_module

    real = pins_module.resolve_pin

    def phoning_home(pin, **kwargs):
        try:
            socket.create_connection(("huggingface.co", 443), timeout=0.01)
        except OSError:
            pass  # falls back to the cache, as an "offline-tolerant" resolver would
        return real(pin, **kwargs)

    originals = (socket.create_connection, socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex)
    monkeypatch.setattr(pins_module, "resolve_pin", phoning_home)
    msg = failure(comparison(tmp_path, GOOD_PINS), hub, monkeypatch)
    assert "network access attempted" in msg and "socket.create_connection(('huggingface.co', 443))" in msg
    # the block is scoped to the resolution: the socket module is itself again
    assert (socket.create_connection, socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex) == originals


def test_without_pins_or_without_a_cache_the_check_skips(tmp_path, hub, monkeypatch):
    with pytest.raises(pytest.skip.Exception, match="nothing in the runs under test that ART-025 applies to"):
        check(comparison(tmp_path, []), hub, monkeypatch)
    (tmp_path / "b").mkdir()
    with pytest.raises(pytest.skip.Exception, match="pass --hub-cache"):
        check(comparison(tmp_path / "b", GOOD_PINS), None, monkeypatch)


def test_malformed_pins_are_left_to_art_023(tmp_path, hub, monkeypatch):
    branch = {"uri": f"hf://models/{REPO}@main/weights.safetensors", "sha256": sha(WEIGHTS)}
    with pytest.raises(pytest.skip.Exception, match="nothing in the runs under test that ART-025 applies to"):
        check(comparison(tmp_path, [branch]), hub, monkeypatch)
    (tmp_path / "b").mkdir()
    assert check(comparison(tmp_path / "b", [branch, *GOOD_PINS]), hub, monkeypatch) is None
