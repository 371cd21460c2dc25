"""Atomic run directories and resumable training state.

**Atomic.** A run for ``--out OUT`` is written into the sibling ``OUT.partial`` and renamed to
``OUT`` only once its manifest is written (:func:`claim`, :func:`promote`). The claim is one
``os.mkdir``, which exactly one of several concurrent writers wins; the others get a typed
error before they write anything. A run that fails with an exception is deleted (nothing
half-written stays); a run that is killed (SIGKILL, Ctrl-C) keeps its ``OUT.partial`` so it can
be resumed, and ``lensemble-spec verify OUT.partial`` says so.

**Resumable.** After every committed round ``t`` the writer saves, inside ``OUT.partial/resume/``,
everything the next round needs that the run directory does not already hold:

* ``state-XXXX.safetensors`` — the outer optimiser's float64 velocity (``outer/<param>``) and every
  participant's AdamW moments and step counts (``opt/<participant>/<index>/<key>``);
* ``state.json`` — the round ``t``, the resolved config and its hash, the checkpoint list, the
  run-side diagnostic series, the outer step count, every participant's sampler generator state
  (the data order) and AdamW hyper-parameters, and the sha256 of the tensor file it goes with.

``state.json`` is replaced atomically *after* its tensor file is complete, so a kill at any
instant leaves a consistent state of the last committed round. The model weights themselves are
the committed checkpoints. Resuming (:func:`load_state`) deletes whatever a later, uncommitted
round left (checkpoints, record lines, temporaries) and continues from round ``t + 1``; every
content hash then equals the uninterrupted run's. Before a run is promoted ``resume/`` is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.artifacts import atomic_write_bytes, atomic_write_json
from lensemble_spec.artifacts.reading import read_regular_file
from lensemble_spec.artifacts.safe_json import load_json_file
from lensemble_spec.errors import ArtifactError, LensembleError
from lensemble_spec.verify.files import PARTIAL_SUFFIX, RESUME_DIR, RESUME_STATE

STATE_KIND = "lensemble_reference/resume-state"
STATE_VERSION = 1
_MAX_STATE_JSON = 64 * 1024 * 1024
_MAX_STATE_TENSORS = 8 * 1024**3


# --- the output directory ----------------------------------------------------------------------------
def partial_dir(out: Path) -> Path:
    """``OUT.partial``: where a run for ``OUT`` is written until it is complete."""
    out = Path(out)
    return out.parent / (out.name + PARTIAL_SUFFIX)


def _is_empty_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode) and not any(os.scandir(path))
    except OSError:
        return False


def check_out(out: Path) -> None:
    """Typed errors for an unusable ``--out`` before anything is built or written.

    ``OUT`` must not exist (or be an empty directory, not a symlink), its parent must be (or be
    creatable as) a directory, and no ``OUT.partial`` may exist (a run in progress or killed).
    """
    out = Path(out)
    if not out.name or out.name in (".", ".."):
        raise ArtifactError(
            f"--out {out} does not name a new directory", remediation="Pass a path such as runs/anchored."
        )
    try:
        if os.path.islink(out):
            raise ArtifactError(
                f"--out {out} is a symlink",
                remediation="Pass a plain new directory path; runs are not written through links.",
            )
        if os.path.lexists(out) and not _is_empty_dir(out):
            raise ArtifactError(
                f"{out} exists and is not empty",
                remediation="Choose a new --out directory; runs are written once and never overwritten.",
            )
        partial = partial_dir(out)
        if os.path.lexists(partial):
            raise ArtifactError(
                f"{partial} exists: a run into {out} is in progress or was killed",
                remediation=f"Resume it with --resume {out}, or delete {partial} to start over.",
            )
        parent = out.parent
        probe = parent
        while not os.path.lexists(probe) and probe != probe.parent:
            probe = probe.parent
        if not stat.S_ISDIR(os.stat(probe).st_mode):
            raise ArtifactError(
                f"--out {out}: {probe} is not a directory", remediation="Pass an --out whose parent is a directory."
            )
        if os.path.lexists(parent) and not os.access(parent, os.W_OK | os.X_OK):
            raise ArtifactError(
                f"--out {out}: cannot write in {parent}", remediation="Pass an --out in a directory you can write to."
            )
    except OSError as exc:
        raise ArtifactError(
            f"--out {out} is unusable: {exc.strerror or exc}", remediation="Pass a writable path for a new directory."
        ) from exc


def claim(out: Path) -> Path:
    """Create ``OUT.partial`` atomically (``os.mkdir``: one concurrent writer wins) and return it."""
    check_out(out)
    partial = partial_dir(out)
    try:
        partial.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(partial)
    except FileExistsError as exc:
        raise ArtifactError(
            f"{partial} was created by another writer: a run into {out} is already in progress",
            remediation=f"Wait for it, or choose another --out (if it was killed: --resume {out}).",
        ) from exc
    except OSError as exc:
        raise ArtifactError(
            f"cannot create {partial}: {exc.strerror or exc}", remediation="Pass a writable path for a new directory."
        ) from exc
    return partial


def reopen(out: Path) -> Path:
    """The existing ``OUT.partial`` of a killed run (typed error if there is none)."""
    out = Path(out)
    if out.name.endswith(PARTIAL_SUFFIX):
        out = out.parent / out.name[: -len(PARTIAL_SUFFIX)]
    partial = partial_dir(out)
    if not os.path.isdir(partial) or os.path.islink(partial):
        hint = f"{out} is already complete" if os.path.isdir(out) else f"no {partial} to resume"
        raise ArtifactError(f"nothing to resume: {hint}", remediation=f"Start the run without --resume (--out {out}).")
    return partial


def promote(partial: Path, out: Path) -> Path:
    """Remove ``resume/`` and rename ``OUT.partial`` to ``OUT`` (onto nothing or an empty directory)."""
    shutil.rmtree(partial / RESUME_DIR, ignore_errors=True)
    try:
        os.rename(partial, out)
    except OSError as exc:
        raise ArtifactError(
            f"the complete run is in {partial} but cannot become {out}: {exc.strerror or exc}",
            remediation=f"Move {partial} to a new name yourself; {out} appeared while the run was written.",
        ) from exc
    return Path(out)


def discard(partial: Path) -> None:
    """Delete a partial run after a failure (nothing half-written stays)."""
    shutil.rmtree(partial, ignore_errors=True)


@contextlib.contextmanager
def discard_on_error(partial: Path):  # type: ignore[no-untyped-def]
    """Delete ``partial`` if the block raises an Exception; keep it on KeyboardInterrupt (resumable)."""
    try:
        yield
    except Exception:
        discard(partial)
        raise


# --- what was asked for -----------------------------------------------------------------------------------
REQUEST_FILE = f"{RESUME_DIR}/request.json"


def write_request(run_dir: Path, *, config: Mapping[str, Any], command: str) -> None:
    """Record the resolved config right after the claim, so even a run killed before round 0 resumes."""
    atomic_write_json(Path(run_dir) / REQUEST_FILE, {"kind": STATE_KIND, "command": command, "config": dict(config)})


def read_request(run_dir: Path) -> dict[str, Any]:
    """The config a partial run was started with (typed error when it was killed before recording it)."""
    try:
        doc = load_json_file(Path(run_dir) / REQUEST_FILE, max_bytes=_MAX_STATE_JSON, max_depth=16)
    except LensembleError as exc:
        raise ArtifactError(
            f"cannot resume {run_dir}: {exc.message}",
            remediation=f"The run was killed before it recorded its configuration: delete {run_dir} and start again.",
        ) from exc
    if not isinstance(doc, dict) or doc.get("kind") != STATE_KIND or not isinstance(doc.get("config"), dict):
        raise ArtifactError(f"cannot resume {run_dir}: {REQUEST_FILE} is not a request of this trainer")
    return doc


# --- trainer state -------------------------------------------------------------------------------------
@dataclass
class ResumeState:
    round_index: int
    doc: dict[str, Any]
    tensors: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def checkpoints(self) -> list[dict[str, Any]]:
        return list(self.doc["checkpoints"])

    @property
    def series(self) -> dict[str, list[Any]]:
        return {k: list(v) for k, v in self.doc.get("series", {}).items()}


def participants_state(parts: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """AdamW moments (tensors) and sampler generator + optimiser hyper-parameters (JSON) per participant."""
    tensors: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {}
    for pid, part in sorted(parts.items()):
        sd = part.optimizer.state_dict()
        keys: dict[str, list[str]] = {}
        for idx, slots in sd["state"].items():
            keys[str(idx)] = sorted(slots)
            for key, value in slots.items():
                tensors[f"opt/{pid}/{idx}/{key}"] = np.ascontiguousarray(value.detach().cpu().numpy())
        meta[pid] = {"sampler": part.sampler.rng.bit_generator.state, "param_groups": sd["param_groups"], "slots": keys}
    return tensors, meta


def restore_participants(parts: Mapping[str, Any], state: ResumeState) -> None:
    """Put every participant's optimiser and sampler back as they were after round ``t``."""
    import torch

    meta = state.doc["participants"]
    if sorted(meta) != sorted(parts):
        raise ArtifactError(f"resume state holds participants {sorted(meta)}, the run has {sorted(parts)}")
    for pid, part in parts.items():
        m = meta[pid]
        opt_state = {
            int(idx): {key: torch.from_numpy(state.tensors[f"opt/{pid}/{idx}/{key}"].copy()) for key in keys}
            for idx, keys in m["slots"].items()
        }
        part.optimizer.load_state_dict({"state": opt_state, "param_groups": m["param_groups"]})
        part.sampler.rng.bit_generator.state = m["sampler"]


def save_state(
    run_dir: Path,
    *,
    command: str,
    round_index: int,
    config: Mapping[str, Any],
    config_hash: str,
    checkpoints: list[dict[str, Any]],
    series: Mapping[str, list[Any]],
    participants: Mapping[str, Any],
    outer: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Commit the state after round ``round_index`` (tensor file first, then ``state.json``)."""
    from safetensors.numpy import save as st_save

    tensors, meta = participants_state(participants)
    if outer is not None:
        for name, v in outer.velocity.items():
            tensors[f"outer/{name}"] = np.ascontiguousarray(v, dtype=np.float64)
    name = f"state-{round_index:04d}.safetensors"
    data = st_save(tensors) if tensors else st_save({"empty": np.zeros(0, dtype=np.float32)})
    directory = Path(run_dir) / RESUME_DIR
    atomic_write_bytes(directory / name, data)
    doc = {
        "kind": STATE_KIND,
        "version": STATE_VERSION,
        "command": command,
        "round_index": round_index,
        "config": dict(config),
        "config_hash": config_hash,
        "checkpoints": checkpoints,
        "series": {k: list(v) for k, v in series.items()},
        "participants": meta,
        "outer": None if outer is None else {"steps": int(outer.steps), "meta": dict(outer.meta)},
        "tensors": name,
        "tensors_sha256": hashlib.sha256(data).hexdigest(),
        **dict(extra or {}),
    }
    atomic_write_json(Path(run_dir) / RESUME_STATE, doc)
    for old in directory.glob("state-*.safetensors"):
        if old.name != name:
            with contextlib.suppress(OSError):
                old.unlink()


def load_state(run_dir: Path) -> ResumeState | None:
    """The committed state of a partial run (None when no round was committed yet)."""
    from safetensors.numpy import load as st_load

    path = Path(run_dir) / RESUME_STATE
    if not os.path.lexists(path):
        return None
    try:
        doc = load_json_file(path, max_bytes=_MAX_STATE_JSON, max_depth=16)
        if not isinstance(doc, dict) or doc.get("kind") != STATE_KIND or doc.get("version") != STATE_VERSION:
            raise ArtifactError(f"{path} is not a resume state of this trainer")
        name = doc["tensors"]
        if not isinstance(name, str) or "/" in name or not name.startswith("state-"):
            raise ArtifactError(f"{path} names a bad tensor file {name!r}")
        data = read_regular_file(path.parent / name, _MAX_STATE_TENSORS)
        if hashlib.sha256(data).hexdigest() != doc["tensors_sha256"]:
            raise ArtifactError(f"{path.parent / name} does not match the sha256 in state.json")
        tensors = {k: np.asarray(v) for k, v in st_load(data).items()}
        return ResumeState(int(doc["round_index"]), doc, tensors)
    except LensembleError as exc:
        raise ArtifactError(
            f"cannot resume from {run_dir}: {exc.message}",
            remediation=f"Delete {run_dir} and start the run again without --resume.",
        ) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(
            f"cannot resume from {run_dir}: malformed resume state ({type(exc).__name__}: {exc})",
            remediation=f"Delete {run_dir} and start the run again without --resume.",
        ) from exc


def prune(run_dir: Path, keep_files: set[str], keep_dirs: set[str]) -> None:
    """Delete everything under ``run_dir`` except the listed files and checkpoint directories
    (and ``resume/``): what a round after the last committed one left behind."""
    run_dir = Path(run_dir)
    for dirpath, dirnames, filenames in os.walk(run_dir):
        rel_dir = Path(dirpath).relative_to(run_dir).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        kept = []
        for d in dirnames:
            rel = f"{rel_dir}/{d}" if rel_dir else d
            full = Path(dirpath) / d
            if rel in keep_dirs or rel == RESUME_DIR:
                continue  # kept whole, not walked
            if not full.is_symlink() and any(k.startswith(rel + "/") for k in keep_dirs):
                kept.append(d)
            else:
                shutil.rmtree(full, ignore_errors=True) if not full.is_symlink() else full.unlink()
        dirnames[:] = kept
        for f in filenames:
            rel = f"{rel_dir}/{f}" if rel_dir else f
            if rel not in keep_files:
                with contextlib.suppress(OSError):
                    (Path(dirpath) / f).unlink()


__all__ = [
    "ResumeState",
    "check_out",
    "claim",
    "discard",
    "discard_on_error",
    "load_state",
    "partial_dir",
    "promote",
    "prune",
    "read_request",
    "reopen",
    "restore_participants",
    "save_state",
    "write_request",
]
