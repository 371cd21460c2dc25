"""Media decoding for LeRobot datasets on a CPU-only torch: a PyAV reader and lerobot's import.

Why this module exists. lerobot 0.4.4 reaches torchvision for exactly two media jobs:
``lerobot.datasets.utils`` builds a ``transforms.ToTensor()`` to turn PNG frames into tensors, and
``lerobot.datasets.video_utils`` imports ``torchvision`` at module level for its "pyav" backend
(``torchvision.io.VideoReader``, which torchvision 0.28+ no longer ships). The other backend,
torchcodec, is CUDA-linked. On this project's CPU torch, PyPI torchvision cannot even be imported,
so it is not installed, and ``from lerobot.datasets.lerobot_dataset import LeRobotDataset`` fails
with ``ModuleNotFoundError: torchvision``.

What we do instead (nothing global survives the call):

* :func:`import_lerobot` imports lerobot's dataset classes. When torchvision is absent it places a
  tiny stand-in module in ``sys.modules`` only for the duration of that import, then removes it, so
  lerobot's two modules keep a private reference and every other ``import torchvision`` still
  fails as before. ``datasets`` is imported first so its ``TORCHVISION_AVAILABLE`` flag stays False.
  The stand-in implements ``transforms.ToTensor`` (PIL → float32 (C, H, W), 8-bit modes scaled by
  1/255, exactly torchvision's contract for those modes) and nothing else; its
  ``set_video_backend`` raises a typed error pointing at :func:`pyav_decoding`.
* :func:`decode_frames_at` reads the frames at given timestamps from an mp4 with PyAV (lerobot's
  own dependency; the wheel bundles FFmpeg with dav1d, so lerobot's AV1 files decode on any CPU).
  It seeks once to the key frame before the first timestamp and decodes forward sequentially:
  reading a whole episode costs one pass over its frames, not one seek per frame.
* :func:`pyav_decoding` is a context manager that routes lerobot's own per-item video decode
  (``LeRobotDataset.__getitem__`` → ``decode_video_frames`` → ``decode_video_frames_torchvision``)
  through :func:`decode_frames_at`, and restores lerobot's function on exit.

Timestamp matching follows lerobot: a requested timestamp is served by the decoded frame whose
presentation time is nearest, and it must lie within ``tolerance_s`` (lerobot's default 1e-4 s),
otherwise :class:`~lensemble_spec.errors.DataError` lists the timestamps that had no frame.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.errors import DataError

#: lerobot's default timestamp tolerance (``LeRobotDataset(tolerance_s=1e-4)``).
DEFAULT_TOLERANCE_S = 1e-4

#: Frames converted per call of the ``convert`` callback (bounds peak memory at full resolution).
DECODE_BATCH = 32


# --- importing lerobot without torchvision -------------------------------------------------------
class _ToTensor:
    """torchvision's ``ToTensor`` for PIL images: (C, H, W) float32; 8-bit data scaled to [0, 1]."""

    def __call__(self, pic: Any) -> Any:
        import torch

        arr = np.asarray(pic)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        tensor = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
        if arr.dtype == np.uint8:
            return tensor.to(torch.float32).div_(255.0)
        return tensor.to(torch.float32)


def _set_video_backend(backend: str) -> None:
    raise DataError(
        f"lerobot asked torchvision for video backend {backend!r}, but torchvision is not installed",
        remediation=(
            "Read video through lensemble_reference.lerobot_data.load_lerobot_silos, or wrap per-item "
            "access in `with lensemble_reference._video.pyav_decoding():`."
        ),
    )


def _torchvision_standin() -> dict[str, types.ModuleType]:
    root = types.ModuleType("torchvision")
    root.__spec__ = importlib.machinery.ModuleSpec("torchvision", None, is_package=True)
    root.__path__ = []  # a package, so `from torchvision import transforms` resolves
    root.__doc__ = "lensemble-spec stand-in (ToTensor only); see lensemble_reference/_video.py"
    transforms = types.ModuleType("torchvision.transforms")
    transforms.__spec__ = importlib.machinery.ModuleSpec("torchvision.transforms", None)
    transforms.ToTensor = _ToTensor
    root.transforms = transforms
    root.set_video_backend = _set_video_backend
    return {"torchvision": root, "torchvision.transforms": transforms}


def import_lerobot() -> tuple[type, type]:
    """Return ``(LeRobotDataset, LeRobotDatasetMetadata)``, importing lerobot on first use.

    Uses the real torchvision when it is installed and importable; the stand-in (see module
    docstring) when it is absent. Raises :class:`DataError` when lerobot is missing or when an
    installed torchvision cannot load (e.g. a CUDA build beside the CPU torch).
    """
    if importlib.util.find_spec("lerobot") is None:
        raise DataError(
            "lerobot is not installed in this environment",
            remediation="Install the LeRobot extra: `pip install -e '.[lerobot]'` then `pip install --no-deps "
                        "lerobot==0.4.4`.",
        )
    added: dict[str, types.ModuleType] = {}
    fresh = "lerobot.datasets.lerobot_dataset" not in sys.modules and "torchvision" not in sys.modules
    if fresh and importlib.util.find_spec("torchvision") is None:
        import datasets  # noqa: F401  -- fixes datasets.config.TORCHVISION_AVAILABLE = False first

        added = _torchvision_standin()
        sys.modules.update(added)
    try:
        from lerobot.datasets.lerobot_dataset import (
            LeRobotDataset,
            LeRobotDatasetMetadata,
        )
    except (ImportError, RuntimeError, OSError) as exc:
        raise DataError(
            f"cannot import lerobot's dataset classes: {exc}",
            remediation=(
                "Uninstall a torchvision that does not match the installed torch (`pip uninstall "
                "torchvision`) or install the matching build; then retry."
            ),
        ) from exc
    finally:
        for name, module in added.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    return LeRobotDataset, LeRobotDatasetMetadata


# --- PyAV decoding ---------------------------------------------------------------------------------
def _decode_pass(
    path: Path,
    wanted: np.ndarray,
    tolerance_s: float,
    convert: Callable[[np.ndarray], np.ndarray],
    *,
    seek: bool,
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    import av

    found = np.zeros(len(wanted), dtype=bool)
    parts: dict[int, np.ndarray] = {}
    pending_idx: list[int] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        if pending:
            out = convert(np.stack(pending))
            for k, i in enumerate(pending_idx):
                parts[i] = out[k]
            pending.clear()
            pending_idx.clear()

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if seek and wanted[0] - tolerance_s > 0:
            # backward=True lands on the key frame at or before the target; decode forward from it.
            container.seek(int((wanted[0] - tolerance_s) / stream.time_base), stream=stream, backward=True)
        last = wanted[-1] + tolerance_s
        for frame in container.decode(stream):
            t = frame.time
            if t is None:
                continue
            if t > last:
                break
            j = int(np.searchsorted(wanted, t))
            # nearest requested timestamp among the two neighbours of the insertion point
            if j == len(wanted) or (j > 0 and t - wanted[j - 1] <= wanted[j] - t):
                j -= 1
            if found[j] or abs(t - wanted[j]) > tolerance_s:
                continue
            found[j] = True
            pending_idx.append(j)
            pending.append(frame.to_ndarray(format="rgb24"))
            if len(pending) >= DECODE_BATCH:
                flush()
            if found.all():
                break
        flush()
    return parts, found


def decode_frames_at(
    path: str | Path,
    timestamps: Sequence[float] | np.ndarray,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    convert: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Frames of ``path`` at ``timestamps`` (seconds, any order, repeats allowed), stacked in that order.

    ``convert`` maps a uint8 batch ``(n, H, W, 3)`` RGB to any ``(n, ...)`` array (e.g. resize
    to the model resolution); it is called on at most :data:`DECODE_BATCH` frames at a time, so
    full-resolution frames never pile up. Without it the result is the uint8 ``(N, H, W, 3)``.

    One seek to the key frame at or before the earliest timestamp, then sequential decoding until
    the latest; if the container's seek overshoots (some files index key frames loosely) the file
    is decoded once more from the start. Raises :class:`DataError` if the file cannot be read or
    some timestamp has no frame within ``tolerance_s``.
    """
    path = Path(path)
    convert = convert or (lambda batch: batch)
    query = np.asarray(timestamps, dtype=np.float64).reshape(-1)
    if query.size == 0:
        raise DataError(f"no timestamps requested from {path}", remediation="Request at least one frame.")
    wanted, inverse = np.unique(query, return_inverse=True)
    try:
        parts, found = _decode_pass(path, wanted, tolerance_s, convert, seek=True)
        if not found.all():
            parts, found = _decode_pass(path, wanted, tolerance_s, convert, seek=False)
    except DataError:
        raise
    except Exception as exc:  # PyAV/FFmpeg errors carry no common base class worth naming here
        raise DataError(
            f"cannot decode video {path}: {exc}",
            remediation="Check the file is a complete mp4 written by LeRobot (re-download or re-encode it).",
        ) from exc
    if not found.all():
        missing = wanted[~found]
        raise DataError(
            f"{path}: {missing.size} requested timestamp(s) have no frame within {tolerance_s} s "
            f"(first missing: {missing[:5].round(6).tolist()})",
            remediation="The video does not match meta/episodes timestamps; re-encode the episode or fix its "
                        "from/to_timestamp.",
        )
    stacked = np.stack([parts[i] for i in range(len(wanted))])
    return stacked[inverse]


@contextlib.contextmanager
def pyav_decoding() -> Iterator[None]:
    """Route lerobot's per-item video decode through PyAV for the duration of the block.

    Replaces ``lerobot.datasets.video_utils.decode_video_frames_torchvision`` (the function
    lerobot's "pyav" backend calls) and restores the original on exit, even on error. Use with a
    dataset opened with ``video_backend="pyav"``. Returns what lerobot's function returns:
    float32 ``(N, C, H, W)`` in [0, 1].
    """
    import_lerobot()
    import torch
    from lerobot.datasets import video_utils

    original = video_utils.decode_video_frames_torchvision

    def decode(
        video_path: Any, timestamps: Any, tolerance_s: float, backend: str = "pyav", log_loaded_timestamps: bool = False
    ) -> Any:
        frames = decode_frames_at(video_path, list(timestamps), tolerance_s=tolerance_s)
        return torch.from_numpy(frames).permute(0, 3, 1, 2).to(torch.float32).div_(255.0)

    video_utils.decode_video_frames_torchvision = decode
    try:
        yield
    finally:
        video_utils.decode_video_frames_torchvision = original
