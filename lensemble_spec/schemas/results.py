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
    """One row of a results table: one control's final metrics, per-round series and verdict."""

    control: Control = Field(description="The control of this row.")
    metrics: dict[Key, FiniteFloat | None] = Field(
        description="Final values by metric name (RFC-0005 §6 EVAL-016 lists the keys)."
    )
    series: dict[Key, list[FiniteFloat | None]] = Field(
        default_factory=dict,
        description="Per-round values by metric name: entry `t` is round `t`, null = not measured.",
    )
    verdict: Text = Field(description="RFC-0005 §5 verdict: `diverged`, `collapsed`, `drifted` or `gauge-held`.")
    pins: list[ArtifactPin] = Field(default_factory=list, description="Published artifacts the row was computed from.")


class VariantResult(ControlResult):
    """A row of a configuration variant of ``control`` (e.g. ``variant = "frame-anchor"``)."""

    variant: Key = Field(description="Name of the configuration variant (e.g. `frame-anchor`).")


class SeedRows(StrictModel):
    """One seed's rows of a multi-seed table."""

    seed: Seed = Field(description="The root seed of these rows.")
    controls: list[ControlResult] = Field(description="That seed's row per control.")
    variants: list[VariantResult] = Field(default_factory=list, description="That seed's variant rows.")


class Interval(StrictModel):
    """Mean over ``n`` seeds and a two-sided confidence interval ``[low, high]`` (method in the table)."""

    n: int = Field(ge=1, description="Number of seeds with a value.")
    mean: FiniteFloat = Field(description="Mean over those seeds.")
    sd: FiniteFloat | None = Field(default=None, description="Sample standard deviation (null for one seed).")
    low: FiniteFloat | None = Field(default=None, description="Lower end of the interval (null for one seed).")
    high: FiniteFloat | None = Field(default=None, description="Upper end of the interval (null for one seed).")


class Difference(StrictModel):
    """A paired difference ``left − right`` of one metric, per seed and as an interval."""

    left: Key = Field(description="Row the difference starts from.")
    right: Key = Field(description="Row subtracted.")
    metric: Key = Field(description="Metric name.")
    per_seed: list[FiniteFloat | None] = Field(description="`left − right` per seed, in the table's seed order.")
    interval: Interval | None = Field(default=None, description="Mean and interval of the per-seed differences.")


class PlanningOutcome(StrictModel):
    """One control's (or baseline's) closed-loop episodes (RFC-0005 §6.2)."""

    tasks_digest: Text = Field(description="sha256 of the task set (starts, goals, cubes) the episodes ran.")
    final_distance: list[FiniteFloat] = Field(
        description="True end-effector distance to the goal after the last step, per episode (local-only: silo-major)."
    )
    success: list[bool] = Field(description="Per episode: `final_distance < success_radius`.")
    rate: FiniteFloat = Field(ge=0.0, le=1.0, description="Fraction of successful episodes.")
    low: FiniteFloat = Field(ge=0.0, le=1.0, description="Lower end of the Wilson interval of `rate`.")
    high: FiniteFloat = Field(ge=0.0, le=1.0, description="Upper end of the Wilson interval of `rate`.")

    @model_validator(mode="after")
    def _same_length(self) -> PlanningOutcome:
        if len(self.success) != len(self.final_distance) or not self.success:
            raise ValueError("success and final_distance need one entry per episode (at least one)")
        return self


class PlanningRecord(StrictModel):
    """Closed-loop planning of a comparison: its conditions and one outcome per control and baseline."""

    conditions: dict[Key, Any] = Field(
        description="The evaluation conditions by name (RFC-0005 §6.2 and §8; `planner` nested)."
    )
    environment: dict[Key, Any] = Field(
        description="The world the episodes ran in: `style` (the held-out appearance) and `image_size`."
    )
    interval_method: Text = Field(description="How `low`/`high` were computed.")
    outcomes: dict[Key, PlanningOutcome] = Field(
        description="Per control name and per baseline (`baseline/random`, `baseline/zero`, `baseline/true-dynamics`)."
    )


class ResultsTable(VersionedDocument):
    """A results table (schema_version 1, or 2 over several seeds); at most one row per control."""

    RFC_RULES: ClassVar[tuple[str, ...]] = (
        "`controls` names each control at most once; `seeds` has no repeats.",
        "`per_seed`, `variants`, `interval_method`, `intervals` and `differences` appear only with `schema_version` 2, "
        "which needs `per_seed` (listing `seeds` in order) and `interval_method`.",
    )
    SCHEMA_VERSION: ClassVar[int] = 2

    schema_version: Literal[1, 2] = Field(
        default=1, description="Document layout version: 1 one seed, 2 several seeds (RFC-0005 §6.1)."
    )
    title: Text = Field(description="Human-readable title.")
    split: Text = Field(description="The held-out split policy, in words (RFC-0005 §3).")
    seeds: list[Seed] = Field(description="Root seeds of the runs the rows average over.")
    controls: list[ControlResult] = Field(
        description="One row per control (version 2: the mean over seeds, worst verdict)."
    )
    per_seed: list[SeedRows] | None = Field(default=None, description="Version 2: every seed's own rows.")
    variants: list[VariantResult] | None = Field(
        default=None, description="Version 2: aggregate rows of configuration variants."
    )
    interval_method: Text | None = Field(default=None, description="Version 2: how the intervals were computed.")
    intervals: dict[Key, dict[Key, Interval]] | None = Field(
        default=None, description="Version 2: interval per row and metric."
    )
    differences: dict[Key, Difference] | None = Field(
        default=None, description="Version 2: paired per-seed differences by name."
    )
    planning: PlanningRecord | None = Field(
        default=None, description="Closed-loop planning outcomes (RFC-0005 §6.2), when measured."
    )

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """Versions 1 and 2 are both current (2 only adds the multi-seed fields); others as the base."""
        if isinstance(data, Mapping) and type(data.get("schema_version")) is int and data["schema_version"] in (1, 2):
            return data
        return super()._migrate(data)  # type: ignore[misc]

    @model_validator(mode="after")
    def _version_fields(self) -> ResultsTable:
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
