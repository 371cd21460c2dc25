"""Write an RFC-0010 §5 run directory: checkpoints, round records, probe file, manifest.

Layout (and nothing else, ART-015)::

    manifest.json                   RunManifest (written last, by :meth:`RunDirWriter.finish`)
    rounds.jsonl                    one RoundRecord per line, rounds 0 … R in order
    probe.safetensors               ``points`` (k, C, H, W) and the round-0 ``targets`` (k, d)
    checkpoints/round-XXXX/         the committed global of round XXXX
    checkpoints/<participant>/round-XXXX/   a participant's own model (local-only control)

Every document is validated against its schema before it is written, and written atomically
(a temporary sibling, then a rename), so a crash leaves complete files only. The writer knows
nothing about how the run was trained: the conformance harness uses it for the runs it drives
through an implementation's primitives, and any trainer may use it for its own.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ArtifactError
from ..schemas import RoundRecord, RunManifest, utc_now
from .atomic import atomic_write_bytes, atomic_write_json
from .canonical import canonical_json, config_hash
from .checkpoint import save_checkpoint

MANIFEST_FILE = "manifest.json"
ROUNDS_FILE = "rounds.jsonl"
PROBE_FILE = "probe.safetensors"


def checkpoint_path(round_index: int, participant: str | None = None) -> str:
    """``checkpoints/round-XXXX`` (global) or ``checkpoints/<participant>/round-XXXX``."""
    if participant:
        return f"checkpoints/{participant}/round-{round_index:04d}"
    return f"checkpoints/round-{round_index:04d}"


def library_versions() -> dict[str, str]:
    return {"lensemble-spec": __version__, "python": platform.python_version(), "numpy": np.__version__}


class RunDirWriter:
    """Writes one run directory. Refuses a directory that exists and is not empty.

    ``config`` is the run's configuration as a JSON object (RFC-0010 §4: its canonical hash is
    the run's ``config_hash``, carried by every checkpoint header); ``producer`` the
    ``{"name", "version"}`` written into checkpoint headers.
    """

    def __init__(
        self, run_dir: str | Path, *, run_id: str, control: str, config: Mapping[str, Any], producer: Mapping[str, str]
    ) -> None:
        self.run_dir = Path(run_dir)
        if self.run_dir.exists() and (not self.run_dir.is_dir() or any(self.run_dir.iterdir())):
            raise ArtifactError(
                f"{self.run_dir} exists and is not an empty directory",
                remediation="Choose a new output directory; runs are written once and never overwritten.",
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self.control = control
        self.config = dict(config)
        self.config_hash = config_hash(self.config)
        self.producer = dict(producer)
        self.records: list[dict[str, Any]] = []
        self.checkpoints: list[dict[str, Any]] = []

    def write_probe(self, points: Any, targets: Any) -> None:
        from safetensors.numpy import save

        data = save({
            "points": np.ascontiguousarray(np.asarray(points), dtype=np.float32),
            "targets": np.ascontiguousarray(np.asarray(targets), dtype=np.float32),
        })
        atomic_write_bytes(self.run_dir / PROBE_FILE, data)

    def commit(
        self, params: Mapping[str, Any], *, round_index: int, parent_hash: str | None, participant: str | None = None
    ) -> str:
        """Write a checkpoint and list it in the manifest-to-be; return its content hash."""
        rel = checkpoint_path(round_index, participant)
        header = save_checkpoint(
            params,
            self.run_dir / rel,
            round_index=round_index,
            parent_hash=parent_hash,
            config_hash=self.config_hash,
            producer=self.producer,
        )
        self.checkpoints.append(
            {"round_index": round_index, "path": rel, "content_hash": header.content_hash, "participant": participant}
        )
        return header.content_hash

    def append_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``record`` as a RoundRecord and rewrite ``rounds.jsonl`` with it appended."""
        doc = RoundRecord.model_validate(dict(record)).model_dump(mode="json")
        self.records.append(doc)
        atomic_write_bytes(self.run_dir / ROUNDS_FILE, b"".join(canonical_json(r) + b"\n" for r in self.records))
        return doc

    def finish(
        self,
        *,
        root_seed: int,
        round_sketch_seeds: list[int],
        probe_hash: str,
        data_roots: list[str],
        split_policy: Mapping[str, Any],
        versions: Mapping[str, str] | None = None,
        git_sha: str = "unknown",
    ) -> Any:
        """Write ``manifest.json`` (validated as a RunManifest) and return the manifest.

        ``data_roots``, ``round_sketch_seeds`` and ``split_policy`` must be non-empty (ART-016):
        an empty one raises :class:`~lensemble_spec.errors.ArtifactError` before anything is written.
        """
        empty = [name for name, value in (("data_roots", data_roots), ("round_sketch_seeds", round_sketch_seeds),
                                          ("split_policy", split_policy)) if not value]  # fmt: skip
        if empty:
            raise ArtifactError(
                f"run manifest field(s) {', '.join(empty)} empty: RFC-0010 ART-016 requires them",
                remediation="name the data roots, the derived sketch seeds and the split rule the run used",
            )

        ordered = sorted(self.checkpoints, key=lambda c: (c["round_index"], c["participant"] or ""))
        manifest = RunManifest.model_validate({
            "run_id": self.run_id,
            "control": self.control,
            "config": self.config,
            "config_hash": self.config_hash,
            "root_seed": root_seed,
            "round_sketch_seeds": list(round_sketch_seeds),
            "probe_hash": probe_hash,
            "data_roots": list(data_roots),
            "split_policy": dict(split_policy),
            "git_sha": git_sha,
            "versions": dict(versions or library_versions()),
            "created_at": utc_now(),
            "checkpoints": ordered,
        })
        atomic_write_json(self.run_dir / MANIFEST_FILE, manifest.model_dump(mode="json"))
        return manifest


__all__ = ["MANIFEST_FILE", "PROBE_FILE", "ROUNDS_FILE", "RunDirWriter", "checkpoint_path", "library_versions"]
