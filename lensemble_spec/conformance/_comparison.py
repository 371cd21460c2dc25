"""The harness's comparison directory: the four controls' runs plus the ``results.json`` of RFC-0005 §6.

At ``--level full`` the harness makes one run per control (RFC-0005 §2) from each source of runs
(the implementation's own ``run``, the primitives it drove itself) in one directory per source,
laid out as a comparison directory (``<control>/`` run directories). It then evaluates every
committed checkpoint on the harness world's held-out split through the implementation's
``encode``/``predict`` — with the verifier's own definitions
(:func:`lensemble_spec.verify.recompute.heldout_metrics`) — and writes the comparison's
``results.json``: final metrics, per-round series, the verdict that RFC-0005 §5 derives from
them, and the closed-loop planning record of RFC-0005 §6.2 (every control's final model planned
with in the held-out appearance, plus the baselines, under :data:`HARNESS_PLANNING`).
``lensemble_spec.verify.verify_run`` then checks the whole directory (EVAL-001…004 on the
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
from lensemble_spec.planning import Conditions, PlannerConfig, evaluate_models, planning_record
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


#: The harness's closed-loop planning budget (RFC-0005 §6.2; recorded in the table like any other):
#: small, because every comparison the suite checks is re-planned by the verifier (EVAL-021).
HARNESS_PLANNING = Conditions(episodes=4, steps=3, planner=PlannerConfig(horizon=2, samples=16, iterations=2, elites=4))


def harness_environment(image_size: int) -> tuple[Any, int]:
    """The harness world's held-out appearance and the frame size the model takes."""
    from lensemble_spec.worlds import HARNESS_SIZES, make_spec

    from ._world import WORLD_SEED

    return make_spec(WORLD_SEED, **dict(HARNESS_SIZES, image_size=int(image_size))).heldout.style, int(image_size)


def _planning(comparison: Path, model: Any, rows: list[ControlResult]) -> tuple[list[ControlResult], dict[str, Any]]:
    """Plan with every control's final model(s) under :data:`HARNESS_PLANNING`; add ``mpc_success_rate``."""
    style, size = harness_environment(int(model.obs_shape[-1]))
    outcomes = {}
    for row in rows:
        manifest = load_document(RunManifest, comparison / row.control / "manifest.json")
        last = max(c.round_index for c in manifest.checkpoints)
        entries = sorted((c for c in manifest.checkpoints if c.round_index == last), key=lambda c: c.participant or "")
        paths = [c.path for c in entries if c.participant is None] or [c.path for c in entries]
        params = [load_checkpoint(comparison / row.control / p)[0] for p in paths]
        outcomes[row.control] = evaluate_models(model, params, HARNESS_PLANNING, style, size)
    record = planning_record(HARNESS_PLANNING, style, size, outcomes)
    rows = [
        r.model_copy(update={"metrics": {**r.metrics, "mpc_success_rate": record["outcomes"][r.control]["rate"]}})
        for r in rows
    ]
    return rows, record


def write_results(
    comparison: Path, model: Any, heldout: Path, *, split_name: str, seed: int, planning: bool = True
) -> ResultsTable:
    """Evaluate each control's run under ``comparison`` and write its ``results.json`` (with the
    closed-loop planning record unless ``planning`` is false)."""
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
    record = None
    if planning and rows:
        rows, record = _planning(comparison, model, rows)
    table = ResultsTable(
        title="lensemble-spec harness comparison", split=split_name, seeds=[int(seed)], controls=rows, planning=record
    )
    atomic_write_bytes(
        comparison / RESULTS_FILE, (json.dumps(table.model_dump(mode="json"), indent=1, sort_keys=True) + "\n").encode()
    )
    return table


__all__ = ["HARNESS_PLANNING", "RESULTS_FILE", "harness_environment", "heldout_file", "write_results"]
