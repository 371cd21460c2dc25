"""Sites: what a node loads from its node config, what it reports, what the coordinator records.

Defects caught: a fingerprint that does not follow the training tensors (or follows something
else), a site name that could not seed a sampler or name a record, a synthetic site that is not
the in-process silo, an unpinned or mismatched probe accepted by the coordinator, site
fingerprints missing from the manifest's ``data_roots``, and loader options that do not enter
``config_hash`` (or a synthetic config whose hash changed because the section exists).
"""

from __future__ import annotations

import numpy as np
import pytest

from lensemble_reference.config import DataConfig, TrainConfig, load_config
from lensemble_reference.controls import world_inputs
from lensemble_spec.artifacts import config_hash, probe_hash
from lensemble_spec.errors import ConfigError, DataError, ProbeError
from lensemble_spec.protocol import Silo

from ._helpers import tiny_config


def _silo(seed: int = 0) -> Silo:
    rng = np.random.default_rng(seed)
    return Silo(
        name="s",
        obs=rng.random((2, 3, 3, 4, 4), dtype=np.float32),
        actions=rng.random((2, 2, 5), dtype=np.float32),
        states=rng.random((2, 3, 2), dtype=np.float32),
    )


def test_fingerprint_follows_every_training_tensor_bit():
    from lensemble_reference.flower.sites import silo_fingerprint

    base = _silo()
    fp = silo_fingerprint(base)
    assert fp == silo_fingerprint(_silo()) and len(fp) == 64
    for field in ("obs", "actions", "states"):
        arr = np.array(getattr(base, field))
        arr.reshape(-1)[-1] = np.nextafter(arr.reshape(-1)[-1], np.float32(2))
        changed = Silo(**{**{f: getattr(base, f) for f in ("name", "obs", "actions", "states")}, field: arr})
        assert silo_fingerprint(changed) != fp, field
    reshaped = Silo(name="s", obs=np.asarray(base.obs).reshape(1, 6, 3, 4, 4), actions=base.actions, states=base.states)
    assert silo_fingerprint(reshaped) != fp  # same bytes, other shape
    assert (
        silo_fingerprint(Silo(name="other", obs=base.obs, actions=base.actions, states=base.states)) == fp
    )  # name is not data


def test_synthetic_site_is_the_in_process_silo_and_reports_its_fingerprint():
    from lensemble_reference.flower.sites import (
        resolve_site,
        silo_fingerprint,
        site_data_root,
    )

    cfg = tiny_config("anchored")
    silos = world_inputs(cfg).silos
    site = resolve_site({"synthetic-silo": "silo2"}, cfg)
    assert site.participant == "silo2"
    for f in ("obs", "actions", "states"):
        assert np.asarray(getattr(site.silo, f)).tobytes() == np.asarray(getattr(silos["silo2"], f)).tobytes()
    assert site.description["fingerprint"] == silo_fingerprint(silos["silo2"])
    assert site.description["source"] == "synthetic" and site.description["rows"] == 3
    assert (
        site_data_root("silo2", site.description)
        == f"site:silo2?source=synthetic&fingerprint={silo_fingerprint(silos['silo2'])}"
    )
    # the older node configs still resolve (partition-id → sorted silo names)
    assert resolve_site({"partition-id": 1, "num-partitions": 4}, cfg).participant == "silo1"


@pytest.mark.parametrize(
    "node_config",
    [
        {"synthetic-silo": "silo9"},
        {"synthetic-silo": "../etc"},
        {"lerobot-root": "/nonexistent/root", "site": "clinic-a"},
        {"lerobot-root": "/nonexistent/root"},  # no site name
        {"lerobot-root": "/nonexistent/root", "site": "a b"},
    ],
)
def test_bad_site_config_is_a_data_error(node_config):
    from lensemble_reference.flower.sites import resolve_site

    with pytest.raises(DataError):
        resolve_site(node_config, tiny_config("anchored"))


def test_coordinator_pins_the_probe_and_records_the_sites(tmp_path):
    from safetensors.numpy import save_file

    from lensemble_reference.flower.server_app import deployment_inputs, load_probe_file
    from lensemble_reference.flower.sites import SITES_SCHEMA

    points = np.random.default_rng(1).random((8, 3, 16, 16), dtype=np.float32)
    path = tmp_path / "probe.safetensors"
    save_file({"points": points}, str(path))
    with pytest.raises(ProbeError, match="pins"):
        load_probe_file(str(path), "0" * 64)
    with pytest.raises(ProbeError):
        load_probe_file(str(path), "")
    with pytest.raises(ProbeError):
        load_probe_file(str(tmp_path / "missing.safetensors"), probe_hash(points))

    sites = {
        11: ("lab-b", {"source": "lerobot", "fingerprint": "b" * 64, "root_fingerprint": "c" * 64}),
        7: ("clinic-a", {"source": "lerobot", "fingerprint": "a" * 64}),
    }
    inputs = deployment_inputs(tiny_config("anchored"), sites, str(path), probe_hash(points))
    assert sorted(inputs.silos) == ["clinic-a", "lab-b"]
    assert not hasattr(inputs.silos["clinic-a"], "obs")  # the coordinator holds names, never data
    assert inputs.data_roots == [
        f"site:clinic-a?source=lerobot&fingerprint={'a' * 64}",
        f"site:lab-b?source=lerobot&fingerprint={'b' * 64}&root_fingerprint={'c' * 64}",
    ]
    assert inputs.world["schema"] == SITES_SCHEMA and set(inputs.world["sites"]) == {"clinic-a", "lab-b"}
    assert inputs.probe_hash == probe_hash(points) and inputs.probe_points.tobytes() == points.tobytes()


def test_loader_options_enter_config_hash_and_synthetic_hashes_do_not_move():
    base = TrainConfig()
    assert "data" not in base.to_dict()  # synthetic: the document (and its hash) as before the section
    lerobot = base.replace(data=DataConfig(source="lerobot"))
    hashes = {config_hash(base.to_dict()), config_hash(lerobot.to_dict())}
    for change in (
        {"frame_stride": 2},
        {"max_frames_per_episode": 100},
        {"split": "pooled"},
        {"image_key": "observation.images.wrist"},
    ):
        hashes.add(config_hash(base.replace(data=DataConfig(source="lerobot", **change)).to_dict()))
    assert len(hashes) == 6
    assert TrainConfig.from_dict(lerobot.to_dict()) == lerobot
    for bad in ({"source": "hub"}, {"split": "random"}, {"frame_stride": 0}, {"max_frames_per_episode": -1}):
        with pytest.raises(ConfigError):
            TrainConfig.from_dict({**base.to_dict(), "data": {**DataConfig().__dict__, **bad}}).validate()


def test_config_file_may_set_loader_options(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"data": {"source": "lerobot", "frame_stride": 3}}')
    cfg = load_config(path)
    assert cfg.data == DataConfig(source="lerobot", frame_stride=3)
    assert load_config(None).to_dict() == TrainConfig().to_dict()


def test_cli_loader_options_become_the_data_section():
    from lensemble_reference.real_data import LeRobotOptions, data_config

    opts = LeRobotOptions(
        roots=("/a", "/b"), frame_stride=2, max_frames_per_episode=50, split="by_root", image_key="cam"
    )
    assert data_config(opts) == DataConfig(
        source="lerobot", frame_stride=2, max_frames_per_episode=50, split="by_root", image_key="cam"
    )
    assert data_config(LeRobotOptions(roots=("/a",))) == DataConfig(source="lerobot")


@pytest.mark.slow  # writes a LeRobot dataset with lerobot's own API (seconds idle, minutes under load)
def test_lerobot_site_trains_on_its_whole_root_with_its_own_standardisation(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path

    import datasets

    from lensemble_reference.flower.sites import (
        load_site_silo,
        resolve_site,
        silo_fingerprint,
    )

    home = tmp_path / "hf"
    for key, value in {
        "HF_HOME": home,
        "HF_LEROBOT_HOME": home / "lerobot",
        "HF_DATASETS_CACHE": home / "ds",
        "HF_HUB_OFFLINE": "1",
    }.items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", home / "ds")
    spec = importlib.util.spec_from_file_location(
        "flower_so100_unit", Path(__file__).resolve().parents[1] / "lerobot" / "so100_data.py"
    )
    so100 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(so100)
    root = so100.write_so100(tmp_path / "site", [9, 13, 3], image_shape=(16, 16, 3))  # episode 2 too short for a chunk

    from ._helpers import TINY_MODEL

    cfg = tiny_config(
        "anchored",
        model=TINY_MODEL.__class__(**{**TINY_MODEL.__dict__, "action_dim": 6}),
        data=DataConfig(source="lerobot", split="site"),
    )
    site = load_site_silo(root, "clinic-a", cfg)
    assert np.asarray(site.silo.obs).shape == (
        2 + 3,
        5,
        3,
        16,
        16,
    )  # 9 frames → 2 chunks of T=4, 13 → 3; nothing held out
    states = np.asarray(site.silo.states)
    assert abs(float(states.mean())) < 0.5  # standardised with the site's own statistics
    assert site.description["fingerprint"] == silo_fingerprint(site.silo) and site.description["episodes"] == 2
    assert resolve_site({"lerobot-root": str(root), "site": "clinic-a"}, cfg).description == site.description
    strided = load_site_silo(
        root, "clinic-a", cfg.replace(data=DataConfig(source="lerobot", split="site", frame_stride=2))
    )
    assert strided.description["fingerprint"] != site.description["fingerprint"]  # loader options change the data
    with pytest.raises(DataError, match="action_dim"):
        load_site_silo(root, "clinic-a", tiny_config("anchored", data=DataConfig(source="lerobot", split="site")))
