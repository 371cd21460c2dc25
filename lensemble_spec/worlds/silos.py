"""Non-IID silos, the held-out split and the public probe of the synthetic arm world.

Split policy (recorded in :class:`WorldSpec` and so in every run manifest)
-------------------------------------------------------------------------
* **Training silos** ``silo0 … silo{n-1}`` differ in *appearance* (background hue, gradient,
  texture kind/frequency, table shade, arm/joint/gripper/cube colours, camera offset and scale)
  AND in *state/action region*: silo ``c`` centres its joint targets at
  ``HUB + OFFSET ⊙ layout(φ_c)`` with ``φ_c = 2πc/n`` (+ a small seeded jitter), where
  ``layout(φ) = (cos φ, sin φ, cos(φ + π/4), sin(φ + π/4), cos 2φ)``; half-ranges are
  :data:`TRAIN_HALF`; its speed (frequency scale of the policy, hence action magnitude) is spread
  over [0.75, 1.25].
* **Held-out split** ``heldout``: a *new appearance* (its own hue between training hues, a texture
  kind no training silo uses — ``rings`` — and its own camera) over a state region centred at the
  hub, the centre of the training layout, with half-ranges :data:`HELDOUT_HALF`. Because
  ``TRAIN_HALF > OFFSET`` on every coordinate, the hub lies inside every training box, so the
  held-out states are in-distribution for the union of training silos (each coordinate's range lies
  inside the training union) while the appearance is novel: it tests appearance generalisation,
  not state extrapolation. Its speed is 1.0, inside the training spread.
* **Public probe**: ``probe_size`` frames at states drawn uniformly over the bounding box of the
  training regions, with random cube positions; styles cycle over the public (neutral) style and
  the training silos' styles (``probe_style="mixture"``, default) or use only the public style
  (``"public"``). The held-out style is never in the probe. Identical for every participant.

Seeds: every random draw comes from ``np.random.Generator(np.random.PCG64(seed))`` with ``seed =
derive_world_seed(root_seed, label)`` for labels ``layout/<name>``, ``data/<name>`` and ``probe``
— never numpy's global RNG. Same root seed → bit-identical arrays.
"""

from __future__ import annotations

import colorsys
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..protocol import Probe, Silo
from . import arm
from .render import PUBLIC_STYLE, Style, check_image_size, render_states

WORLD_VERSION = "lensemble-spec/synthetic-arm/v1"

#: Centre of the training layout (yaw, shoulder, elbow, wrist, gripper).
HUB = (0.0, 0.0, 1.0, 0.0, 0.5)
#: How far each training silo's centre sits from the hub, per coordinate.
OFFSET = (0.45, 0.35, 0.30, 0.35, 0.18)
#: Half-ranges of the training silos' target regions (> OFFSET so the hub is inside every box).
TRAIN_HALF = (0.50, 0.45, 0.40, 0.45, 0.25)
#: Half-ranges of the held-out region (centred at the hub).
HELDOUT_HALF = (0.40, 0.36, 0.32, 0.36, 0.20)
#: Policy speed range over the training silos, and the held-out speed.
SPEED_RANGE = (0.75, 1.25)
HELDOUT_SPEED = 1.0
#: Texture kinds cycled over training silos; the held-out split uses HELDOUT_TEXTURE.
TRAIN_TEXTURES = ("stripes", "checker", "dots", "waves")
HELDOUT_TEXTURE = "rings"
#: Cube placement on the table: |x| in CUBE_X, depth in CUBE_DEPTH (world units).
CUBE_X = (0.32, 0.78)
CUBE_DEPTH = (0.0, 0.45)
PROBE_STYLES = ("mixture", "public")
MAX_SILOS = 64

HELDOUT_POLICY = (
    "heldout: novel appearance (own hue, unseen 'rings' texture, own camera) over a state region "
    "centred at the hub of the training layout and contained in the union of the training regions"
)


# --- seeds ----------------------------------------------------------------------------------------
def derive_world_seed(root_seed: int, label: str) -> int:
    """A 63-bit seed from ``sha256("lensemble-spec/world/v1\\0<root>\\0<label>")`` (stable everywhere)."""
    digest = hashlib.sha256(f"lensemble-spec/world/v1\0{int(root_seed)}\0{label}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _generator(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


# --- specs ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SiloSpec:
    """How one split was generated: its seeds, appearance and region."""

    name: str
    layout_seed: int
    data_seed: int
    style: Style
    region: arm.Region

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "layout_seed": self.layout_seed,
            "data_seed": self.data_seed,
            "style": self.style.to_dict(),
            "region": self.region.to_dict(),
        }


@dataclass(frozen=True)
class ProbeSpec:
    seed: int
    size: int
    style_policy: str
    styles: tuple[str, ...]
    state_low: tuple[float, ...]
    state_high: tuple[float, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "size": self.size,
            "style_policy": self.style_policy,
            "styles": list(self.styles),
            "state_low": list(self.state_low),
            "state_high": list(self.state_high),
        }


@dataclass(frozen=True)
class WorldSpec:
    """Everything needed to regenerate the world; ``to_dict()`` is JSON-able (split policy record)."""

    root_seed: int
    n_silos: int
    episodes_per_silo: int
    horizon: int
    image_size: int
    probe_size: int
    silos: tuple[SiloSpec, ...]
    heldout: SiloSpec
    probe: ProbeSpec
    public_style: Style = PUBLIC_STYLE
    dt: float = arm.DT
    joint_names: tuple[str, ...] = arm.JOINT_NAMES
    version: str = WORLD_VERSION
    heldout_policy: str = HELDOUT_POLICY

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "root_seed": self.root_seed,
            "n_silos": self.n_silos,
            "episodes_per_silo": self.episodes_per_silo,
            "horizon": self.horizon,
            "image_size": self.image_size,
            "probe_size": self.probe_size,
            "dt": self.dt,
            "joint_names": list(self.joint_names),
            "state_limits_low": [float(x) for x in arm.LIMITS_LO],
            "state_limits_high": [float(x) for x in arm.LIMITS_HI],
            "action_limit": [float(x) for x in arm.ACTION_LIMIT],
            "silos": [s.to_dict() for s in self.silos],
            "heldout": self.heldout.to_dict(),
            "heldout_policy": self.heldout_policy,
            "probe": self.probe.to_dict(),
            "public_style": self.public_style.to_dict(),
        }


@dataclass(frozen=True)
class WorldSplits:
    """Training silos (``silo0…``), the held-out split, the public probe and the spec.

    ``probe_states`` ``(k, S)`` are the probe's ground-truth states (for evaluation only).
    Arrays are shared, not copied: treat them as read-only.
    """

    silos: dict[str, Silo]
    heldout: Silo
    probe: Probe
    spec: WorldSpec
    probe_states: np.ndarray = field(repr=False)

    @property
    def obs_shape(self) -> tuple[int, int, int]:
        return (3, self.spec.image_size, self.spec.image_size)


# --- styles and regions ---------------------------------------------------------------------------
def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return (round(r, 6), round(g, 6), round(b, 6))


def _style(name: str, hue: float, texture: str, rng: np.random.Generator, *, dark_top: bool) -> Style:
    light = _hsv(hue, rng.uniform(0.25, 0.40), rng.uniform(0.78, 0.90))
    dark = _hsv(hue + 0.06, rng.uniform(0.45, 0.65), rng.uniform(0.38, 0.50))
    a, b = (dark, light) if dark_top else (light, dark)
    return Style(
        name=name,
        background_a=a,
        background_b=b,
        gradient_angle=round(float(rng.uniform(0.0, 2.0 * np.pi)), 6),
        texture=texture,
        texture_freq=round(float(rng.uniform(2.5, 5.0)), 6),
        texture_angle=round(float(rng.uniform(0.0, np.pi)), 6),
        texture_amp=round(float(rng.uniform(0.05, 0.09)), 6),
        table_shade=round(float(rng.uniform(0.72, 0.86)), 6),
        arm_color=_hsv(hue + 0.5, 0.75, 0.97),
        joint_color=_hsv(hue + 0.5, 0.45, 0.22),
        gripper_color=_hsv(hue + 0.78, 0.85, 0.95),
        cube_color=_hsv(hue + 0.28, 0.85, 0.80),
        camera_offset=(round(float(rng.uniform(-0.08, 0.08)), 6), round(float(rng.uniform(-0.06, 0.06)), 6)),
        camera_scale=round(float(rng.uniform(0.92, 1.08)), 6),
    )


def _training_layout(index: int, n: int, rng: np.random.Generator) -> tuple[Style, arm.Region]:
    hue = index / n + float(rng.uniform(-0.03, 0.03))
    style = _style(f"silo{index}", hue, TRAIN_TEXTURES[index % len(TRAIN_TEXTURES)], rng, dark_top=False)
    phi = 2.0 * np.pi * index / n + float(rng.uniform(-0.1, 0.1))
    layout = (np.cos(phi), np.sin(phi), np.cos(phi + np.pi / 4), np.sin(phi + np.pi / 4), np.cos(2 * phi))
    centre = tuple(round(h + o * l, 6) for h, o, l in zip(HUB, OFFSET, layout))
    lo_speed, hi_speed = SPEED_RANGE
    speed = lo_speed + (hi_speed - lo_speed) * (index / (n - 1) if n > 1 else 0.5)
    return style, arm.Region(centre=centre, half_range=TRAIN_HALF, speed=round(speed, 6))


def _heldout_layout(n: int, rng: np.random.Generator) -> tuple[Style, arm.Region]:
    hue = 0.5 / n + float(rng.uniform(-0.02, 0.02))
    style = _style("heldout", hue, HELDOUT_TEXTURE, rng, dark_top=True)
    return style, arm.Region(centre=HUB, half_range=HELDOUT_HALF, speed=HELDOUT_SPEED)


# --- generation -----------------------------------------------------------------------------------
def _check_count(name: str, value: object, low: int, high: int | None = None) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if ok and value >= low and (high is None or value <= high):
        return int(value)
    bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
    raise ConfigError(
        f"{name} must be an int {bound}, got {value!r}",
        remediation=f"Pass {name} as an integer {bound}.",
        field=name,
    )


def _cubes(rng: np.random.Generator, n: int) -> np.ndarray:
    side = np.where(rng.uniform(size=n) < 0.5, -1.0, 1.0)
    x = side * rng.uniform(*CUBE_X, size=n)
    depth = rng.uniform(*CUBE_DEPTH, size=n)
    return arm.snap(np.stack([x, depth], axis=1))


def _make_silo(spec: SiloSpec, episodes: int, horizon: int, image_size: int) -> Silo:
    rng = _generator(spec.data_seed)
    states, actions = arm.rollout(rng, spec.region, episodes, horizon)
    cubes = np.repeat(_cubes(rng, episodes), horizon + 1, axis=0)  # static within an episode
    frames = render_states(states.reshape(-1, arm.STATE_DIM), cubes, spec.style, image_size)
    obs = frames.reshape(episodes, horizon + 1, 3, image_size, image_size)
    return Silo(name=spec.name, obs=obs, actions=actions, states=states)


def _probe_box(silos: tuple[SiloSpec, ...]) -> tuple[np.ndarray, np.ndarray]:
    lo = np.min([np.subtract(s.region.centre, s.region.half_range) for s in silos], axis=0)
    hi = np.max([np.add(s.region.centre, s.region.half_range) for s in silos], axis=0)
    return (
        np.maximum(lo, arm.LIMITS_LO.astype(np.float64)).round(6),
        np.minimum(hi, arm.LIMITS_HI.astype(np.float64)).round(6),
    )


def make_probe_points(spec: WorldSpec) -> tuple[np.ndarray, np.ndarray]:
    """Regenerate the probe from the spec alone: ``(points (k, 3, H, W), states (k, S))``."""
    p = spec.probe
    rng = _generator(p.seed)
    lo, hi = np.asarray(p.state_low), np.asarray(p.state_high)
    states = arm.snap(rng.uniform(lo, hi, size=(p.size, arm.STATE_DIM))).astype(np.float32)
    cubes = _cubes(rng, p.size)
    by_name = {s.style.name: s.style for s in spec.silos}
    by_name[spec.public_style.name] = spec.public_style
    points = np.empty((p.size, 3, spec.image_size, spec.image_size), dtype=np.float32)
    which = np.arange(p.size) % len(p.styles)
    for i, style_name in enumerate(p.styles):
        idx = np.flatnonzero(which == i)
        if idx.size:
            points[idx] = render_states(states[idx], cubes[idx], by_name[style_name], spec.image_size)
    return points, states


def make_spec(
    seed: int,
    *,
    n_silos: int = 4,
    episodes_per_silo: int = 24,
    horizon: int = 24,
    image_size: int = 48,
    probe_size: int = 128,
    probe_style: str = "mixture",
) -> WorldSpec:
    """The :class:`WorldSpec` for these arguments (validated; no rendering)."""
    seed = _check_count("seed", seed, 0, (1 << 63) - 1)
    n_silos = _check_count("n_silos", n_silos, 1, MAX_SILOS)
    episodes_per_silo = _check_count("episodes_per_silo", episodes_per_silo, 1)
    horizon = _check_count("horizon", horizon, 1)
    probe_size = _check_count("probe_size", probe_size, 1)
    image_size = check_image_size(image_size)
    if probe_style not in PROBE_STYLES:
        raise ConfigError(
            f"probe_style must be one of {PROBE_STYLES}, got {probe_style!r}",
            remediation="Use probe_style='mixture' (public + training styles) or 'public'.",
            field="probe_style",
        )
    silos = []
    for c in range(n_silos):
        name = f"silo{c}"
        layout_seed = derive_world_seed(seed, f"layout/{name}")
        style, region = _training_layout(c, n_silos, _generator(layout_seed))
        silos.append(SiloSpec(name, layout_seed, derive_world_seed(seed, f"data/{name}"), style, region))
    layout_seed = derive_world_seed(seed, "layout/heldout")
    style, region = _heldout_layout(n_silos, _generator(layout_seed))
    heldout = SiloSpec("heldout", layout_seed, derive_world_seed(seed, "data/heldout"), style, region)
    lo, hi = _probe_box(tuple(silos))
    styles = (PUBLIC_STYLE.name,) + (tuple(s.name for s in silos) if probe_style == "mixture" else ())
    probe = ProbeSpec(
        seed=derive_world_seed(seed, "probe"),
        size=probe_size,
        style_policy=probe_style,
        styles=styles,
        state_low=tuple(float(x) for x in lo),
        state_high=tuple(float(x) for x in hi),
    )
    return WorldSpec(
        root_seed=seed,
        n_silos=n_silos,
        episodes_per_silo=episodes_per_silo,
        horizon=horizon,
        image_size=image_size,
        probe_size=probe_size,
        silos=tuple(silos),
        heldout=heldout,
        probe=probe,
    )


def world_from_spec(spec: WorldSpec) -> WorldSplits:
    """Generate every split of ``spec`` (deterministic: same spec → bit-identical arrays)."""
    # imported late: the artifacts package is a peer module, not needed to build specs
    from ..artifacts.hashing import probe_hash

    silos = {
        s.name: _make_silo(s, spec.episodes_per_silo, spec.horizon, spec.image_size) for s in spec.silos
    }
    heldout = _make_silo(spec.heldout, spec.episodes_per_silo, spec.horizon, spec.image_size)
    points, states = make_probe_points(spec)
    probe = Probe(points=points, probe_hash=probe_hash(points))
    return WorldSplits(silos=silos, heldout=heldout, probe=probe, spec=spec, probe_states=states)


def make_world(seed: int, **options: Any) -> WorldSplits:
    """The synthetic arm world: ``n_silos`` non-IID training silos, a held-out split, a public probe.

    ``options`` are the keyword arguments of :func:`make_spec`, with its defaults (``n_silos``,
    ``episodes_per_silo``, ``horizon``, ``image_size``, ``probe_size``, ``probe_style``); the world
    is ``world_from_spec(make_spec(seed, **options))``. Each split holds ``obs`` ``(E, T+1, 3, H, W)``
    float32 in [0, 1], ``actions`` ``(E, T, 5)`` float32 joint-velocity commands and ``states``
    ``(E, T+1, 5)`` float32 ground truth (``E = episodes_per_silo``, ``T = horizon``,
    ``H = W = image_size``). Bad arguments raise :class:`~lensemble_spec.errors.ConfigError` (an
    unknown keyword, ``TypeError``). See the module docstring for the split policy.
    """
    return world_from_spec(make_spec(seed, **options))


#: Sizes of :func:`harness_world` (the conformance suite's world).
HARNESS_SIZES = {
    "n_silos": 4,
    "episodes_per_silo": 16,
    "horizon": 12,
    "image_size": 32,
    "probe_size": 64,
}


def harness_world(seed: int = 0) -> WorldSplits:
    """A small, fast world for the conformance suite (:data:`HARNESS_SIZES`; ~1.1k frames at 32 px).

    4 silos × 16 episodes × 12 steps (192 transitions per silo), a 16-episode held-out split and a
    64-point probe (≥ 2× the harness latent dimension of at most 32).
    """
    return make_world(seed, **HARNESS_SIZES)


# --- slicing helpers ------------------------------------------------------------------------------
def windows(silo: Silo, length: int, *, stride: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every window of ``length`` steps: obs ``(B, L+1, C, H, W)``, actions ``(B, L, A)``, states ``(B, L+1, S)``.

    Windows start at ``0, stride, 2·stride, …`` (while they fit) in each episode; ``B = E ×
    n_starts``, episode-major. Windows never cross episode boundaries. Returns copies.
    """
    e, t1 = silo.obs.shape[:2]
    horizon = t1 - 1
    length = _check_count("length", length, 1, horizon)
    stride = _check_count("stride", stride, 1)
    starts = np.arange(0, horizon - length + 1, stride)
    idx = starts[:, None] + np.arange(length + 1)[None, :]  # (n_starts, L+1)
    obs = silo.obs[:, idx].reshape(e * len(starts), length + 1, *silo.obs.shape[2:])
    states = silo.states[:, idx].reshape(e * len(starts), length + 1, silo.states.shape[-1])
    actions = silo.actions[:, idx[:, :-1]].reshape(e * len(starts), length, silo.actions.shape[-1])
    return obs, actions, states


def flatten_frames(silo: Silo) -> tuple[np.ndarray, np.ndarray]:
    """All frames ``(E·(T+1), C, H, W)`` and their states ``(E·(T+1), S)`` (views when possible)."""
    return silo.obs.reshape(-1, *silo.obs.shape[2:]), silo.states.reshape(-1, silo.states.shape[-1])
