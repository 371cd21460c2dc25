"""The vectorised rasteriser against a slow per-pixel reference; probe hash; PNG preview.

Catches: broadcasting mistakes in the rasteriser (swapped axes, wrong layer order, a shape kind
ignored), a wrong anti-aliasing ramp, a probe hash blind to pixel edits, a corrupt preview file.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest

from lensemble_spec.errors import InputError
from lensemble_spec.worlds import (
    PUBLIC_STYLE,
    preview_png,
    render_states,
    render_throughput,
)
from lensemble_spec.worlds import render as R
from lensemble_spec.worlds.preview import frame_grid


def _reference_render(states, cubes, style, n):
    """Per-pixel loops in float64, written from the documented contract of render.py."""
    bg = R.background(style, n).astype(np.float64)
    layers = R.arm_scene(states, cubes, style)
    extent = R.VIEW_HALF / style.camera_scale
    aa = R.AA_PIXELS * 2.0 * extent / n
    out = np.zeros((len(states), 3, n, n))
    for f in range(len(states)):
        img = bg.copy()
        for layer in layers:
            for i in range(n):
                y = R.VIEW_CENTRE_Y + (1.0 - 2.0 * (i + 0.5) / n) * extent + style.camera_offset[1]
                for j in range(n):
                    x = (2.0 * (j + 0.5) / n - 1.0) * extent + style.camera_offset[0]
                    d = math.inf
                    for ax, ay, bx, by, r in layer.capsules[f].astype(np.float64):
                        ux, uy = bx - ax, by - ay
                        l2 = ux * ux + uy * uy
                        t = 0.0 if l2 == 0 else min(1.0, max(0.0, ((x - ax) * ux + (y - ay) * uy) / l2))
                        d = min(d, math.hypot(x - ax - t * ux, y - ay - t * uy) - r)
                    for cx, cy, r in layer.discs[f].astype(np.float64):
                        d = min(d, math.hypot(x - cx, y - cy) - r)
                    for cx, cy, hx, hy in layer.boxes[f].astype(np.float64):
                        qx, qy = abs(x - cx) - hx, abs(y - cy) - hy
                        d = min(d, math.hypot(max(qx, 0.0), max(qy, 0.0)) + min(max(qx, qy), 0.0))
                    if d == math.inf:
                        continue
                    t = min(1.0, max(0.0, 0.5 - d / (2.0 * aa)))
                    alpha = t * t * (3.0 - 2.0 * t)
                    img[:, i, j] += alpha * (layer.color.astype(np.float64) - img[:, i, j])
        out[f] = img
    return out


@pytest.mark.parametrize("style_source", ["public", "silo2", "heldout"])
def test_vectorised_matches_reference(hworld, style_source):
    if style_source == "public":
        style = PUBLIC_STYLE
    elif style_source == "heldout":
        style = hworld.spec.heldout.style
    else:
        style = next(s.style for s in hworld.spec.silos if s.name == style_source)
    states = np.array(
        [[0.0, 0.0, 1.0, 0.0, 0.5], [0.8, -0.9, 1.9, 1.2, 1.0], [-1.0, 1.2, -0.3, -1.5, 0.0]],
        dtype=np.float32,
    )
    cubes = np.array([[0.5, 0.1], [-0.6, 0.4], [0.35, 0.0]])
    fast = render_states(states, cubes, style, 16)
    slow = _reference_render(states, cubes, style, 16)
    np.testing.assert_allclose(fast, slow, atol=2e-5, rtol=0)
    assert np.abs(fast - R.background(style, 16)[None]).max() > 0.3  # something was drawn


@pytest.mark.parametrize("states, cubes", [
    pytest.param(np.zeros((2, 4)), np.zeros((2, 2)), id="state-dim"),
    pytest.param(np.zeros((2, 5)), np.zeros((3, 2)), id="cube-count"),
    pytest.param(np.full((1, 5), np.nan), np.zeros((1, 2)), id="non-finite-state"),
])  # fmt: skip
def test_render_rejects_bad_input(states, cubes):
    with pytest.raises(InputError):
        render_states(states, cubes, PUBLIC_STYLE, 16)


def test_probe_hash_stable_and_sensitive(hworld):
    from lensemble_spec.artifacts.hashing import probe_hash

    points = hworld.probe.points
    assert probe_hash(points) == hworld.probe.probe_hash
    assert probe_hash(points.copy()) == hworld.probe.probe_hash
    edited = points.copy()
    edited[3, 1, 5, 7] = np.nextafter(edited[3, 1, 5, 7], np.float32(2.0))  # one ulp, one pixel
    assert probe_hash(edited) != hworld.probe.probe_hash


def _decode_png(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    w = h = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + body)
        if tag == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
            assert body[8:10] == b"\x08\x02"
        elif tag == b"IDAT":
            idat += body
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + 3 * w)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(h, w, 3)


def test_preview_png_roundtrips(hworld, tmp_path):
    path = preview_png(hworld, tmp_path / "grid.png", columns=4, scale=2)
    img = _decode_png(path.read_bytes())
    rows = [s.obs.reshape(-1, *s.obs.shape[2:])[:4] for s in [*hworld.silos.values(), hworld.heldout]]
    rows.append(hworld.probe.points[:4])
    assert np.array_equal(img, frame_grid(rows, scale=2))
    assert img.shape == (6 * (32 * 2 + 2) + 2, 4 * (32 * 2 + 2) + 2, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temp file left behind


def test_render_throughput_reports_numbers():
    out = render_throughput(n_frames=16, image_size=16, repeats=1)
    assert out["n_frames"] == 16 and out["image_size"] == 16
    assert out["seconds"] > 0 and out["frames_per_s"] == pytest.approx(16 / out["seconds"])
