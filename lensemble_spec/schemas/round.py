"""``RoundRecord``: one federation round, one line of a run's ``rounds.jsonl``.

Metric definitions are those of :mod:`lensemble_spec.metrics`; every metric is optional (None
= not measured that round) and finite when present. Angles are non-negative degrees (not capped at 180°); a drift
that could not be measured because a frame was degenerate is recorded as ``None`` with
``drift_degenerate=True``, never as 0.
"""

from __future__ import annotations

from itertools import pairwise
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ._base import StrictModel, VersionedDocument
from ._types import Control, Degrees, FiniteFloat, Hash64, Name, NonNegFloat, NonNegInt, StrictBool


class RoundMetrics(StrictModel):
    """Per-round metrics of the round's model(s), computed on the public probe (RFC-0005 §4.1)."""

    RFC_RULES: ClassVar[tuple[str, ...]] = (
        "`drift_pairwise_mean_deg` ≤ `drift_pairwise_max_deg` when both are numbers.",
        "A metric that was not measured, or evaluated to a non-finite value, is null (RFC-0005 EVAL-012).",
    )

    effective_rank: NonNegFloat | None = Field(default=None, description="RankMe of the probe embedding (RFC-0002 §7).")
    effective_dim: NonNegFloat | None = Field(
        default=None, description="Participation ratio of the probe embedding (RFC-0002 §7)."
    )
    latent_std_mean: NonNegFloat | None = Field(
        default=None, description="Mean population std per latent dimension (RFC-0002 §7)."
    )
    latent_rms: NonNegFloat | None = Field(
        default=None, description="Uncentred RMS of the probe embedding (RFC-0002 §7)."
    )
    val_pred: NonNegFloat | None = Field(
        default=None, description="Held-out only: null in records a run writes (RFC-0005 §4)."
    )
    val_pred_identity: NonNegFloat | None = Field(
        default=None, description="Held-out only: null in records a run writes."
    )
    skill_vs_identity: NonNegFloat | None = Field(
        default=None, description="Held-out only: null in records a run writes."
    )
    state_probe_r2: FiniteFloat | None = Field(
        default=None, le=1.0, description="Held-out only: null in records a run writes."
    )
    sigreg: FiniteFloat | None = Field(
        default=None, description="The implementation's own training figure (not recomputed)."
    )
    drift_to_reference_deg: Degrees | None = Field(
        default=None,
        description="Drift of the round's global to the round-0 targets (RFC-0002 §6); null when degenerate.",
    )
    drift_pairwise_mean_deg: Degrees | None = Field(
        default=None, description="Mean drift over participant pairs (RFC-0002 §6)."
    )
    drift_pairwise_max_deg: Degrees | None = Field(default=None, description="Largest drift over participant pairs.")
    drift_degenerate: StrictBool = Field(
        default=False, description="True when any drift of the round was degenerate (RFC-0002 §6)."
    )
    train_loss: FiniteFloat | None = Field(
        default=None, description="The implementation's own training figure (not recomputed)."
    )

    @model_validator(mode="after")
    def _mean_not_above_max(self) -> RoundMetrics:
        mean, top = self.drift_pairwise_mean_deg, self.drift_pairwise_max_deg
        if mean is not None and top is not None and mean > top:
            raise ValueError("drift_pairwise_mean_deg exceeds drift_pairwise_max_deg")
        return self


class RoundRecord(VersionedDocument):
    """One round of one run (schema_version 1).

    ``participants`` are the silos whose updates were committed, sorted and unique;
    ``global_hash`` is the content hash of the committed global checkpoint (None when the
    control has no global, e.g. local-only); ``parent_hash`` that of the previous global;
    ``backstop_fired[p]`` says whether the Procrustes backstop realigned participant ``p``.
    """

    RFC_RULES: ClassVar[tuple[str, ...]] = (
        "`participants` is sorted (by code point) with no repeats.",
        "Every key of `backstop_fired` is one of `participants`.",
        "The metrics sit in the nested `metrics` object (`metrics.drift_to_reference_deg`, …), never at the top level.",
    )

    schema_version: Literal[1] = Field(default=1, description="Document layout version.")
    run_id: Name = Field(description="The manifest's `run_id`.")
    control: Control = Field(description="The run's control.")
    round_index: NonNegInt = Field(description="Round `t`; record 0 describes the initial global.")
    participants: list[Name] = Field(description="Silos whose updates were committed this round (`[]` in round 0).")
    global_hash: Hash64 | None = Field(
        description="`content_hash` of the round's committed global checkpoint; null when the control has no global."
    )
    parent_hash: Hash64 | None = Field(description="`global_hash` of the previous record; null in round 0.")
    metrics: RoundMetrics = Field(description="The round's metrics.")
    backstop_fired: dict[Name, StrictBool] = Field(
        default_factory=dict, description="Per participant: whether the Procrustes backstop realigned its update."
    )
    wall_time_s: NonNegFloat = Field(description="Wall-clock seconds the round took (informative, never compared).")

    @field_validator("participants")
    @classmethod
    def _sorted_unique(cls, value: list[str]) -> list[str]:
        if any(a >= b for a, b in pairwise(value)):
            raise ValueError("participants must be sorted and unique")
        return value

    @model_validator(mode="after")
    def _backstop_keys_are_participants(self) -> RoundRecord:
        unknown = sorted(set(self.backstop_fired) - set(self.participants))
        if unknown:
            raise ValueError(f"backstop_fired names non-participants: {', '.join(unknown)}")
        return self
