"""Closed-loop planning of the headline's runs (RFC-0005 §6.2), through the reference's model part.

:func:`plan_run` plans with a run directory's final model(s) — the committed global, or every
participant's model for local-only (sorted by participant, as the verifier reads them) — on the
held-out appearance of the world the run's manifest records. :func:`comparison_planning` adds the
baselines and returns the results table's ``planning`` object. Both use
``lensemble_spec.planning``: the numbers ``lensemble-spec verify`` recomputes are this computation.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lensemble_spec.artifacts.checkpoint import load_checkpoint
from lensemble_spec.planning import (
    Conditions,
    Outcome,
    evaluate_models,
    planning_record,
    rfc_conditions,
    style_from_dict,
)
from lensemble_spec.schemas import RunManifest, load_document

from .artifacts import MANIFEST_FILE
from .implementation import ReferenceModel

_MODEL = ReferenceModel()
METRIC = "mpc_success_rate"


def conditions(episodes: int | None = None) -> Conditions:
    """The RFC-0005 §8 conditions, optionally with another episode count (recorded as used)."""
    import dataclasses

    c = rfc_conditions()
    return c if episodes is None else dataclasses.replace(c, episodes=int(episodes))


def environment(world_spec: Mapping[str, Any]) -> tuple[Any, int]:
    """The held-out appearance and frame size of a recorded world spec (``WorldSpec.to_dict()``)."""
    return style_from_dict(world_spec["heldout"]["style"]), int(world_spec["image_size"])


def world_spec(cfg: Any) -> dict[str, Any]:
    """The recorded spec of the embedded world ``cfg`` trains on (as ``controls.world_splits`` builds it;
    no rendering)."""
    from lensemble_spec.worlds import make_spec

    return make_spec(cfg.world.seed, **cfg.world.keywords()).to_dict()


def plan_run(run_dir: Path, world_spec: Mapping[str, Any], c: Conditions) -> Outcome:
    """Plan with the run's final model(s) under ``c`` (module docstring)."""
    run_dir = Path(run_dir)
    manifest = load_document(RunManifest, run_dir / MANIFEST_FILE)
    last = max(ref.round_index for ref in manifest.checkpoints)
    entries = sorted(
        (ref for ref in manifest.checkpoints if ref.round_index == last), key=lambda ref: ref.participant or ""
    )
    paths = [ref.path for ref in entries if ref.participant is None] or [ref.path for ref in entries]
    style, size = environment(world_spec)
    return evaluate_models(_MODEL, [load_checkpoint(run_dir / p)[0] for p in paths], c, style, size)


def comparison_planning(
    outcomes: Mapping[str, Outcome], world_spec: Mapping[str, Any], c: Conditions
) -> dict[str, Any]:
    """The ``planning`` object of a comparison: the controls' outcomes and the three baselines."""
    style, size = environment(world_spec)
    return planning_record(c, style, size, dict(outcomes))


__all__ = ["METRIC", "comparison_planning", "conditions", "environment", "plan_run", "world_spec"]
