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

Where the files go (:class:`RunDirWriter`):

* **direct** (default): into ``run_dir`` itself, which must not exist or be an empty directory;
* **staged** (``staged=True``): into the sibling ``run_dir.partial``, claimed with one
  ``os.mkdir`` (of several concurrent writers exactly one wins; the others get a typed error
  before they write anything), and renamed to ``run_dir`` by :meth:`RunDirWriter.finish` once the
  manifest is written — a reader never sees a half-written run under the final name
  (:mod:`lensemble_spec.artifacts.staging`);
* **resumed** (``resume=True``, staged): the ``run_dir.partial`` a killed staged run left is
  reopened, and :meth:`RunDirWriter.rollback` brings it back to the state after the last round
  the trainer committed (its checkpoints and record lines; what a later round left is deleted).

A staged run's ``resume/`` directory is the trainer's own (its optimiser state and the like):
the writer never reads it, keeps it through a rollback and removes it before the rename.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ArtifactError
from ..schemas import RoundRecord, RunManifest, utc_now
from .atomic import atomic_write_bytes, atomic_write_json
from .canonical import canonical_json, config_hash
from .checkpoint import save_checkpoint
from .reading import read_regular_file
from .safe_json import DEFAULT_MAX_BYTES, loads_bounded
from .staging import PARTIAL_SUFFIX, claim, promote, prune, reopen

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
    """Writes one run directory (see the module docstring for direct, staged and resumed runs).

    ``config`` is the run's configuration as a JSON object (RFC-0010 §4: its canonical hash is
    the run's ``config_hash``, carried by every checkpoint header); ``producer`` the
    ``{"name", "version"}`` written into checkpoint headers.

    ``run_dir`` is where files are written now (``OUT.partial`` while a staged run is in
    progress, ``OUT`` after :meth:`finish`); ``final_dir`` where the complete run appears.
    Refuses (:class:`~lensemble_spec.errors.ArtifactError`, nothing written) a final directory
    that exists and is not empty; staged, also an existing ``OUT.partial`` (a run in progress or
    killed); resumed, a missing one.
    """

    def __init__(
        self,
        run_dir: str | Path,
        *,
        run_id: str,
        control: str,
        config: Mapping[str, Any],
        producer: Mapping[str, str],
        staged: bool = False,
        resume: bool = False,
    ) -> None:
        out = Path(run_dir)
        self.staged = bool(staged or resume)
        if resume:
            self.run_dir = reopen(out)
            self.final_dir = self.run_dir.parent / self.run_dir.name[: -len(PARTIAL_SUFFIX)]
        elif staged:
            self.run_dir = claim(out)
            self.final_dir = out
        else:
            if out.exists() and (not out.is_dir() or any(out.iterdir())):
                raise ArtifactError(
                    f"{out} exists and is not an empty directory",
                    remediation="Choose a new output directory; runs are written once and never overwritten.",
                )
            out.mkdir(parents=True, exist_ok=True)
            self.run_dir = self.final_dir = out
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

    def rollback(self, round_index: int | None, checkpoints: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
        """Back to the state a resumed run committed after round ``round_index``; return its records.

        ``checkpoints`` is the list :attr:`checkpoints` held after that round (the trainer saves
        it with its own resume state). Kept: those checkpoint directories, ``probe.safetensors``
        and the first ``round_index + 1`` lines of ``rounds.jsonl``, which must be the records of
        rounds ``0 … round_index`` (else :class:`~lensemble_spec.errors.ArtifactError`); the
        trainer's ``resume/`` directory. Everything else — what a later, uncommitted round left
        (checkpoints, record lines, temporaries) — is deleted. ``round_index=None`` means nothing
        was committed: everything but ``resume/`` is deleted and the run starts over.
        """
        if not self.staged:
            raise ArtifactError(
                f"{self.run_dir} is not a staged run: only a reopened OUT.partial is rolled back",
                remediation="Open the writer with resume=True on the killed run's output directory.",
            )
        if round_index is None:
            prune(self.run_dir, set(), set())
            self.records, self.checkpoints = [], []
            return []
        data = read_regular_file(self.run_dir / ROUNDS_FILE, DEFAULT_MAX_BYTES, label=ROUNDS_FILE)
        rows = [row for row in data.split(b"\n") if row.strip()][: round_index + 1]
        lines = [loads_bounded(row, source=f"{ROUNDS_FILE}:{i + 1}") for i, row in enumerate(rows)]
        if [rec.get("round_index") if isinstance(rec, dict) else None for rec in lines] != list(range(round_index + 1)):
            raise ArtifactError(
                f"{self.run_dir / ROUNDS_FILE} does not hold the records of rounds 0…{round_index} the resume state "
                "commits",
                remediation=f"Delete {self.run_dir} and start the run again.",
            )
        self.records = [RoundRecord.model_validate(rec).model_dump(mode="json") for rec in lines]
        self.checkpoints = [dict(c) for c in checkpoints]
        prune(self.run_dir, {ROUNDS_FILE, PROBE_FILE}, {c["path"] for c in self.checkpoints})
        atomic_write_bytes(self.run_dir / ROUNDS_FILE, b"".join(canonical_json(r) + b"\n" for r in self.records))
        return list(self.records)

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
        """Write ``manifest.json`` (validated as a RunManifest) and return the manifest; a staged
        run then appears under its final name (``resume/`` removed, ``OUT.partial`` renamed to
        ``OUT``; :attr:`run_dir` follows it).

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
        if self.staged:
            self.run_dir = promote(self.run_dir, self.final_dir)
        return manifest


__all__ = ["MANIFEST_FILE", "PROBE_FILE", "ROUNDS_FILE", "RunDirWriter", "checkpoint_path", "library_versions"]
