"""A Flower site's own data: which silo a SuperNode holds, loaded on the node, described by a fingerprint.

In a deployment each SuperNode is a site that trains on data which never leaves it. The node
finds its silo from its node config (``flower-supernode --node-config '…'``), first match wins:

1. ``lerobot-root="<dir or org/name[@rev]>" site="<name>"`` — a local LeRobot v3.0 root (or a hub
   id already in the local cache; nothing is downloaded), loaded by :func:`load_site_silo` with the
   run's loader options (``cfg.data``: frame stride, frame cap, camera key; ``cfg.world.horizon``,
   ``cfg.model.image_size``). ``site`` is the participant id (it seeds the node's batch sampler);
2. ``synthetic-silo="<name>"`` — the named silo of the run's embedded synthetic world
   (``cfg.world``), regenerated on the node;
3. ``silo-file`` / ``partition-id`` — see :mod:`.silo_files`.

What the site reports (the ``query`` reply, never any frame): its participant id and a
description ``{"source", "fingerprint", "rows", …}`` whose ``fingerprint`` is
:func:`silo_fingerprint` — SHA-256 over the exact training tensors the node will use — plus, for
LeRobot, the root's own content fingerprint (``meta/info.json`` and episode lengths). The
coordinator records each site's fingerprint in the run manifest as reported (``data_roots``).

A LeRobot site trains on ALL usable episodes of its root (there is no held-out split on a
training site: held-out data lives with whoever evaluates, :func:`heldout_file`). States and
actions are standardised with the site's OWN mean and std (site-local statistics, floored like
:mod:`lensemble_reference.lerobot_data`), so no statistic of one site reaches another.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.errors import DataError
from lensemble_spec.protocol import Silo

#: ``split_policy["world"]["schema"]`` of a deployment whose silos live on the sites.
SITES_SCHEMA = "lensemble-spec/flower-sites/v1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FIELDS = ("obs", "actions", "states")

#: Per-process cache: a SuperNode's ClientApp process may serve several messages.
_CACHE: dict[tuple[str, ...], Site] = {}


@dataclass(frozen=True)
class Site:
    """One node's silo and what the node reports about it (never the frames)."""

    participant: str
    silo: Silo
    description: dict[str, Any] = field(default_factory=dict)


def silo_fingerprint(silo: Any) -> str:
    """SHA-256 of a silo's training tensors: for ``obs``, ``actions``, ``states`` in that order,
    ``<name>:<dtype>:<shape>\\n`` then the C-order bytes. Equal fingerprints = the same training data."""
    h = hashlib.sha256()
    for name in _FIELDS:
        arr = np.ascontiguousarray(np.asarray(getattr(silo, name)))
        h.update(f"{name}:{arr.dtype.str}:{list(arr.shape)}\n".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def describe(silo: Any, source: str, **extra: Any) -> dict[str, Any]:
    """The description a site reports: source, fingerprint, row count and chunk shape."""
    obs = np.asarray(silo.obs)
    return {
        "source": source,
        "fingerprint": silo_fingerprint(silo),
        "rows": int(obs.shape[0]),
        "frames_per_row": int(obs.shape[1]),
        **extra,
    }


def check_name(name: str, key: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise DataError(
            f"node config {key}={name!r} is not a site name (letters, digits, '_', '.', '-'; at most 64)",
            remediation=f"Start the SuperNode with --node-config '{key}=\"hospital-a\" …'.",
        )
    return name


def load_site_silo(spec: str | Path, name: str, cfg: Any) -> Site:
    """A LeRobot site: every usable episode of one root as one silo (see module docstring).

    DataError for a missing/malformed root, a root without one chunk, or an action width that
    differs from ``cfg.model.action_dim`` (the coordinator sized the model for the federation).
    """
    return _load_site(spec, name, cfg)[0]


def _load_site(spec: str | Path, name: str, cfg: Any) -> tuple[Site, np.ndarray]:
    # The loader's own root opening, standardisation and silo assembly, so a site's silo is built
    # exactly as `train --lerobot-root` builds one (same decoding, chunking, fingerprint).
    from lensemble_reference.lerobot_data.roots import open_root
    from lensemble_reference.lerobot_data.silos import build_silo, standardisation_stats

    data = cfg.data
    root = open_root(
        spec,
        0,
        image_key=data.image_key or None,
        state_key="observation.state",
        action_key="action",
        horizon=cfg.world.horizon,
        frame_stride=data.frame_stride,
        max_frames=data.max_frames_per_episode or None,
    )
    episodes = [ep for ep in root.episodes if ep.n_chunks > 0]
    if not episodes:
        raise DataError(
            f"site {name}: {root.path} has no episode long enough for one chunk of {cfg.world.horizon} steps",
            remediation="Lower world.horizon or data.frame_stride, or raise data.max_frames_per_episode.",
        )
    std = standardisation_stats(episodes, root, "observation.state", "action", [name])
    norm = {k: (np.asarray(std[k]["mean"]), np.asarray(std[k]["std"])) for k in ("state", "action")}
    silo, sources = build_silo(
        name,
        episodes,
        [root],
        horizon=cfg.world.horizon,
        image_size=cfg.model.image_size,
        state_norm=norm["state"],
        action_norm=norm["action"],
    )
    width = int(np.asarray(silo.actions).shape[-1])
    if width != cfg.model.action_dim:
        raise DataError(
            f"site {name}: actions have {width} dimensions, the run's model.action_dim is {cfg.model.action_dim}",
            remediation="Every site of a federation must record the same robot's action space; fix the run config or "
                "the site's root.",
        )
    desc = describe(
        silo,
        "lerobot",
        root_fingerprint=root.fingerprint,
        repo_id=root.repo_id,
        episodes=len(episodes),
        standardisation="site-local",
    )
    return Site(name, silo, desc), sources


def synthetic_site(name: str, cfg: Any) -> Site:
    """The silo ``name`` of ``cfg``'s embedded synthetic world."""
    from lensemble_reference.controls import world_inputs

    silos = world_inputs(cfg).silos
    if name not in silos:
        raise DataError(
            f"node config synthetic-silo={name!r}: the run's synthetic world has silos {', '.join(sorted(silos))}",
            remediation="Name one of the world's silos, or use lerobot-root / silo-file.",
        )
    return Site(name, silos[name], describe(silos[name], "synthetic"))


def resolve_site(node_config: Mapping[str, Any], cfg: Any, silo_dir: str | None = None) -> Site:
    """This node's :class:`Site` (resolution order in the module docstring)."""
    from lensemble_spec.artifacts import canonical_json

    cfg_key = canonical_json(
        {"world": cfg.to_dict()["world"], "data": cfg.to_dict().get("data"), "model": cfg.to_dict()["model"]}
    ).decode()
    if node_config.get("lerobot-root"):
        name = check_name(str(node_config.get("site", "")), "site")
        key: tuple[str, ...] = ("lerobot", str(node_config["lerobot-root"]), name, cfg_key)
        if key not in _CACHE:
            _CACHE[key] = load_site_silo(str(node_config["lerobot-root"]), name, cfg)
        return _CACHE[key]
    if node_config.get("synthetic-silo"):
        name = check_name(str(node_config["synthetic-silo"]), "synthetic-silo")
        key = ("synthetic", name, cfg_key)
        if key not in _CACHE:
            _CACHE[key] = synthetic_site(name, cfg)
        return _CACHE[key]
    from .silo_files import resolve_silo

    participant, silo = resolve_silo(node_config, cfg, silo_dir)
    source = "silo-file" if node_config.get("silo-file") else "synthetic"
    key = ("silo", participant, str(node_config.get("silo-file", "")), str(silo_dir), cfg_key)
    if key not in _CACHE:
        _CACHE[key] = Site(participant, silo, describe(silo, source))
    return _CACHE[key]


def site_data_root(participant: str, description: Mapping[str, Any]) -> str:
    """The manifest's ``data_roots`` entry for a site: ``site:<id>?source=…&fingerprint=<sha256>``."""
    parts = [f"source={description.get('source')}", f"fingerprint={description.get('fingerprint')}"]
    if description.get("root_fingerprint"):
        parts.append(f"root_fingerprint={description['root_fingerprint']}")
    return f"site:{participant}?{'&'.join(parts)}"


def heldout_file(spec: str | Path, out: str | Path, cfg: Any) -> Path:
    """Write a held-out site's evaluation split (all of its root, site-local standardisation) as a
    safetensors file with ``obs``/``actions``/``states`` — what ``lensemble-spec verify --heldout``
    and :func:`lensemble_reference.evaluate.evaluate_run` read. It stays on the held-out site."""
    from safetensors.numpy import save as st_save

    from lensemble_spec.artifacts import atomic_write_bytes

    site = load_site_silo(spec, "heldout", cfg)
    tensors = {f: np.ascontiguousarray(np.asarray(getattr(site.silo, f))) for f in _FIELDS}
    return atomic_write_bytes(Path(out), st_save(tensors, metadata={"fingerprint": site.description["fingerprint"]}))


def probe_file(spec: str | Path, out: str | Path, cfg: Any) -> tuple[Path, str]:
    """Publish a probe from a PUBLIC LeRobot root: ``world.probe_size`` frames drawn by the seeded
    rule of :func:`lensemble_reference.real_data.select_probe`, written as safetensors tensor
    ``points``; returns ``(path, probe_hash)`` — the hash every coordinator pins (run config
    ``probe-hash``). Never use a site's private root: the probe's frames are shared with all."""
    from safetensors.numpy import save as st_save

    from lensemble_reference.real_data import select_probe
    from lensemble_spec.artifacts import atomic_write_bytes

    site, sources = _load_site(spec, "probe", cfg)
    points, desc = select_probe(
        {"probe": site.silo},
        {"probe": sources},
        k=cfg.world.probe_size,
        seed=cfg.world.seed,
        frame_stride=cfg.data.frame_stride,
    )
    data = st_save({"points": np.ascontiguousarray(points)}, metadata={"probe_hash": desc["probe_hash"]})
    return atomic_write_bytes(Path(out), data), str(desc["probe_hash"])
