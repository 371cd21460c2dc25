"""Run-directory writer: checkpoints, round records, probe file and manifest (RFC-0010 §5).

Layout of ``RUN_DIR``::

    manifest.json                  RunManifest (config + hash, seeds, versions, probe hash, split)
    rounds.jsonl                   one RoundRecord per round 0 … R, in order
    probe.safetensors              probe ``points`` (k, C, H, W) + round-0 ``targets`` (k, d)
    checkpoints/round-XXXX/        committed global of round XXXX (weights.safetensors + header.json)
    checkpoints/<silo>/round-XXXX/ a participant's own model (local-only control)

and nothing else (RFC-0010 §5, ART-015): a comparison's ``results.json`` lives one level up,
beside the per-control run directories (:mod:`lensemble_reference.headline`).

Everything goes through ``lensemble_spec.artifacts`` / ``lensemble_spec.schemas`` (hashing,
validation) and is written atomically: each file via a temp sibling + ``os.replace``, each
checkpoint directory via a temp directory + rename. ``rounds.jsonl`` is rewritten whole (atomic)
on every append, so a crash leaves either the old or the new list of complete lines.
"""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

import lensemble_spec
from lensemble_spec.artifacts import atomic_write_bytes, atomic_write_json, config_hash
from lensemble_spec.artifacts.checkpoint import save_checkpoint
from lensemble_spec.artifacts.rundir import MANIFEST_FILE, PROBE_FILE, ROUNDS_FILE
from lensemble_spec.artifacts.rundir import checkpoint_path as checkpoint_dir
from lensemble_spec.errors import ArtifactError
from lensemble_spec.schemas import RoundRecord, RunManifest, utc_now

from . import __version__ as REFERENCE_VERSION
from .outer import check_releasable

PRODUCER = {"name": "lensemble-spec/lensemble_reference", "version": REFERENCE_VERSION}


def git_sha() -> str:
    """``<sha>``, ``<sha>-dirty`` or ``unknown`` for the checkout this package runs from."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if len(sha) != 40:
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def versions() -> dict[str, str]:
    import safetensors
    import torch

    return {
        "lensemble-spec": lensemble_spec.__version__,
        "lensemble_reference": REFERENCE_VERSION,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
    }


def save_probe(run_dir: Path, points: np.ndarray, targets: np.ndarray) -> Path:
    """``probe.safetensors`` with ``points`` and the round-0 ``targets`` (float32), atomically."""
    data = st_save(
        {
            "points": np.ascontiguousarray(points, dtype=np.float32),
            "targets": np.ascontiguousarray(targets, dtype=np.float32),
        }
    )
    return atomic_write_bytes(run_dir / PROBE_FILE, data)


def load_probe(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    path = Path(run_dir) / PROBE_FILE
    try:
        tensors = st_load(path.read_bytes())
    except FileNotFoundError as exc:
        raise ArtifactError(
            f"{path} does not exist", remediation="Point at a run directory written by `lensemble-spec train`."
        ) from exc
    return tensors["points"], tensors["targets"]


class RunWriter:
    """Writes one run directory (see module docstring) atomically: into ``<run_dir>.partial``
    (claimed with one ``os.mkdir``; :mod:`lensemble_reference.resume`), renamed to ``run_dir`` by
    :meth:`finalize` once the manifest is written. ``resume=True`` reopens the partial directory
    of a killed run instead. Refuses a non-empty existing ``run_dir``."""

    def __init__(
        self, run_dir: Path, *, run_id: str, control: str, config: Mapping[str, Any], resume: bool = False
    ) -> None:
        from .resume import claim, reopen

        self.final_dir = Path(run_dir)
        self.run_dir = reopen(self.final_dir) if resume else claim(self.final_dir)
        if resume and self.final_dir.name.endswith(".partial"):
            self.final_dir = self.run_dir.parent / self.run_dir.name[: -len(".partial")]
        self.run_id = run_id
        self.control = control
        self.config = dict(config)
        self.config_hash = config_hash(self.config)
        self.records: list[dict[str, Any]] = []
        self.checkpoints: list[dict[str, Any]] = []

    def commit(
        self,
        params: Mapping[str, np.ndarray],
        *,
        round_index: int,
        parent_hash: str | None,
        participant: str | None = None,
    ) -> str:
        rel = checkpoint_dir(round_index, participant)
        check_releasable(params, who="checkpoint")
        header = save_checkpoint(
            params,
            self.run_dir / rel,
            round_index=round_index,
            parent_hash=parent_hash,
            config_hash=self.config_hash,
            producer=PRODUCER,
        )
        self.checkpoints.append(
            {"round_index": round_index, "path": rel, "content_hash": header.content_hash, "participant": participant}
        )
        return header.content_hash

    def append_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        doc = RoundRecord.model_validate(dict(record)).model_dump(mode="json")
        self.records.append(doc)
        from lensemble_spec.artifacts import canonical_json

        text = b"".join(canonical_json(r) + b"\n" for r in self.records)
        atomic_write_bytes(self.run_dir / ROUNDS_FILE, text)
        return doc

    def restore(self, state: Any) -> list[dict[str, Any]]:
        """Back to the state committed after round ``t`` of a killed run: its checkpoints and its
        first ``t + 1`` record lines; whatever a later round left is deleted. Returns the records."""
        from lensemble_spec.artifacts import canonical_json
        from lensemble_spec.verify.files import read_jsonl

        from .resume import prune

        t = state.round_index
        self.checkpoints = state.checkpoints
        lines = read_jsonl(self.run_dir, ROUNDS_FILE)[: t + 1]
        if [rec.get("round_index") if isinstance(rec, dict) else None for rec in lines] != list(range(t + 1)):
            raise ArtifactError(
                f"{self.run_dir / ROUNDS_FILE} does not hold the records of rounds 0…{t} the resume state commits"
            )
        self.records = [RoundRecord.model_validate(rec).model_dump(mode="json") for rec in lines]
        prune(self.run_dir, {ROUNDS_FILE, PROBE_FILE}, {c["path"] for c in self.checkpoints})
        atomic_write_bytes(self.run_dir / ROUNDS_FILE, b"".join(canonical_json(r) + b"\n" for r in self.records))
        return list(self.records)

    def finalize(self) -> Path:
        """Make the complete run appear at its final path (see :func:`lensemble_reference.resume.promote`)."""
        from .resume import promote

        self.run_dir = promote(self.run_dir, self.final_dir)
        return self.run_dir

    def write_manifest(
        self,
        *,
        root_seed: int,
        round_sketch_seeds: list[int],
        probe_hash: str,
        data_roots: list[str],
        split_policy: Mapping[str, Any] | None,
    ) -> RunManifest:
        ordered = sorted(self.checkpoints, key=lambda c: (c["round_index"], c["participant"] or ""))
        manifest = RunManifest.model_validate(
            {
                "run_id": self.run_id,
                "control": self.control,
                "config": self.config,
                "config_hash": self.config_hash,
                "root_seed": root_seed,
                "round_sketch_seeds": round_sketch_seeds,
                "probe_hash": probe_hash,
                "data_roots": data_roots,
                "split_policy": dict(split_policy) if split_policy is not None else None,
                "git_sha": git_sha(),
                "versions": versions(),
                "created_at": utc_now(),
                "checkpoints": ordered,
            }
        )
        atomic_write_json(self.run_dir / MANIFEST_FILE, manifest.model_dump(mode="json"))
        return manifest
