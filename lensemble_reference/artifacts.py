"""Run-directory writer: checkpoints, round records, probe file and manifest (RFC-0010 §5).

Layout of ``RUN_DIR``::

    manifest.json                  RunManifest (config + hash, seeds, versions, probe hash, split)
    rounds.jsonl                   one RoundRecord per round 0 … R, in order
    probe.safetensors              probe ``points`` (k, C, H, W) + round-0 ``targets`` (k, d)
    checkpoints/round-XXXX/        committed global of round XXXX (weights.safetensors + header.json)
    checkpoints/<silo>/round-XXXX/ a participant's own model (local-only control)

and nothing else (RFC-0010 §5, ART-015): a comparison's ``results.json`` lives one level up,
beside the per-control run directories (:mod:`lensemble_reference.headline`).

The writing itself is the library's :class:`~lensemble_spec.artifacts.rundir.RunDirWriter`
(staged into ``OUT.partial``, every file atomic, every document validated); this module adds the
trainer's producer, versions and git sha, the residency check on every checkpoint, and the probe
reader.
"""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as st_load

import lensemble_spec
from lensemble_spec.artifacts.rundir import MANIFEST_FILE, PROBE_FILE, RunDirWriter
from lensemble_spec.errors import ArtifactError

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


def load_probe(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    path = Path(run_dir) / PROBE_FILE
    try:
        tensors = st_load(path.read_bytes())
    except FileNotFoundError as exc:
        raise ArtifactError(
            f"{path} does not exist", remediation="Point at a run directory written by `lensemble-spec train`."
        ) from exc
    return tensors["points"], tensors["targets"]


class RunWriter(RunDirWriter):
    """The library's :class:`~lensemble_spec.artifacts.rundir.RunDirWriter`, staged (``OUT.partial``,
    claimed with one ``os.mkdir``, renamed by ``finish``; ``resume=True`` reopens a killed run's
    partial directory), with this trainer as producer and every checkpoint checked for residency
    (:func:`lensemble_reference.outer.check_releasable`) before it is written."""

    def __init__(
        self, run_dir: Path, *, run_id: str, control: str, config: Mapping[str, Any], resume: bool = False
    ) -> None:
        super().__init__(
            run_dir, run_id=run_id, control=control, config=config, producer=PRODUCER, staged=True, resume=resume
        )

    def commit(
        self,
        params: Mapping[str, Any],
        *,
        round_index: int,
        parent_hash: str | None,
        participant: str | None = None,
    ) -> str:
        check_releasable(params, who="checkpoint")
        return super().commit(params, round_index=round_index, parent_hash=parent_hash, participant=participant)


__all__ = ["MANIFEST_FILE", "PRODUCER", "RunWriter", "git_sha", "load_probe", "versions"]
