"""Resumable training state of the reference trainer.

**Atomic.** A run for ``--out OUT`` is written into the sibling ``OUT.partial`` and renamed to
``OUT`` only once its manifest is written: the library's staged
:class:`~lensemble_spec.artifacts.rundir.RunDirWriter` (:mod:`lensemble_spec.artifacts.staging`:
one ``os.mkdir`` claims it, exactly one of several concurrent writers wins). A run that fails
with an exception is deleted (nothing half-written stays); a run that is killed (SIGKILL, Ctrl-C)
keeps its ``OUT.partial`` so it can be resumed, and ``lensemble-spec verify OUT.partial`` says so.

**Resumable.** After every committed round ``t`` the writer saves, inside ``OUT.partial/resume/``,
everything the next round needs that the run directory does not already hold:

* ``state-XXXX.safetensors`` — the outer optimiser's float64 velocity (``outer/<param>``) and every
  participant's AdamW moments and step counts (``opt/<participant>/<index>/<key>``);
* ``state.json`` — the round ``t``, the resolved config and its hash, the checkpoint list, the
  run-side diagnostic series, the outer step count, every participant's sampler generator state
  (the data order) and AdamW hyper-parameters, and the sha256 of the tensor file it goes with.

``state.json`` is replaced atomically *after* its tensor file is complete, so a kill at any
instant leaves a consistent state of the last committed round. The model weights themselves are
the committed checkpoints. Resuming (:func:`load_state`, then the writer's ``rollback``) deletes
whatever a later, uncommitted round left (checkpoints, record lines, temporaries) and continues
from round ``t + 1``; every content hash then equals the uninterrupted run's. Before a run is
promoted ``resume/`` is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.artifacts import atomic_write_bytes, atomic_write_json
from lensemble_spec.artifacts.reading import read_regular_file
from lensemble_spec.artifacts.safe_json import load_json_file
from lensemble_spec.errors import ArtifactError, LensembleError
from lensemble_spec.verify.files import RESUME_DIR, RESUME_STATE

STATE_KIND = "lensemble_reference/resume-state"
STATE_VERSION = 1
_MAX_STATE_JSON = 64 * 1024 * 1024
_MAX_STATE_TENSORS = 8 * 1024**3


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


__all__ = [
    "ResumeState",
    "load_state",
    "read_request",
    "restore_participants",
    "save_state",
    "write_request",
]
