"""``ResultsTable``: a headline results table (one row per control), as claimed and re-checkable.

``metrics`` are final values by metric name (the names of :class:`RoundMetrics`, e.g.
``effective_rank``, ``val_pred``, ``drift_to_reference_deg``); ``series`` are per-round values
(index = round, None = not measured). ``verdict`` is a short human-readable conclusion; ``pins``
name the artifacts (checkpoints, data) the row was computed from.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from ._base import StrictModel, VersionedDocument
from ._types import Control, FiniteFloat, Key, Seed, Text
from .pin import ArtifactPin


class ControlResult(StrictModel):
    """One row of a results table: one control's final metrics, per-round series and verdict."""

    control: Control = Field(description="The control of this row.")
    metrics: dict[Key, FiniteFloat | None] = Field(description="Final values by metric name (RFC-0005 §6 EVAL-016 lists the keys).")
    series: dict[Key, list[FiniteFloat | None]] = Field(
        default_factory=dict, description="Per-round values by metric name: entry `t` is round `t`, null = not measured."
    )
    verdict: Text = Field(description="RFC-0005 §5 verdict: `diverged`, `collapsed`, `drifted` or `gauge-held`.")
    pins: list[ArtifactPin] = Field(default_factory=list, description="Published artifacts the row was computed from.")


class ResultsTable(VersionedDocument):
    """A results table (schema_version 1); at most one row per control."""

    RFC_RULES: ClassVar[tuple[str, ...]] = (
        "`controls` names each control at most once; `seeds` has no repeats.",
    )

    schema_version: Literal[1] = Field(default=1, description="Document layout version.")
    title: Text = Field(description="Human-readable title.")
    split: Text = Field(description="The held-out split policy, in words (RFC-0005 §3).")
    seeds: list[Seed] = Field(description="Root seeds of the runs the rows average over.")
    controls: list[ControlResult] = Field(description="One row per control.")

    @field_validator("controls")
    @classmethod
    def _one_row_per_control(cls, value: list[ControlResult]) -> list[ControlResult]:
        names = [c.control for c in value]
        if len(set(names)) != len(names):
            raise ValueError("each control may appear only once")
        return value

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("seeds must be unique")
        return value
