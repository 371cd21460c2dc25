"""The harness's comparison directory: the four controls' runs plus the ``results.json`` of RFC-0005 §6.

At ``--level full`` the harness makes one run per control (RFC-0005 §2) from each source of runs
(the implementation's own ``run``, the primitives it drove itself) in one directory per source,
laid out as a comparison directory (``<control>/`` run directories). It then evaluates every
committed checkpoint on the harness world's held-out split through the implementation's
``encode``/``predict`` — with the verifier's own definitions
(:func:`lensemble_spec.verify.recompute.heldout_metrics`) — and writes the comparison's
``results.json``: final metrics, per-round series and the verdict that RFC-0005 §5 derives from
them. ``lensemble_spec.verify.verify_run`` then checks the whole directory (EVAL-001…004 on the
controls, EVAL-009…017 on the table), exactly as for a comparison given with ``--run``.

The held-out split never enters a run directory (RFC-0005 §3): it is written beside the comparison
(:func:`heldout_file`) and handed to the verifier explicitly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.artifacts import atomic_write_bytes
from lensemble_spec.artifacts.checkpoint import load_checkpoint
from lensemble_spec.protocol import CONTROLS, Silo
from lensemble_spec.schemas import (
    ControlResult,
    ResultsTable,
    RunManifest,
    load_document,
)
from lensemble_spec.verify.heldout import HeldoutSplit
from lensemble_spec.verify.recompute import HELDOUT_KEYS, combine, heldout_metrics
from lensemble_spec.verify.results import REQUIRED_SERIES, expected_verdict

RESULTS_FILE = "results.json"


def heldout_file(split: Silo, path: Path) -> Path:
    """Write the held-out split as ``obs``/``actions``/``states`` safetensors (once) and return it."""
    from safetensors.numpy import save

    if not path.exists():
        atomic_write_bytes(path, save({
            "obs": np.ascontiguousarray(split.obs, dtype=np.float32),
            "actions": np.ascontiguousarray(split.actions, dtype=np.float32),
            "states": np.ascontiguousarray(split.states, dtype=np.float32),
        }))  # fmt: skip
    return path


def _per_round(run_dir: Path, model: Any, split: HeldoutSplit) -> list[dict[str, Any]]:
    from safetensors.numpy import load

    manifest = load_document(RunManifest, run_dir / "manifest.json")
    probe = load((run_dir / "probe.safetensors").read_bytes())
    by_round: dict[int, list[str]] = {}
    for ref in manifest.checkpoints:
        by_round.setdefault(ref.round_index, []).append(ref.path)
    rows = []
    for r in sorted(by_round):
        entries = [c for c in manifest.checkpoints if c.round_index == r]
        paths = [c.path for c in entries if c.participant is None] or [c.path for c in entries]
        per = [
            heldout_metrics(
                model, load_checkpoint(run_dir / p)[0], split, points=probe["points"], targets=probe["targets"]
            )
            for p in paths
        ]
        rows.append(combine(per))
    return rows


def write_results(comparison: Path, model: Any, heldout: Path, *, split_name: str, seed: int) -> ResultsTable:
    """Evaluate each control's run under ``comparison`` and write its ``results.json``."""
    from lensemble_spec.verify.heldout import from_file

    split = from_file(heldout)
    rows = []
    for control in CONTROLS:
        run_dir = comparison / control
        if not (run_dir / "manifest.json").is_file():
            continue
        per_round = _per_round(run_dir, model, split)
        metrics: dict[str, Any] = {k: per_round[-1].get(k) for k in HELDOUT_KEYS}
        metrics["latent_dim"] = float(model.latent_dim)
        series = {k: [row.get(k) for row in per_round] for k in sorted({*REQUIRED_SERIES, *HELDOUT_KEYS})}
        row = ControlResult(control=control, metrics=metrics, series=series, verdict="pending")
        rows.append(row.model_copy(update={"verdict": expected_verdict(row)}))
    table = ResultsTable(title="lensemble-spec harness comparison", split=split_name, seeds=[int(seed)], controls=rows)
    atomic_write_bytes(
        comparison / RESULTS_FILE, (json.dumps(table.model_dump(mode="json"), indent=1, sort_keys=True) + "\n").encode()
    )
    return table


__all__ = ["RESULTS_FILE", "heldout_file", "write_results"]
