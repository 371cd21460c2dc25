"""Deterministic synthetic SO-100-like arm world (numpy only): non-IID silos, held-out split, probe.

``make_world(seed, …) -> WorldSplits`` and ``harness_world(seed)`` are the entry points; see
:mod:`.arm` (kinematics, dynamics), :mod:`.render` (rasteriser), :mod:`.silos` (split policy).
"""

from .arm import (
    ACTION_DIM,
    ACTION_LIMIT,
    DT,
    JOINT_NAMES,
    LIMITS_HI,
    LIMITS_LO,
    STATE_DIM,
    Region,
)
from .preview import preview_png
from .render import PUBLIC_STYLE, Style, render_states, render_throughput
from .silos import (
    HARNESS_SIZES,
    ProbeSpec,
    SiloSpec,
    WorldSpec,
    WorldSplits,
    derive_world_seed,
    flatten_frames,
    harness_world,
    make_probe_points,
    make_spec,
    make_world,
    windows,
    world_from_spec,
)

__all__ = [
    "ACTION_DIM",
    "ACTION_LIMIT",
    "DT",
    "HARNESS_SIZES",
    "JOINT_NAMES",
    "LIMITS_HI",
    "LIMITS_LO",
    "PUBLIC_STYLE",
    "STATE_DIM",
    "ProbeSpec",
    "Region",
    "SiloSpec",
    "Style",
    "WorldSpec",
    "WorldSplits",
    "derive_world_seed",
    "flatten_frames",
    "harness_world",
    "make_probe_points",
    "make_spec",
    "make_world",
    "preview_png",
    "render_states",
    "render_throughput",
    "windows",
    "world_from_spec",
]
