"""Silos on disk for Flower nodes, and how a node finds the one silo it holds.

A silo file is ``safetensors`` (never pickle) with tensors ``obs`` ``(E, T+1, C, H, W)``,
``actions`` ``(E, T, A)`` and ``states`` ``(E, T+1, S)`` stored in their own dtypes (no cast,
so a node trains on exactly the bytes the in-process engine would) and metadata
``{"format": "lensemble-spec/silo/v1", "name": <participant id>}``. A silo directory holds one
``<name>.safetensors`` per participant and ``index.json`` = ``{"participants": [sorted names]}``.

A node resolves its silo, first match wins (:func:`resolve_silo`; a deployed node first tries
``lerobot-root`` and ``synthetic-silo``, :mod:`.sites`):

1. node config ``silo-file=<path>`` — deployment with real data: each SuperNode is started
   with the path of its own silo file;
2. a silo directory handed to the ClientApp by the simulation engine, indexed by the node's
   ``partition-id`` (position in the sorted participant list);
3. the embedded synthetic world of the run's TrainConfig (``cfg.world``), regenerated
   deterministically on the node and indexed by ``partition-id`` — the default deployment demo.

The participant id (which seeds the node's batch sampler) is the silo's name, i.e. the same id
the in-process engine uses for that silo.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as st_save

from lensemble_spec.artifacts import atomic_write_bytes, atomic_write_json
from lensemble_spec.errors import DataError
from lensemble_spec.protocol import Silo

SILO_FORMAT = "lensemble-spec/silo/v1"
INDEX_FILE = "index.json"
_FIELDS = ("obs", "actions", "states")

#: Per-process cache: a Ray actor serves many rounds, so it loads (or renders) each silo once.
_CACHE: dict[tuple[str, ...], tuple[str, Silo]] = {}


def write_silo(path: str | Path, silo: Silo, *, name: str | None = None) -> Path:
    """Write ``silo`` as a silo file (atomic); ``name`` defaults to ``silo.name``."""
    tensors = {f: np.ascontiguousarray(np.asarray(getattr(silo, f))) for f in _FIELDS}
    data = st_save(tensors, metadata={"format": SILO_FORMAT, "name": name or silo.name})
    return atomic_write_bytes(Path(path), data)


def read_silo(path: str | Path) -> Silo:
    """Read a silo file; DataError if it is missing, not safetensors or not a silo file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(
            f"silo file {p} does not exist",
            remediation="Pass the path of an existing silo file as node config silo-file.",
        )
    try:
        with safe_open(str(p), framework="np") as handle:
            meta = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 (not a dict)
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataError(f"{p} is not a safetensors silo file: {exc}") from exc
    if meta.get("format") != SILO_FORMAT or not meta.get("name"):
        raise DataError(
            f"{p} is not a {SILO_FORMAT} file (metadata {meta})",
            remediation="Write silo files with `python -m lensemble_reference.flower.deploy silos`.",
        )
    missing = [f for f in _FIELDS if f not in tensors]
    if missing:
        raise DataError(f"silo file {p} lacks tensor(s) {', '.join(missing)}")
    return Silo(name=str(meta["name"]), obs=tensors["obs"], actions=tensors["actions"], states=tensors["states"])


def write_silo_dir(directory: str | Path, silos: Mapping[str, Silo]) -> list[str]:
    """One silo file per participant (named by its key in ``silos``) plus ``index.json``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    names = sorted(silos)
    for name in names:
        write_silo(d / f"{name}.safetensors", silos[name], name=name)
    atomic_write_json(d / INDEX_FILE, {"participants": names})
    return names


def _partition(node_config: Mapping[str, Any], n: int, where: str) -> int:
    if "partition-id" not in node_config:
        raise DataError(
            f"node config has neither silo-file nor partition-id ({where})",
            remediation="Start the SuperNode with --node-config 'partition-id=<i> num-partitions=<n>' or "
                        "'silo-file=<path>'.",
        )
    pid = node_config["partition-id"]
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 <= pid < n:
        raise DataError(f"partition-id {pid!r} is not an integer in [0, {n}) ({where})")
    declared = node_config.get("num-partitions")
    if declared is not None and declared != n:
        raise DataError(f"num-partitions={declared} but {where} has {n} silos")
    return pid


def resolve_silo(node_config: Mapping[str, Any], cfg: Any, silo_dir: str | None = None) -> tuple[str, Silo]:
    """``(participant id, silo)`` for this node (resolution order in the module docstring)."""
    if node_config.get("silo-file"):
        key: tuple[str, ...] = ("file", str(node_config["silo-file"]))
        if key not in _CACHE:
            silo = read_silo(str(node_config["silo-file"]))
            _CACHE[key] = (silo.name, silo)
        return _CACHE[key]
    if silo_dir:
        try:
            names = list(json.loads((Path(silo_dir) / INDEX_FILE).read_text())["participants"])
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"silo directory {silo_dir} has no readable {INDEX_FILE}") from exc
        name = names[_partition(node_config, len(names), f"silo directory {silo_dir}")]
        key = ("dir", str(silo_dir), name)
        if key not in _CACHE:
            _CACHE[key] = (name, read_silo(Path(silo_dir) / f"{name}.safetensors"))
        return _CACHE[key]
    from lensemble_reference.controls import world_inputs

    world_key = json.dumps(cfg.to_dict()["world"], sort_keys=True)
    key = ("world", world_key, str(node_config.get("partition-id")))
    if key not in _CACHE:
        silos = world_inputs(cfg).silos
        names = sorted(silos)
        name = names[_partition(node_config, len(names), "the synthetic world")]
        _CACHE[key] = (name, silos[name])
    return _CACHE[key]
