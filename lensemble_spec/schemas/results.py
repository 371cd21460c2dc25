"""``ResultsTable``: a headline results table (one row per control), as claimed and re-checkable.

``metrics`` are final values by metric name (the names of :class:`RoundMetrics`, e.g.
``effective_rank``, ``val_pred``, ``drift_to_reference_deg``); ``series`` are per-round values
(index = round, None = not measured). ``verdict`` is a short human-readable conclusion; ``pins``
name the artifacts (checkpoints, data) the row was computed from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ._base import StrictModel, VersionedDocument
from ._types import Control, FiniteFloat, Key, Seed, Text
from .pin import ArtifactPin


class ControlResult(StrictModel):
    control: Control
    metrics: dict[Key, FiniteFloat | None]
    series: dict[Key, list[FiniteFloat | None]] = Field(default_factory=dict)
    verdict: Text
    pins: list[ArtifactPin] = Field(default_factory=list)


class ResultsTable(VersionedDocument):
    """A results table (schema_version 1); at most one row per control."""

    schema_version: Literal[1] = 1
    title: Text
    split: Text
    seeds: list[Seed]
    controls: list[ControlResult]

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
