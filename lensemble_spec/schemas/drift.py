"""``FrameDriftReport``: frame drift of one round measured on the public probe.

Each entry holds a drift angle in degrees (:func:`lensemble_spec.metrics.drift_angle_deg` of the
Procrustes rotation), the normalised Procrustes residual ``||S Q - T||_F / ||T||_F`` and a
``degenerate`` flag. A degenerate (rank-deficient) frame has ``angle_deg = None`` — it is
never reported as 0° — and a non-degenerate entry must carry both numbers.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ._base import StrictModel, VersionedDocument
from ._types import Degrees, Hash64, Name, NonNegFloat, NonNegInt, StrictBool


def _check_entry(angle_deg: float | None, residual: float | None, degenerate: bool) -> None:
    if degenerate and angle_deg is not None:
        raise ValueError("a degenerate frame has no angle (angle_deg must be null, never 0)")
    if not degenerate and (angle_deg is None or residual is None):
        raise ValueError("a non-degenerate entry needs both angle_deg and residual")


class DriftEntry(StrictModel):
    """Drift of one frame against a fixed frame (the round-0 reference or the global)."""

    angle_deg: Degrees | None
    residual: NonNegFloat | None
    degenerate: StrictBool

    @model_validator(mode="after")
    def _consistent(self) -> DriftEntry:
        _check_entry(self.angle_deg, self.residual, self.degenerate)
        return self


class PairDrift(StrictModel):
    """Drift between participants ``a`` and ``b`` (``a < b``; Procrustes maps a's frame onto b's)."""

    a: Name
    b: Name
    angle_deg: Degrees | None
    residual: NonNegFloat | None
    degenerate: StrictBool

    @model_validator(mode="after")
    def _consistent(self) -> PairDrift:
        if not self.a < self.b:
            raise ValueError(f"pair ({self.a}, {self.b}) must have a < b")
        _check_entry(self.angle_deg, self.residual, self.degenerate)
        return self


class FrameDriftReport(VersionedDocument):
    """Frame drift of one round (schema_version 1): pairwise, to the reference, to the global."""

    RFC_RULES: ClassVar[tuple[str, ...]] = (
        "In every entry and pair: `degenerate` true ⇒ `angle_deg` null (never 0); `degenerate` false ⇒ both "
        "`angle_deg` and `residual` are numbers.",
        "Each pair has `a` < `b` (code point order); `pairs` is sorted by (`a`, `b`) with no repeats.",
    )

    schema_version: Literal[1] = 1
    round_index: NonNegInt
    probe_hash: Hash64
    pairs: list[PairDrift]
    to_reference: dict[Name, DriftEntry] = Field(default_factory=dict)
    to_global: dict[Name, DriftEntry] = Field(default_factory=dict)

    @field_validator("pairs")
    @classmethod
    def _sorted_pairs(cls, value: list[PairDrift]) -> list[PairDrift]:
        keys = [(p.a, p.b) for p in value]
        if any(x >= y for x, y in pairwise(keys)):
            raise ValueError("pairs must be sorted by (a, b) without repeats")
        return value

    @classmethod
    def from_result(cls, result: Any, *, round_index: int, probe_hash: str) -> FrameDriftReport:
        """Build a report from :class:`lensemble_spec.metrics.FrameDriftResult` (duck-typed).

        Entries' ``source``/``target`` become ``a``/``b``; NaN angles and residuals (degenerate
        frames) become ``None``; the result is validated like any document.
        """

        def number(x: Any) -> float | None:
            return float(x) if x is not None and math.isfinite(float(x)) else None

        def entry(e: Any) -> dict[str, Any]:
            return {"angle_deg": number(e.angle_deg), "residual": number(e.residual), "degenerate": bool(e.degenerate)}

        return cls.model_validate(
            {
                "schema_version": cls.SCHEMA_VERSION,
                "round_index": round_index,
                "probe_hash": probe_hash,
                "pairs": sorted(
                    ({"a": e.source, "b": e.target, **entry(e)} for e in result.pairs), key=lambda p: (p["a"], p["b"])
                ),
                "to_reference": {k: entry(e) for k, e in result.to_reference.items()},
                "to_global": {k: entry(e) for k, e in result.to_global.items()},
            }
        )
