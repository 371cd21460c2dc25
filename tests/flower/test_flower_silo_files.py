"""Silo files and node-side silo resolution.

Defects caught: a silo written with a dtype cast (the node would train on other bytes than the
in-process engine), partition ids mapped to silos in a different order than the sorted
participant ids, a node config ignored, and bad node configs reaching torch as tracebacks
instead of typed DataErrors.
"""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from lensemble_reference.controls import world_inputs
from lensemble_reference.flower.silo_files import (
    read_silo,
    resolve_silo,
    write_silo,
    write_silo_dir,
)
from lensemble_spec.errors import DataError
from lensemble_spec.protocol import Silo

from ._helpers import tiny_config


def _silo(name, seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return Silo(
        name=name,
        obs=rng.random((2, 3, 3, 16, 16)).astype(dtype),
        actions=rng.standard_normal((2, 2, 5)).astype(dtype),
        states=rng.standard_normal((2, 3, 4)).astype(np.float32),
    )


def _same(a: Silo, b: Silo) -> bool:
    return a.name == b.name and all(
        np.asarray(getattr(a, f)).dtype == np.asarray(getattr(b, f)).dtype
        and np.asarray(getattr(a, f)).tobytes() == np.asarray(getattr(b, f)).tobytes()
        for f in ("obs", "actions", "states")
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_silo_file_round_trip_is_exact(tmp_path, dtype):
    silo = _silo("clinic-b", 1, dtype)
    write_silo(tmp_path / "s.safetensors", silo)
    assert _same(read_silo(tmp_path / "s.safetensors"), silo)


def test_partition_ids_follow_sorted_participant_ids(tmp_path):
    silos = {"silo2": _silo("silo2", 2), "silo0": _silo("silo0", 0), "silo1": _silo("silo1", 1)}
    assert write_silo_dir(tmp_path, silos) == ["silo0", "silo1", "silo2"]
    for i, name in enumerate(["silo0", "silo1", "silo2"]):
        pid, silo = resolve_silo({"partition-id": i, "num-partitions": 3}, tiny_config(), str(tmp_path))
        assert pid == name and _same(silo, silos[name])


def test_silo_file_node_config_wins(tmp_path):
    write_silo_dir(tmp_path / "dir", {"silo0": _silo("silo0", 0)})
    own = _silo("hospital-7", 7)
    write_silo(tmp_path / "own.safetensors", own)
    pid, silo = resolve_silo(
        {"silo-file": str(tmp_path / "own.safetensors"), "partition-id": 0}, tiny_config(), str(tmp_path / "dir")
    )
    assert pid == "hospital-7" and _same(silo, own)


def test_synthetic_world_is_regenerated_on_the_node():
    cfg = tiny_config()
    silos = world_inputs(cfg).silos
    name = sorted(silos)[2]
    pid, silo = resolve_silo({"partition-id": 2, "num-partitions": len(silos)}, cfg)
    assert pid == name
    assert np.asarray(silo.obs).tobytes() == np.asarray(silos[name].obs).tobytes()


@pytest.mark.parametrize(
    "node_config",
    [{}, {"partition-id": 3}, {"partition-id": -1}, {"partition-id": "0"}, {"partition-id": 0, "num-partitions": 5}],
)
def test_bad_node_config_is_a_data_error(tmp_path, node_config):
    write_silo_dir(tmp_path, {"a": _silo("a", 0), "b": _silo("b", 1), "c": _silo("c", 2)})
    with pytest.raises(DataError):
        resolve_silo(node_config, tiny_config(), str(tmp_path))


def test_not_a_silo_file_is_a_data_error(tmp_path):
    save_file({"obs": np.zeros((1, 2, 3, 16, 16), np.float32)}, str(tmp_path / "w.safetensors"))
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    for path in ("w.safetensors", "junk.safetensors", "missing.safetensors"):
        with pytest.raises(DataError):
            read_silo(tmp_path / path)
