"""Reading the files of a run directory without trusting them (RFC-0010 §5, §7).

Every path is confined to its root first (:func:`lensemble_spec.artifacts.confine`: no ``..``,
no absolute path, no symlink out). JSON goes through the bounded loader (size and nesting
checked before parsing, NaN and duplicate keys refused). Tensors are read with safetensors
only, from bytes read once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts.paths import confine
from ..artifacts.safe_json import DEFAULT_MAX_BYTES, load_json_file, loads_bounded
from ..errors import ArtifactError

#: Files of a run directory (RFC-0010 §5).
MANIFEST_FILE = "manifest.json"
ROUNDS_FILE = "rounds.jsonl"
#: A name some writers use for the rounds file; read so the rest can be checked, flagged by ART-015.
LEGACY_ROUNDS_FILE = "records.jsonl"
PROBE_FILE = "probe.safetensors"
LOGS_DIR = "logs"
LOG_SUFFIXES = (".log", ".txt")
#: A comparison directory's results table (RFC-0010 §5, RFC-0005 §6).
RESULTS_FILE = "results.json"
#: A safetensors file larger than this is refused unread.
MAX_TENSOR_FILE_BYTES = 2 * 1024**3
#: Most lines a rounds file may have.
MAX_RECORDS = 100_000


def read_json(root: Path, rel: str) -> Any:
    """Bounded JSON from ``root/rel`` (PathEscape / ArtifactError on failure)."""
    return load_json_file(confine(root, rel))


def read_jsonl(root: Path, rel: str) -> list[Any]:
    """Bounded JSON Lines: the file size, then each line's size and depth, checked before parsing."""
    path = confine(root, rel)
    try:
        size = path.stat().st_size
        if size > DEFAULT_MAX_BYTES:
            raise ArtifactError(f"{rel} is {size} bytes, over the {DEFAULT_MAX_BYTES}-byte limit")
        with open(path, "rb") as fh:
            data = fh.read(DEFAULT_MAX_BYTES + 1)
    except OSError as exc:
        raise ArtifactError(f"cannot read {rel}: {exc.strerror or exc}") from exc
    lines = [ln for ln in data.split(b"\n") if ln.strip()]
    if len(lines) > MAX_RECORDS:
        raise ArtifactError(f"{rel} has {len(lines)} lines, over the limit of {MAX_RECORDS}")
    return [loads_bounded(ln, source=f"{rel}:{i + 1}") for i, ln in enumerate(lines)]


def read_tensors(root: Path, rel: str) -> dict[str, np.ndarray]:
    """All tensors of a safetensors file inside ``root``, as numpy arrays."""
    path = confine(root, rel)
    try:
        size = path.stat().st_size
        if size > MAX_TENSOR_FILE_BYTES:
            raise ArtifactError(f"{rel} is {size} bytes, over the {MAX_TENSOR_FILE_BYTES}-byte limit")
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read {rel}: {exc.strerror or exc}") from exc
    from safetensors.numpy import load

    try:
        return {k: np.asarray(v) for k, v in load(data).items()}
    except Exception as exc:  # noqa: BLE001 — SafetensorError and friends: the file is corrupt
        raise ArtifactError(f"{rel} cannot be decoded as safetensors: {exc}") from exc


def exists(root: Path, rel: str) -> bool:
    """True when ``rel`` names an entry (a dangling or escaping symlink counts as one)."""
    return os.path.lexists(root / rel)


def unexpected_entries(root: Path, checkpoint_dirs: list[str], rounds_file: str | None) -> list[str]:
    """Entries a run directory may not hold (RFC-0010 §5, ART-015), as sorted relative paths.

    Allowed: ``manifest.json``, the rounds file, ``probe.safetensors``, the checkpoint directories
    the manifest lists (their content is ART-001's business), the directories leading to them,
    and plain-text logs (``*.log``, ``*.txt``) under ``logs/``. Symlinked directories are not
    followed; a symlink outside a checkpoint is itself unexpected.
    """
    allowed_files = {MANIFEST_FILE, PROBE_FILE} | ({rounds_file} if rounds_file else set())
    ck = {c.strip("/") for c in checkpoint_dirs}
    parents = {"/".join(c.split("/")[:i]) for c in ck for i in range(1, len(c.split("/")))}
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        keep = []
        for d in sorted(dirnames):
            rel = f"{rel_dir}/{d}" if rel_dir else d
            full = Path(dirpath) / d
            if rel in ck:
                continue  # a listed checkpoint: checked by ART-001, not walked here
            if full.is_symlink():
                found.append(rel)
            elif rel in parents or rel == LOGS_DIR or rel.startswith(LOGS_DIR + "/"):
                keep.append(d)
            else:
                found.append(rel + "/")
        dirnames[:] = keep
        for f in sorted(filenames):
            rel = f"{rel_dir}/{f}" if rel_dir else f
            in_logs = rel.startswith(LOGS_DIR + "/") and rel.endswith(LOG_SUFFIXES) and not (Path(dirpath) / f).is_symlink()
            if rel not in allowed_files and not in_logs:
                found.append(rel)
    return sorted(found)


__all__ = [
    "LEGACY_ROUNDS_FILE",
    "LOGS_DIR",
    "MANIFEST_FILE",
    "PROBE_FILE",
    "RESULTS_FILE",
    "ROUNDS_FILE",
    "exists",
    "read_json",
    "read_jsonl",
    "read_tensors",
    "unexpected_entries",
]
