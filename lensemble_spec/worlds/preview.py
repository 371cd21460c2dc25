"""Write a PNG grid of frames so a person can look at a world (no matplotlib needed)."""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import InputError


def encode_png(rgb: np.ndarray) -> bytes:
    """Encode an ``(H, W, 3)`` uint8 array as an 8-bit RGB PNG (filter 0, zlib level 9)."""
    a = np.ascontiguousarray(rgb)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise InputError(
            f"expected (H, W, 3) uint8, got {a.shape} {a.dtype}",
            remediation="Convert the image to uint8 RGB before encoding.",
        )
    h, w, _ = a.shape
    raw = b"".join(b"\x00" + a[i].tobytes() for i in range(h))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def frame_grid(rows: list[np.ndarray], *, scale: int = 3, gap: int = 2) -> np.ndarray:
    """Tile rows of frames ``(n_i, 3, H, W)`` in [0, 1] into one ``(H', W', 3)`` uint8 image."""
    if not rows:
        raise InputError("no rows to tile", remediation="Pass at least one row of frames.")
    h, w = rows[0].shape[2:]
    cols = max(r.shape[0] for r in rows)
    cell_h, cell_w = h * scale + gap, w * scale + gap
    out = np.full((len(rows) * cell_h + gap, cols * cell_w + gap, 3), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, frame in enumerate(row):
            img = np.clip(np.round(np.transpose(frame, (1, 2, 0)) * 255.0), 0, 255).astype(np.uint8)
            img = img.repeat(scale, axis=0).repeat(scale, axis=1)
            y, x = gap + i * cell_h, gap + j * cell_w
            out[y : y + h * scale, x : x + w * scale] = img
    return out


def preview_png(world, path: str | os.PathLike, *, columns: int = 8, scale: int = 3) -> Path:
    """Write a grid: one row per training silo, one for ``heldout`` (first frames of episode 0,
    then episode 1, …), one row of probe points. Atomic (temp file + rename). Returns the path."""
    rows = []
    for silo in [*world.silos.values(), world.heldout]:
        rows.append(silo.obs.reshape(-1, *silo.obs.shape[2:])[:columns])
    rows.append(world.probe.points[:columns])
    data = encode_png(frame_grid(rows, scale=scale))
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target
