"""Where the held-out split comes from when a results table is recomputed (RFC-0005 §3, §4.2).

A run directory never contains the held-out split (RFC-0010 §5 lists every file it may hold),
and training code never sees it. The verifier obtains it from, in order:

1. an explicit safetensors file (``verify_run(..., heldout=PATH)``, CLI ``--heldout``) holding
   ``obs (E, T+1, C, H, W)``, ``actions (E, T, A)`` and ``states (E, T+1, S)``;
2. the embedded synthetic world, regenerated from the ``split_policy["world"]`` spec a manifest
   records: the spec rebuilt from its arguments must equal the recorded one key for key, and the
   regenerated probe must hash to the manifest's ``probe_hash`` — otherwise the data is not the
   data the run was evaluated on and nothing is recomputed.

The state probe splits the ``E`` held-out episodes once, by index: the first ``⌊E/2⌋`` fit, the
rest score (RFC-0005 §3).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts.canonical import canonical_json
from ..errors import LensembleError

#: Largest explicit held-out file read (bytes actually read).
MAX_HELDOUT_BYTES = 4 * 1024**3


@dataclass(frozen=True)
class HeldoutSplit:
    obs: np.ndarray  # (E, T+1, C, H, W) float32
    actions: np.ndarray | None  # (E, T, A)
    states: np.ndarray | None  # (E, T+1, S)
    source: str

    @property
    def n_fit(self) -> int:
        """Episodes fitting the state probe: the first ⌊E/2⌋ (RFC-0005 §3)."""
        return int(self.obs.shape[0]) // 2


class HeldoutUnavailable(Exception):
    """Why no held-out split could be obtained (reported as a skip, not an error)."""


def from_file(path: str | os.PathLike[str]) -> HeldoutSplit:
    """Read an explicit held-out file (safetensors only); raises HeldoutUnavailable on a bad file."""
    from safetensors.numpy import load

    from ..artifacts.reading import read_regular_file

    p = Path(path)
    try:
        tensors = load(read_regular_file(p, MAX_HELDOUT_BYTES))
    except Exception as exc:  # noqa: BLE001 — unreadable (FIFO, device, too large) or not safetensors
        raise HeldoutUnavailable(f"cannot read held-out file {p}: {exc}") from exc
    return _split(tensors, f"file {p}")


def _split(tensors: Mapping[str, Any], source: str) -> HeldoutSplit:
    obs = np.asarray(tensors.get("obs")) if tensors.get("obs") is not None else None
    if obs is None or obs.ndim != 5 or obs.shape[0] < 2:
        raise HeldoutUnavailable(f"{source}: needs obs (E >= 2, T+1, C, H, W)")
    actions = tensors.get("actions")
    states = tensors.get("states")
    return HeldoutSplit(
        obs=obs.astype(np.float32, copy=False),
        actions=None if actions is None else np.asarray(actions, dtype=np.float32),
        states=None if states is None else np.asarray(states, dtype=np.float32),
        source=source,
    )


def from_world_spec(spec: Any, *, probe_hash: str) -> HeldoutSplit:
    """Regenerate the synthetic world's held-out split from a recorded ``WorldSpec.to_dict()``."""
    from ..worlds import make_spec, world_from_spec

    if not isinstance(spec, Mapping):
        raise HeldoutUnavailable("the manifest's split_policy records no synthetic world spec")
    try:
        rebuilt = make_spec(
            spec["root_seed"],
            n_silos=spec["n_silos"],
            episodes_per_silo=spec["episodes_per_silo"],
            horizon=spec["horizon"],
            image_size=spec["image_size"],
            probe_size=spec["probe_size"],
            probe_style=spec["probe"]["style_policy"],
        )
    except (KeyError, TypeError, LensembleError) as exc:
        raise HeldoutUnavailable(f"the recorded world spec cannot be rebuilt: {exc}") from exc
    if canonical_json(rebuilt.to_dict()) != canonical_json(dict(spec)):
        raise HeldoutUnavailable(
            "the recorded world spec differs from the one this version of lensemble_spec.worlds builds"
        )
    world = world_from_spec(rebuilt)
    if world.probe.probe_hash != probe_hash:
        raise HeldoutUnavailable("the regenerated world's probe does not hash to the manifest's probe_hash")
    h = world.heldout
    return _split(
        {"obs": h.obs, "actions": h.actions, "states": h.states},
        f"synthetic world (seed {spec['root_seed']}, regenerated)",
    )


def resolve_heldout(
    explicit: str | os.PathLike[str] | None, split_policy: Mapping[str, Any] | None, probe_hash: str
) -> HeldoutSplit:
    """The held-out split by the rules in the module docstring (HeldoutUnavailable if none)."""
    if explicit is not None:
        return from_file(explicit)
    world = split_policy.get("world") if isinstance(split_policy, Mapping) else None
    if world is None:
        raise HeldoutUnavailable("no held-out split: pass --heldout FILE (the manifest records no synthetic world)")
    return from_world_spec(world, probe_hash=probe_hash)


__all__ = ["HeldoutSplit", "HeldoutUnavailable", "from_file", "from_world_spec", "resolve_heldout"]
