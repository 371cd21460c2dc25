"""``ResultsTable``: a headline results table (one row per control), as claimed and re-checkable.

``metrics`` are final values by metric name (the names of :class:`RoundMetrics`, e.g.
``effective_rank``, ``val_pred``, ``drift_to_reference_deg``); ``series`` are per-round values
(index = round, None = not measured). ``verdict`` is a short human-readable conclusion; ``pins``
name the artifacts (checkpoints, data) the row was computed from.

Schema version 2 (RFC-0005 §6.1) is a table over several seeds: ``controls`` are the aggregate
rows (each metric and series entry the mean over seeds, the verdict the worst per-seed verdict),
``per_seed`` holds every seed's own rows, ``variants`` the aggregate rows of configuration
variants of a control (e.g. the frame-only anchor), ``intervals`` a confidence interval per row
and metric, and ``differences`` paired per-seed differences. Version 1 documents carry none of
the version-2 fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ._base import StrictModel, VersionedDocument
from ._types import Control, FiniteFloat, Key, Seed, Text
from .pin import ArtifactPin


class ControlResult(StrictModel):
    control: Control
    metrics: dict[Key, FiniteFloat | None]
    series: dict[Key, list[FiniteFloat | None]] = Field(default_factory=dict)
    verdict: Text
    pins: list[ArtifactPin] = Field(default_factory=list)


class VariantResult(ControlResult):
    """A row of a configuration variant of ``control`` (e.g. ``variant = "frame-anchor"``)."""

    variant: Key


class SeedRows(StrictModel):
    """One seed's rows of a multi-seed table."""

    seed: Seed
    controls: list[ControlResult]
    variants: list[VariantResult] = Field(default_factory=list)


class Interval(StrictModel):
    """Mean over ``n`` seeds and a two-sided confidence interval ``[low, high]`` (method in the table)."""

    n: int = Field(ge=1)
    mean: FiniteFloat
    sd: FiniteFloat | None = None
    low: FiniteFloat | None = None
    high: FiniteFloat | None = None


class Difference(StrictModel):
    """A paired difference ``left − right`` of one metric, per seed and as an interval."""

    left: Key
    right: Key
    metric: Key
    per_seed: list[FiniteFloat | None]
    interval: Interval | None = None


class ResultsTable(VersionedDocument):
    """A results table (schema_version 1, or 2 over several seeds); at most one row per control."""

    SCHEMA_VERSION: ClassVar[int] = 2
    schema_version: Literal[1, 2] = 1

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """Versions 1 and 2 are both current (2 only adds the multi-seed fields); others as the base."""
        if isinstance(data, Mapping) and type(data.get("schema_version")) is int and data["schema_version"] in (1, 2):
            return data
        return super()._migrate(data)  # type: ignore[misc]
    title: Text
    split: Text
    seeds: list[Seed]
    controls: list[ControlResult]
    per_seed: list[SeedRows] | None = None
    variants: list[VariantResult] | None = None
    interval_method: Text | None = None
    intervals: dict[Key, dict[Key, Interval]] | None = None
    differences: dict[Key, Difference] | None = None

    @model_validator(mode="after")
    def _version_fields(self) -> "ResultsTable":
        v2 = (self.per_seed, self.variants, self.interval_method, self.intervals, self.differences)
        if self.schema_version == 1 and any(x is not None for x in v2):
            raise ValueError("per_seed, variants, interval_method, intervals and differences need schema_version 2")
        if self.schema_version == 2:
            if self.per_seed is None or self.interval_method is None:
                raise ValueError("a schema_version 2 table needs per_seed and interval_method")
            if [r.seed for r in self.per_seed] != list(self.seeds):
                raise ValueError("per_seed must list the table's seeds in order")
        return self

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
