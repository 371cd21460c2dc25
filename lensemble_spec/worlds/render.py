"""Vectorised numpy rasteriser for the synthetic arm world.

Contract
--------
``render_states(states, cubes, style, image_size)`` returns ``(N, 3, H, W)`` float32 in [0, 1]
(``H = W = image_size``). Every frame is the style's background with six layers composited on
top in a fixed order (cube, pedestal, yaw pointer, links, joint discs, gripper). A layer is a
union of shapes (capsules = segments with a radius, discs, axis-aligned boxes) with one colour;
its coverage at a pixel is ``smoothstep`` of the signed distance ``d`` from the pixel centre to the
union: ``α = S(clip(0.5 − d / (2·aa), 0, 1))`` with ``S(t) = t²(3 − 2t)`` and ``aa`` =
:data:`AA_PIXELS` pixel widths, so edges are smooth ramps (useful gradients for learning), and
the colour is blended as ``img ← img + α·(colour − img)``.

World → pixel: pixel ``(i, j)`` has world coordinates
``x = (2(j + ½)/W − 1)·VIEW_HALF/scale + offset_x`` and ``y = VIEW_CENTRE_Y + (1 − 2(i + ½)/H)·VIEW_HALF/scale +
offset_y`` (``scale``/``offset`` are the style's camera).

Work is chunked over frames so temporaries stay cache-sized; the result does not depend on the
chunk size (every operation is elementwise). Only IEEE-exact float32 operations are used on the
pixel grid, so frames are bit-identical across machines for the same inputs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ConfigError, InputError
from . import arm

#: Half-width of the visible world square at camera scale 1, and the world height of its centre
#: (the arm lives in x ∈ [-1, 1], y ∈ [-0.8, 0.55]).
VIEW_HALF = 0.98
VIEW_CENTRE_Y = -0.2
#: Half-width of the anti-aliasing ramp, in pixels.
AA_PIXELS = 0.75
#: World height of the table's far edge (pixels below it are shaded by ``table_shade``).
TABLE_TOP = arm.GROUND_Z + 0.28
#: Texture kinds understood by :func:`background`.
TEXTURES = ("none", "stripes", "checker", "dots", "waves", "rings")
#: Accepted image sizes.
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 128
#: Target number of pixels per chunk of frames (keeps temporaries in cache).
_CHUNK_PIXELS = 1 << 16

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class Style:
    """The appearance of a silo (or of the public probe): colours, background, camera."""

    name: str
    background_a: RGB
    background_b: RGB
    gradient_angle: float
    texture: str
    texture_freq: float
    texture_angle: float
    texture_amp: float
    table_shade: float
    arm_color: RGB
    joint_color: RGB
    gripper_color: RGB
    cube_color: RGB
    camera_offset: tuple[float, float]
    camera_scale: float

    def __post_init__(self) -> None:
        if self.texture not in TEXTURES:
            raise ConfigError(
                f"unknown texture {self.texture!r}",
                remediation=f"Use one of {', '.join(TEXTURES)}.",
            )
        if not self.camera_scale > 0:
            raise ConfigError("camera_scale must be > 0", remediation="Use a positive camera scale.")

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


@dataclass(frozen=True)
class Layer:
    """One colour and a union of shapes, per frame.

    ``capsules`` ``(N, M, 5)`` rows ``(ax, ay, bx, by, r)``; ``discs`` ``(N, K, 3)`` rows
    ``(cx, cy, r)``; ``boxes`` ``(N, J, 4)`` rows ``(cx, cy, hx, hy)`` (half sizes). Any may have
    zero shapes (M, K or J = 0).
    """

    color: np.ndarray
    capsules: np.ndarray
    discs: np.ndarray
    boxes: np.ndarray


def check_image_size(image_size: int) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)):
        raise ConfigError(
            f"image_size must be an int, got {image_size!r}",
            remediation=f"Pass an integer image size in [{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}].",
        )
    if not MIN_IMAGE_SIZE <= int(image_size) <= MAX_IMAGE_SIZE:
        raise ConfigError(
            f"image_size {image_size} outside [{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}]",
            remediation=f"Pass an integer image size in [{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}] (48–64 recommended).",
        )
    return int(image_size)


def pixel_grid(style: Style, image_size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """World x of each column ``(W,)``, world y of each row ``(H,)`` and the AA half-width."""
    n = check_image_size(image_size)
    centres = (2.0 * (np.arange(n) + 0.5) / n) - 1.0
    extent = VIEW_HALF / style.camera_scale
    xs = arm.snap(centres * extent + style.camera_offset[0]).astype(np.float32)
    ys = arm.snap(VIEW_CENTRE_Y - centres * extent + style.camera_offset[1]).astype(np.float32)
    aa = float(arm.snap(AA_PIXELS * 2.0 * extent / n))
    return xs, ys, aa


def _texture(kind: str, x: np.ndarray, y: np.ndarray, freq: float, angle: float) -> np.ndarray:
    """A luminance pattern in [-1, 1] over image coordinates x, y ∈ [-1, 1]."""
    w = np.pi * freq
    if kind == "none":
        return np.zeros(np.broadcast_shapes(x.shape, y.shape))
    if kind == "stripes":
        return np.sin(w * (x * np.cos(angle) + y * np.sin(angle)))
    if kind == "checker":
        return np.tanh(4.0 * np.sin(w * x) * np.sin(w * y))
    if kind == "dots":
        return 2.0 * np.clip(np.cos(w * x) * np.cos(w * y), 0.0, 1.0) ** 2 - 1.0
    if kind == "waves":
        return np.sin(w * x + 1.5 * np.sin(0.5 * w * y + angle))
    # rings
    return np.sin(1.5 * w * np.sqrt(x * x + y * y) + angle)


def background(style: Style, image_size: int) -> np.ndarray:
    """The style's empty scene ``(3, H, W)`` float32 in [0, 1]: gradient + texture + shaded table.

    The gradient and texture live in image coordinates (they do not move with the camera); the
    table edge is at world height :data:`TABLE_TOP` and so moves with the camera.
    """
    n = check_image_size(image_size)
    c = (2.0 * (np.arange(n) + 0.5) / n) - 1.0
    x, y = c[None, :], -c[:, None]
    g = 0.5 + 0.5 * np.clip((x * np.cos(style.gradient_angle) + y * np.sin(style.gradient_angle)) / np.sqrt(2.0), -1, 1)
    a = np.asarray(style.background_a, dtype=np.float64)[:, None, None]
    b = np.asarray(style.background_b, dtype=np.float64)[:, None, None]
    img = a + (b - a) * g[None]
    img = img + style.texture_amp * _texture(style.texture, x, y, style.texture_freq, style.texture_angle)[None]
    _, ys, aa = pixel_grid(style, n)
    below = 1.0 / (1.0 + np.exp(-(TABLE_TOP - ys.astype(np.float64)) / aa))  # smooth table edge
    img = img * (1.0 - (1.0 - style.table_shade) * below)[None, :, None]
    return arm.snap(np.clip(img, 0.0, 1.0)).astype(np.float32)


def _empty(n: int, width: int) -> np.ndarray:
    return np.zeros((n, 0, width), dtype=np.float32)


def arm_scene(states: np.ndarray, cubes: np.ndarray, style: Style) -> list[Layer]:
    """The layers (back to front) drawing arms in ``states`` ``(N, S)`` and cubes ``(N, 2)``."""
    pts = arm.forward_kinematics(states)
    n = pts["shoulder"].shape[0]
    cubes = np.asarray(cubes, dtype=np.float64)
    if cubes.shape != (n, 2):
        raise InputError(
            f"cubes must have shape ({n}, 2), got {cubes.shape}",
            remediation="Pass one (x, depth) cube position per frame.",
        )

    def col(rgb: RGB) -> np.ndarray:
        return np.asarray(rgb, dtype=np.float32)

    def caps(*segments: tuple[str, str, float]) -> np.ndarray:
        rows = [
            np.concatenate([pts[a], pts[b], np.full((n, 1), r)], axis=1) for a, b, r in segments
        ]
        return np.stack(rows, axis=1).astype(np.float32)

    def discs(*items: tuple[str, float]) -> np.ndarray:
        rows = [np.concatenate([pts[p], np.full((n, 1), r)], axis=1) for p, r in items]
        return np.stack(rows, axis=1).astype(np.float32)

    cube_box = np.concatenate(
        [arm.cube_centres(cubes), np.full((n, 2), arm.CUBE_HALF)], axis=1
    )[:, None, :].astype(np.float32)
    ped = np.array(
        [0.0, arm.GROUND_Z + arm.PEDESTAL_HALF[1], arm.PEDESTAL_HALF[0], arm.PEDESTAL_HALF[1]],
        dtype=np.float32,
    )
    pedestal = np.broadcast_to(ped, (n, 1, 4))
    return [
        Layer(col(style.cube_color), _empty(n, 5), _empty(n, 3), cube_box),
        Layer(col(style.joint_color), _empty(n, 5), _empty(n, 3), pedestal),
        Layer(col(style.gripper_color), caps(("shoulder", "turret", arm.TURRET_RADIUS)), _empty(n, 3), _empty(n, 4)),
        Layer(
            col(style.arm_color),
            caps(
                ("shoulder", "elbow", arm.LINK_RADII[0]),
                ("elbow", "wrist", arm.LINK_RADII[1]),
                ("wrist", "palm", arm.LINK_RADII[2]),
            ),
            _empty(n, 3),
            _empty(n, 4),
        ),
        Layer(
            col(style.joint_color),
            _empty(n, 5),
            discs(
                ("shoulder", arm.JOINT_RADII[0]),
                ("elbow", arm.JOINT_RADII[1]),
                ("wrist", arm.JOINT_RADII[2]),
            ),
            _empty(n, 4),
        ),
        Layer(
            col(style.gripper_color),
            caps(
                ("palm_l", "palm_r", arm.PALM_RADIUS),
                ("finger_l_base", "finger_l_tip", arm.FINGER_RADIUS),
                ("finger_r_base", "finger_r_tip", arm.FINGER_RADIUS),
            ),
            _empty(n, 3),
            _empty(n, 4),
        ),
    ]


def _layer_distance(layer: Layer, sl: slice, xs: np.ndarray, ys: np.ndarray) -> np.ndarray | None:
    """Signed distance ``(n, H, W)`` from each pixel centre to the union of the layer's shapes."""
    best: np.ndarray | None = None
    px = xs[None, None, :]
    py = ys[None, :, None]

    def merge(d: np.ndarray) -> None:
        nonlocal best
        if best is None:
            best = d
        else:
            np.minimum(best, d, out=best)

    caps = layer.capsules[sl]
    for m in range(caps.shape[1]):
        ax, ay, bx, by, r = (caps[:, m, q][:, None, None] for q in range(5))
        ux, uy = bx - ax, by - ay
        len2 = ux * ux + uy * uy
        inv = np.where(len2 > 0, np.float32(1.0) / np.maximum(len2, np.float32(1e-12)), np.float32(0.0))
        pax = px - ax  # (n, 1, W)
        pay = py - ay  # (n, H, 1)
        h = pax * (ux * inv) + pay * (uy * inv)
        np.clip(h, 0.0, 1.0, out=h)
        dx = pax - h * ux
        dy = h
        np.multiply(h, uy, out=dy)
        np.subtract(pay, dy, out=dy)
        np.multiply(dx, dx, out=dx)
        np.multiply(dy, dy, out=dy)
        np.add(dx, dy, out=dx)
        np.sqrt(dx, out=dx)
        np.subtract(dx, r, out=dx)
        merge(dx)
    dsc = layer.discs[sl]
    for m in range(dsc.shape[1]):
        cx, cy, r = (dsc[:, m, q][:, None, None] for q in range(3))
        dx = px - cx
        dy = py - cy
        d = dx * dx + dy * dy
        np.sqrt(d, out=d)
        np.subtract(d, r, out=d)
        merge(d)
    bxs = layer.boxes[sl]
    for m in range(bxs.shape[1]):
        cx, cy, hx, hy = (bxs[:, m, q][:, None, None] for q in range(4))
        qx = np.abs(px - cx) - hx  # (n, 1, W)
        qy = np.abs(py - cy) - hy  # (n, H, 1)
        ox, oy = np.maximum(qx, 0), np.maximum(qy, 0)
        d = ox * ox + oy * oy
        np.sqrt(d, out=d)
        d += np.minimum(np.maximum(qx, qy), 0)
        merge(d)
    return best


def rasterise(
    layers: list[Layer], bg: np.ndarray, xs: np.ndarray, ys: np.ndarray, aa: float
) -> np.ndarray:
    """Composite ``layers`` over the background ``bg`` ``(3, H, W)``; returns ``(N, 3, H, W)``."""
    if not layers:
        raise InputError("no layers to draw", remediation="Pass at least one layer.")
    n = layers[0].capsules.shape[0]
    h, w = bg.shape[1:]
    out = np.empty((n, 3, h, w), dtype=np.float32)
    out[...] = bg[None]
    chunk = max(1, _CHUNK_PIXELS // (h * w))
    k = np.float32(0.5 / aa)
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        img = out[sl]
        for layer in layers:
            d = _layer_distance(layer, sl, xs, ys)
            if d is None:
                continue
            # α = smoothstep(clip(0.5 − d·k, 0, 1)) computed in place
            np.multiply(d, -k, out=d)
            np.add(d, np.float32(0.5), out=d)
            np.clip(d, 0.0, 1.0, out=d)
            t2 = d * d
            np.multiply(d, np.float32(-2.0), out=d)
            np.add(d, np.float32(3.0), out=d)
            np.multiply(d, t2, out=d)  # d is now α
            for c in range(3):
                ch = img[:, c]
                diff = np.subtract(layer.color[c], ch, out=t2)
                np.multiply(diff, d, out=diff)
                np.add(ch, diff, out=ch)
    return out


def render_states(
    states: np.ndarray, cubes: np.ndarray, style: Style, image_size: int
) -> np.ndarray:
    """Frames ``(N, 3, H, W)`` float32 in [0, 1] of the arm in ``states`` ``(N, S)`` with ``cubes`` ``(N, 2)``."""
    xs, ys, aa = pixel_grid(style, image_size)
    bg = background(style, image_size)
    return rasterise(arm_scene(states, cubes, style), bg, xs, ys, aa)


#: A neutral style used by :func:`render_throughput` (and as the public probe's style).
PUBLIC_STYLE = Style(
    name="public",
    background_a=(0.78, 0.78, 0.76),
    background_b=(0.50, 0.51, 0.53),
    gradient_angle=1.2,
    texture="none",
    texture_freq=0.0,
    texture_angle=0.0,
    texture_amp=0.0,
    table_shade=0.8,
    arm_color=(0.95, 0.55, 0.15),
    joint_color=(0.25, 0.22, 0.20),
    gripper_color=(0.15, 0.45, 0.90),
    cube_color=(0.85, 0.15, 0.20),
    camera_offset=(0.0, 0.0),
    camera_scale=1.0,
)


def render_throughput(
    n_frames: int = 2048, image_size: int = 48, *, repeats: int = 3, seed: int = 0
) -> dict[str, float]:
    """Measure rendering speed on this machine (single process, numpy's default threading).

    Renders ``n_frames`` random in-limit states ``repeats`` times and reports the best
    wall-clock: ``{"frames_per_s", "seconds", "n_frames", "image_size"}``. For benchmarks; the
    tests never assert on speed.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    states = rng.uniform(arm.LIMITS_LO, arm.LIMITS_HI, size=(n_frames, arm.STATE_DIM))
    cubes = np.stack([rng.uniform(-0.7, 0.7, n_frames), rng.uniform(0.0, 0.5, n_frames)], axis=1)
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        render_states(states, cubes, PUBLIC_STYLE, image_size)
        best = min(best, time.perf_counter() - t0)
    return {
        "frames_per_s": n_frames / best,
        "seconds": best,
        "n_frames": float(n_frames),
        "image_size": float(image_size),
    }
