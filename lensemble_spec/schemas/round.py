"""``RoundRecord``: one federation round, one line of a run's ``rounds.jsonl``.

Metric definitions are those of :mod:`lensemble_spec.metrics`; every metric is optional (None
= not measured that round) and finite when present. Angles are non-negative degrees (not capped at 180°); a drift
that could not be measured because a frame was degenerate is recorded as ``None`` with
``drift_degenerate=True``, never as 0.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ._base import StrictModel, VersionedDocument
from ._types import Control, Degrees, FiniteFloat, Hash64, Name, NonNegFloat, NonNegInt, StrictBool


class RoundMetrics(StrictModel):
    """Per-round metrics of the committed model (held-out data unless stated)."""

    effective_rank: NonNegFloat | None = None
    effective_dim: NonNegFloat | None = None
    latent_std_mean: NonNegFloat | None = None
    latent_rms: NonNegFloat | None = None
    val_pred: NonNegFloat | None = None
    val_pred_identity: NonNegFloat | None = None
    skill_vs_identity: NonNegFloat | None = None
    state_probe_r2: FiniteFloat | None = Field(default=None, le=1.0)
    sigreg: FiniteFloat | None = None
    drift_to_reference_deg: Degrees | None = None
    drift_pairwise_mean_deg: Degrees | None = None
    drift_pairwise_max_deg: Degrees | None = None
    drift_degenerate: StrictBool = False
    train_loss: FiniteFloat | None = None

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

    schema_version: Literal[1] = 1
    run_id: Name
    control: Control
    round_index: NonNegInt
    participants: list[Name]
    global_hash: Hash64 | None
    parent_hash: Hash64 | None
    metrics: RoundMetrics
    backstop_fired: dict[Name, StrictBool] = Field(default_factory=dict)
    wall_time_s: NonNegFloat

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
