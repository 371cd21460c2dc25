"""The secured multi-site deployment on 127.0.0.1: TLS, authenticated SuperNodes, each on its own data.

One SuperLink with TLS (a throwaway CA) and ``--enable-supernode-auth``; four SuperNodes whose
public keys were registered with ``flwr supernode register``, each started with its OWN small
LeRobot v3.0 root written by the test (``lerobot-root=… site=…``); the public probe is a
hash-pinned file drawn from a fifth, public root. ``flwr run`` (over TLS) trains 2 anchored
rounds. Checked:

* refused: a SuperNode whose key is not registered, and a SuperNode speaking plaintext to the TLS
  SuperLink — each exits with an error and never joins (``flwr supernode list`` shows no node
  online) — and a raw plaintext HTTP request to the SuperLink gets no HTTP answer;
* every site's data fingerprint, as the site reported it, is in the manifest (``data_roots``) and
  equals the fingerprint of the silo that root yields; the loader options are in the config
  (``data``) and so in ``config_hash``;
* the deployed run commits the SAME checkpoint content hashes as the in-process engine and the
  Flower simulation on the same silos and probe; ``lensemble-spec verify`` passes it;
* held-out evaluation where the held-out data lives: a held-out site turns its root into an
  evaluation file and scores every committed round from the run directory alone.

Defects caught: TLS or authentication not actually enforced, a site's data not reaching (or
leaking beyond) its node, fingerprints not recorded or recorded from the coordinator's guess,
anything that changes a bit across processes. Slow: minutes on a loaded 2-core machine (every
ClientApp message starts a process that imports torch); every wait is bounded.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ._deploy import BIN
from ._helpers import TINY_MODEL, tiny_config

pytestmark = pytest.mark.slow

SITES = ["clinic-a", "clinic-b", "lab-c", "lab-d"]
_SO100 = Path(__file__).resolve().parents[1] / "lerobot" / "so100_data.py"


def _noise_frame(e: int, t: int, shape, *, gradient: bool = False) -> np.ndarray:
    return np.random.default_rng(1000 * e + t).integers(0, 256, size=shape, dtype=np.uint8)


def _write_so100():
    """tests/lerobot's SO-100 writer with seeded-noise frames instead of solid colours: a probe of
    solid-colour frames spans ~2 pixel directions, so a 4-d latent's probe frame is degenerate and
    GAUGE-040 (rightly) fails the run; textured frames give the probe full rank."""
    spec = importlib.util.spec_from_file_location("flower_so100_data", _SO100)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.frame_rgb = _noise_frame
    return module.write_so100


@pytest.fixture
def hf_env(tmp_path, monkeypatch):
    """Hugging Face caches in tmp and offline, for this process and the SuperNodes."""
    import datasets

    home = tmp_path / "hf"
    env = {
        "HF_HOME": str(home),
        "HF_DATASETS_CACHE": str(home / "datasets"),
        "HF_LEROBOT_HOME": str(home / "lerobot"),
        "HF_HUB_OFFLINE": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", Path(env["HF_DATASETS_CACHE"]))
    return env


def _checkpoints(run_dir):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return [(c["round_index"], c["path"], c["content_hash"]) for c in manifest["checkpoints"]]


def test_tls_authenticated_sites_on_their_own_lerobot_data(tmp_path, hf_env, deployment):
    from safetensors.numpy import load_file

    from lensemble_reference.config import DataConfig
    from lensemble_reference.controls import run_control
    from lensemble_reference.evaluate import evaluate_run
    from lensemble_reference.federation import RunInputs
    from lensemble_reference.flower.deploy import write_app
    from lensemble_reference.flower.engine import run_flower
    from lensemble_reference.flower.sites import (
        load_site_silo,
        probe_file,
        site_data_root,
    )
    from lensemble_spec.protocol import Silo

    write = _write_so100()
    roots = {}
    for i, site in enumerate(SITES):  # every site its own recording: distinct episodes and lengths
        roots[site] = write(tmp_path / "data" / site, [9 + i, 9], image_shape=(16, 16, 3), first_episode=2 * i)
    public = write(tmp_path / "data" / "public", [9], image_shape=(16, 16, 3), first_episode=20)
    heldout_root = write(tmp_path / "data" / "heldout", [9, 9], image_shape=(16, 16, 3), first_episode=30)

    # quorum = every site: this is the no-failure run whose bits must equal in-process (a site lost to
    # the machine's load aborts the run with QuorumNotMet instead of committing a different global)
    cfg = tiny_config(
        "anchored",
        min_participants=len(SITES),
        model=TINY_MODEL.__class__(**{**TINY_MODEL.__dict__, "action_dim": 6}),
        data=DataConfig(source="lerobot", split="site"),
    )
    cfg_file = tmp_path / "config.json"
    cfg_file.write_text(json.dumps(cfg.to_dict()))
    probe_path, probe_hash = probe_file(public, tmp_path / "probe.safetensors", cfg)
    app = write_app(
        tmp_path / "app",
        out_dir=tmp_path / "run",
        config=cfg_file,
        control="anchored",
        timeout=400,
        node_wait=300,
        sites=len(SITES),
        probe=probe_path,
        probe_hash=probe_hash,
    )

    dep = deployment
    dep.env.update(hf_env)
    dep.start_superlink(dep.port, dep.creds)
    for i in range(len(SITES)):
        dep.register(dep.creds / f"node{i}.pub", "local")
    # refused before the federation starts: an unregistered key, and plaintext to a TLS SuperLink
    dep.start_supernode("unregistered", dep.port, dep.creds, "node4", 'synthetic-silo="silo0"')
    dep.start_supernode("plaintext", dep.port, dep.creds, None, 'synthetic-silo="silo1"', insecure=True)
    assert "Failed to activate SuperNode" in dep.wait_refused("unregistered")  # [code 2004]: key unknown
    refused = dep.wait_refused("plaintext")
    assert "TLS is not enabled" not in refused  # refused by the SuperLink, not by its own CLI
    assert "Server disconnected without sending a response" in refused, refused[-3000:]
    with pytest.raises((OSError, http.client.HTTPException)):  # and a raw plaintext request gets no HTTP answer
        conn = http.client.HTTPConnection("127.0.0.1", dep.port, timeout=10)
        try:
            conn.request("POST", "/v1/fleet/register-node", body=b"")
            conn.getresponse().read()
        finally:
            conn.close()
    listed = dep.flwr("supernode", "list", "local", "--format", "json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert not any(n.get("status") == "online" for n in json.loads(listed.stdout).get("nodes", [])), listed.stdout

    for i, site in enumerate(SITES):
        dep.start_supernode(site, dep.port, dep.creds, f"node{i}", f'lerobot-root="{roots[site]}" site="{site}"')
    run = dep.flwr("run", str(app), "local", "--stream", timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:] + dep.logs()
    out = tmp_path / "run"
    assert (out / "manifest.json").is_file(), run.stdout[-2000:] + dep.logs()
    manifest = json.loads((out / "manifest.json").read_text())

    # each site's report is in the manifest and matches what its root yields
    silos = {site: load_site_silo(roots[site], site, cfg) for site in SITES}
    assert manifest["data_roots"] == [site_data_root(s, silos[s].description) for s in SITES]
    assert manifest["config"]["data"] == {
        "source": "lerobot",
        "frame_stride": 1,
        "max_frames_per_episode": 0,
        "split": "site",
        "image_key": "",
    }
    assert manifest["split_policy"]["world"]["sites"] == {s: silos[s].description for s in SITES}
    assert manifest["probe_hash"] == probe_hash

    # the same bits as in-process and as the simulation
    points = load_file(str(probe_path))["points"]
    inputs = RunInputs(
        silos={s: silos[s].silo for s in SITES},
        probe_points=points,
        probe_hash=probe_hash,
        data_roots=list(manifest["data_roots"]),
    )
    deployed = _checkpoints(out)
    assert [c[0] for c in deployed] == [0, 1, 2]
    assert deployed == _checkpoints(run_control(cfg, inputs, tmp_path / "inprocess").run_dir)
    assert deployed == _checkpoints(run_flower(cfg, inputs, tmp_path / "simulation").run_dir)

    verify = subprocess.run(
        [str(BIN / "lensemble-spec"), "verify", str(out)], capture_output=True, text=True, timeout=300, check=False
    )
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]

    # held-out evaluation on the held-out site, from the public run directory alone (the CLI)
    from lensemble_reference.flower.deploy import main as deploy_main

    held = tmp_path / "heldout.safetensors"
    assert deploy_main(["heldout", str(heldout_root), str(held), "--config", str(cfg_file)]) == 0
    assert deploy_main(["evaluate", str(out), str(held), "--out", str(tmp_path / "heldout-metrics.json")]) == 0
    metrics = json.loads((tmp_path / "heldout-metrics.json").read_text())
    assert len(metrics["rounds"]) == 3 and metrics["final"]["state_probe_r2"] is not None
    assert all(np.isfinite(float(v)) for v in _numbers(metrics))
    direct = evaluate_run(out, Silo(name="heldout", **{k: v for k, v in load_file(str(held)).items()}))
    assert json.loads(json.dumps(direct)) == metrics


def _numbers(tree):
    if isinstance(tree, dict):
        for value in tree.values():
            yield from _numbers(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _numbers(value)
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield tree
