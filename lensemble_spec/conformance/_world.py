"""The harness world: the synthetic silos, held-out split and probe every implementation is measured on.

``lensemble_spec.worlds.make_world(0, **HARNESS_SIZES)`` rendered at the model part's observation
size (the harness world is 32 px; a model declaring another square RGB size gets the same world
at that size, and a probe of at least ``2·d`` points).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from lensemble_spec.protocol import Probe, Silo
from lensemble_spec.worlds import ACTION_DIM, HARNESS_SIZES, make_world

#: World seed of every harness run (the silos, held-out split and probe are a function of it).
WORLD_SEED = 0
#: The results-table ``split`` naming the harness world's held-out split (see _comparison.py).
HARNESS_SPLIT = "lensemble-spec/harness-world"


# --- the world ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HarnessWorld:
    silos: dict[str, Silo]
    heldout: Silo
    probe: Probe
    image_size: int


@functools.lru_cache(maxsize=4)
def harness_world(
    image_size: int = HARNESS_SIZES["image_size"], min_probe: int = HARNESS_SIZES["probe_size"]
) -> HarnessWorld:
    sizes = dict(HARNESS_SIZES, image_size=int(image_size), probe_size=max(int(min_probe), HARNESS_SIZES["probe_size"]))
    w = make_world(WORLD_SEED, **sizes)
    return HarnessWorld(silos=dict(w.silos), heldout=w.heldout, probe=w.probe, image_size=int(image_size))


def world_problem(model: Any) -> str | None:
    """Why the harness world cannot feed ``model`` (None when it can)."""
    if model is None:
        return None
    shape = tuple(int(s) for s in model.obs_shape)
    if len(shape) != 3 or shape[0] != 3 or shape[1] != shape[2] or shape[1] % 8:
        return f"the harness world renders square RGB frames (3, H, H), H a multiple of 8; the model wants {shape}"
    if int(model.action_dim) != ACTION_DIM:
        return f"the harness world has {ACTION_DIM}-dim actions; the model wants {model.action_dim}"
    return None


def world_for(model: Any) -> HarnessWorld:
    if model is None:
        return harness_world()
    return harness_world(int(model.obs_shape[-1]), 2 * int(model.latent_dim))
