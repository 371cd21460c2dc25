"""Round records and the run's result: the metrics a round records (RFC-0005 §4.1), the manifest, the RunResult."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lensemble_spec.errors import LensembleError
from lensemble_spec.metrics import frame_drift, round_sketch_seed
from lensemble_spec.protocol import FrameAnchor, RunResult
from lensemble_spec.verify.recompute import collapse_metrics, finite_or_none

from .artifacts import git_sha, versions
from .backstop import encode_numpy

if TYPE_CHECKING:
    from .federation import RunInputs, Setup


@dataclass
class ReferenceRunResult(RunResult):
    """A RunResult plus the run's own per-round diagnostics (train losses, raw pre-backstop drift …)."""

    series: dict[str, list[Any]] = field(default_factory=dict)


# --- round-record metrics (RFC-0005 §4.1) ---------------------------------------------------------
def drift_summary(embeddings: Mapping[str, np.ndarray], reference: np.ndarray | None) -> dict[str, Any]:
    """Pairwise and to-reference drift over probe embeddings (None + degenerate flag when undefined).

    Returns ``pairwise_mean``, ``pairwise_max`` (None below two models), ``to_reference`` per model
    (None when degenerate) and ``degenerate``.
    """
    try:
        result = frame_drift(dict(embeddings), reference=reference)
    except LensembleError:
        return {
            "pairwise_mean": None,
            "pairwise_max": None,
            "to_reference": {k: None for k in embeddings},
            "degenerate": True,
        }
    to_ref = {k: (None if e.degenerate else finite_or_none(e.angle_deg)) for k, e in result.to_reference.items()}
    many = len(embeddings) >= 2
    return {
        "pairwise_mean": finite_or_none(result.pairwise_mean_deg) if many else None,
        "pairwise_max": finite_or_none(result.pairwise_max_deg) if many else None,
        "to_reference": to_ref,
        "degenerate": bool(result.degenerate),
    }


def global_metrics(setup: Setup, params: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Probe collapse metrics + drift to the reference of one (global) model."""
    z = encode_numpy(setup.cfg.model, params, setup.inputs.probe_points)
    out: dict[str, Any] = collapse_metrics(z)
    drift = drift_summary({"global": z}, setup.reference)
    out["drift_to_reference_deg"] = drift["to_reference"]["global"]
    out["drift_degenerate"] = drift["degenerate"]
    return out


#: Keys of RoundMetrics a run writes (held-out keys are deliberately absent: EVAL-008).
RECORD_KEYS = (
    "effective_rank",
    "effective_dim",
    "latent_std_mean",
    "latent_rms",
    "sigreg",
    "drift_to_reference_deg",
    "drift_pairwise_mean_deg",
    "drift_pairwise_max_deg",
    "train_loss",
)


def record_round(
    setup: Setup,
    *,
    round_index: int,
    participants: list[str],
    global_hash: str | None,
    parent_hash: str | None,
    metrics: Mapping[str, Any],
    backstop_fired: Mapping[str, bool] | None = None,
) -> dict[str, Any]:
    round_metrics: dict[str, Any] = {k: metrics[k] for k in RECORD_KEYS if metrics.get(k) is not None}
    round_metrics["drift_degenerate"] = bool(metrics.get("drift_degenerate", False))
    for key, value in metrics.items():  # everything measured, record keys included, as series
        if key != "drift_degenerate" and (value is None or isinstance(value, (int, float))):
            setup.add_series(key, round_index, None if value is None else float(value))
    doc = setup.writer.append_record(
        {
            "run_id": setup.writer.run_id,
            "control": setup.cfg.control,
            "round_index": round_index,
            "participants": sorted(participants),
            "global_hash": global_hash,
            "parent_hash": parent_hash,
            "metrics": round_metrics,
            "backstop_fired": dict(backstop_fired or {}),
            "wall_time_s": round(time.perf_counter() - setup.started, 3),
        }
    )
    setup.records.append(doc)
    return doc


def record_initial_global(setup: Setup) -> str:
    """Commit ``θ_0`` as the round-0 checkpoint (parent None), record round 0, return its content hash."""
    theta = setup.theta0
    content_hash = setup.writer.commit(theta, round_index=0, parent_hash=None)
    record_round(
        setup,
        round_index=0,
        participants=[],
        global_hash=content_hash,
        parent_hash=None,
        metrics=global_metrics(setup, theta),
    )
    return content_hash


def finish(
    setup: Setup,
    *,
    final_params: Mapping[str, Any] | None,
    participant_params: Mapping[str, Any] | None = None,
) -> RunResult:
    """Write the manifest and return the RunResult (``anchor`` None when ``lambda_anchor`` is 0)."""
    cfg = setup.cfg
    setup.writer.finish(  # the complete run appears under its final name only now
        root_seed=cfg.seed,
        round_sketch_seeds=[round_sketch_seed(cfg.seed, r) for r in range(cfg.rounds + 1)],
        probe_hash=setup.inputs.probe_hash,
        data_roots=list(setup.inputs.data_roots),
        split_policy=split_policy(setup.inputs),
        versions=versions(),
        git_sha=git_sha(),
    )
    setup.progress.close()
    anchor = None
    if cfg.lambda_anchor > 0:
        anchor = FrameAnchor(
            points=setup.inputs.probe_points,
            targets=setup.reference,
            weight=cfg.lambda_anchor,
            variant=cfg.anchor_variant,
        )
    return ReferenceRunResult(
        records=list(setup.records),
        final_params=final_params,
        run_dir=setup.writer.run_dir,
        participant_params=dict(participant_params or {}),
        anchor=anchor,
        series={k: list(v) for k, v in setup.series.items()},
    )


def split_policy(inputs: RunInputs) -> dict[str, Any]:
    """What the manifest records about data splits (identical for every control of a comparison)."""
    return {
        "world": inputs.world,
        "training_silos": sorted(inputs.silos),
        "evaluation": "held-out split only, never seen by training (RFC-0005 §3)",
        "state_probe": "first floor(E/2) held-out episodes fit, the remaining episodes score",
    }
