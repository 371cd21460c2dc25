"""Reading the files of a run directory without trusting them (RFC-0010 §5, §7).

Every path is confined to its root first (:func:`lensemble_spec.artifacts.confine`: no ``..``,
no absolute path, no symlink out) and must name a regular file, read with a cap on the bytes
actually read (:func:`~lensemble_spec.artifacts.reading.read_regular_file`: a FIFO never blocks,
a device never streams). JSON goes through the bounded loader (size and nesting checked before
parsing, NaN and duplicate keys refused). Tensors are read with safetensors only, from bytes read
once, after their header and ``__metadata__`` are bounded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts.checkpoint import safetensors_specs
from ..artifacts.paths import confine
from ..artifacts.reading import read_regular_file
from ..artifacts.safe_json import DEFAULT_MAX_BYTES, load_json_file, loads_bounded
from ..artifacts.staging import PARTIAL_SUFFIX, RESUME_DIR
from ..errors import ArtifactError

#: Files of a run directory (RFC-0010 §5).
MANIFEST_FILE = "manifest.json"
ROUNDS_FILE = "rounds.jsonl"
PROBE_FILE = "probe.safetensors"
LOGS_DIR = "logs"
LOG_SUFFIXES = (".log", ".txt")
#: A comparison directory's results table (RFC-0010 §5, RFC-0005 §6).
RESULTS_FILE = "results.json"
RESUME_STATE = f"{RESUME_DIR}/state.json"
#: Files a comparison directory may hold beside results.json and its runs: descriptive reports.
COMPARISON_REPORT_FILES = ("summary.json",)
COMPARISON_REPORT_SUFFIXES = (".md", ".txt", ".log")
#: A safetensors file larger than this is refused unread.
MAX_TENSOR_FILE_BYTES = 2 * 1024**3
#: Largest safetensors JSON header read outside a checkpoint (the probe: two tensors).
MAX_TENSOR_HEADER_BYTES = 1024 * 1024
#: Most lines a rounds file may have.
MAX_RECORDS = 100_000


def read_json(root: Path, rel: str) -> Any:
    """Bounded JSON from ``root/rel`` (PathEscape / ArtifactError on failure)."""
    return load_json_file(confine(root, rel))


def read_jsonl(root: Path, rel: str) -> list[Any]:
    """Bounded JSON Lines: the file size, then each line's size and depth, checked before parsing."""
    data = read_regular_file(confine(root, rel), DEFAULT_MAX_BYTES, label=rel)
    lines = [ln for ln in data.split(b"\n") if ln.strip()]
    if len(lines) > MAX_RECORDS:
        raise ArtifactError(f"{rel} has {len(lines)} lines, over the limit of {MAX_RECORDS}")
    return [loads_bounded(ln, source=f"{rel}:{i + 1}") for i, ln in enumerate(lines)]


def read_tensors(root: Path, rel: str) -> dict[str, np.ndarray]:
    """All tensors of a safetensors file inside ``root``, as numpy arrays."""
    data = read_regular_file(confine(root, rel), MAX_TENSOR_FILE_BYTES, label=rel)
    from safetensors.numpy import load

    safetensors_specs(data, rel, max_header=MAX_TENSOR_HEADER_BYTES)  # header and __metadata__ bounded

    try:
        return {k: np.asarray(v) for k, v in load(data).items()}
    except Exception as exc:  # noqa: BLE001 — SafetensorError and friends: the file is corrupt
        raise ArtifactError(f"{rel} cannot be decoded as safetensors: {exc}") from exc


def resume_state(root: Path) -> dict[str, Any] | None:
    """The writer's resume state of a partial run (None if absent or unreadable)."""
    if not exists(root, RESUME_STATE):
        return None
    try:
        state = read_json(root, RESUME_STATE)
    except ArtifactError:
        return None
    return state if isinstance(state, dict) else None


def is_partial(root: Path) -> bool:
    """A run or comparison still being written (or killed): no manifest/results, marked partial."""
    return root.name.endswith(PARTIAL_SUFFIX) or exists(root, RESUME_STATE)


def comparison_unexpected(root: Path, controls: tuple[str, ...], extra_dirs: tuple[str, ...] = ()) -> list[str]:
    """Entries of a comparison root other than results.json, the run directories named by the
    controls and ``extra_dirs`` (real directories, not symlinks; a multi-seed comparison's seed
    directories also hold ``variants/``) and descriptive reports (sorted, ``/`` for dirs)."""
    found = []
    try:
        names = sorted(os.listdir(root))
    except OSError as exc:
        return [f"(cannot list: {exc.strerror or exc})"]
    for name in names:
        full = root / name
        link = os.path.islink(full)
        if (name in controls or name in extra_dirs) and not link and os.path.isdir(full):
            continue
        regular = not link and os.path.isfile(full)
        if regular and (
            name == RESULTS_FILE or name in COMPARISON_REPORT_FILES or name.endswith(COMPARISON_REPORT_SUFFIXES)
        ):
            continue
        found.append(name + ("/" if os.path.isdir(full) and not link else ""))
    return found


def exists(root: Path, rel: str) -> bool:
    """True when ``rel`` names an entry (a dangling or escaping symlink counts as one)."""
    return os.path.lexists(root / rel)


def unexpected_entries(root: Path, checkpoint_dirs: list[str]) -> list[str]:
    """Entries a run directory may not hold (RFC-0010 §5, ART-015), as sorted relative paths.

    Allowed: ``manifest.json``, the rounds file, ``probe.safetensors``, the checkpoint directories
    the manifest lists (their content is ART-001's business), the directories leading to them,
    and plain-text logs (``*.log``, ``*.txt``) under ``logs/``. Symlinked directories are not
    followed; a symlink outside a checkpoint is itself unexpected.
    """
    allowed_files = {MANIFEST_FILE, ROUNDS_FILE, PROBE_FILE}
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
            in_logs = (
                rel.startswith(LOGS_DIR + "/") and rel.endswith(LOG_SUFFIXES) and not (Path(dirpath) / f).is_symlink()
            )
            if rel not in allowed_files and not in_logs:
                found.append(rel)
    return sorted(found)


__all__ = [
    "LOGS_DIR",
    "MANIFEST_FILE",
    "PARTIAL_SUFFIX",
    "PROBE_FILE",
    "RESULTS_FILE",
    "RESUME_STATE",
    "ROUNDS_FILE",
    "comparison_unexpected",
    "exists",
    "is_partial",
    "read_json",
    "read_jsonl",
    "read_tensors",
    "resume_state",
    "unexpected_entries",
]
