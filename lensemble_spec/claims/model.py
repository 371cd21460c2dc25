"""Claims as data: a published results table written so a machine can check it.

A model card prints cells like ``~105``, ``1.1 → ~1``, ``7–124`` or ``180 (every round)``. A
:class:`ClaimDocument` keeps each cell's text verbatim (``published``) beside a typed reading of it
(``claim``), so the reading can be reviewed against the text and then checked against a results
table recomputed from artifacts.

Numbers (:class:`Num`) are written as strings in the published notation, because the notation
carries the precision the author committed to:

* ``"2.6"`` means a value that rounds to 2.6: it matches ``[2.55, 2.65]`` (half a unit in the
  last printed digit, :meth:`Num.half_ulp`).
* ``"~105"`` is approximate: it matches within ``max(half_ulp, APPROX_REL · |value|)`` with
  :data:`APPROX_REL` = 10 % — "about 105" is not refuted by 98 but is by 80.
* ``"5.3e7"`` has ``half_ulp = 0.05e7``; ``"203776"`` has ``half_ulp = 0.5``.

What a claim says about a per-round series ``s`` (the table's ``series[field]``, ``None`` entries
ignored) — one of four kinds:

``point``  (``over="final"``) the final value — the table's ``metrics[field]`` when present, else
           ``s[-1]`` — matches ``value``; (``over="every-round"``) every ``s[i]`` matches ``value``.
``series`` ``s[0]`` matches ``start`` and ``s[-1]`` matches ``end`` (``"1.1 → ~1"``).
``range``  the observed ``min(s)`` matches ``low`` and ``max(s)`` matches ``high`` (``"7–124"``).
``bound``  every ``s[i]`` lies in ``[lower, upper]`` (either side optional; a stated limit, not
           an observation).

Claims *in kind* (``checks``, RFC-0005 §7) are relations on a results table — a verdict in a set,
``left <op> factor·right + offset``, a monotone or bounded series, a null value — combined with
``all`` or ``any``; thresholds may name an RFC harness parameter (``"VAL_PRED_GAP_MIN"``), so the
number lives in one place. They are what a reproduction at another scale can be held to; the
cell numbers are only comparable with the claimed run's own table.

Pins are transcribed exactly as published (``uri`` may hold an abbreviated revision such as
``3c2258ce``); whether they are real pins is for the verifier to decide, not for the loader.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

CLAIMS_SCHEMA_VERSION = 1
CLAIMS_KIND = "lensemble-spec/claims"

#: Relative half-width granted to an approximate (``~``) number on top of its printed precision.
APPROX_REL = 0.10
#: Slack for float round-off when comparing with a printed precision (relative to the half-ulp).
_ROUNDOFF = 1e-9

_NUM_RE = re.compile(r"^(?P<approx>~)?(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Num(_Strict):
    """A published number: ``text`` such as ``"2.6"``, ``"~105"``, ``"5.3e7"``."""

    text: str

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        # In documents a number is written as its bare string: "~105" == {"text": "~105"}.
        return {"text": value} if isinstance(value, str) else value

    @field_validator("text")
    @classmethod
    def _grammar(cls, text: str) -> str:
        if not _NUM_RE.fullmatch(text):
            raise ValueError(f"{text!r} is not a published number (digits, optional '~', decimal point, exponent)")
        return text

    @model_serializer
    def _to_text(self) -> str:
        return self.text

    @property
    def approx(self) -> bool:
        return self.text.startswith("~")

    @property
    def value(self) -> float:
        return float(self.text.lstrip("~"))

    def half_ulp(self) -> float:
        """Half a unit in the last printed digit (``"2.6"`` → 0.05, ``"5.3e7"`` → 5e5)."""
        exponent = Decimal(self.text.lstrip("~")).as_tuple().exponent
        assert isinstance(exponent, int)
        return 0.5 * 10.0**exponent

    def tolerance(self) -> float:
        tol = self.half_ulp()
        if self.approx:
            tol = max(tol, APPROX_REL * abs(self.value))
        return tol * (1.0 + _ROUNDOFF)

    def matches(self, x: float) -> bool:
        return math.isfinite(x) and abs(x - self.value) <= self.tolerance()

    def interval(self) -> tuple[float, float]:
        tol = self.tolerance()
        return (self.value - tol, self.value + tol)


class PointClaim(_Strict):
    kind: Literal["point"] = "point"
    value: Num
    over: Literal["final", "every-round"] = "final"


class SeriesClaim(_Strict):
    kind: Literal["series"] = "series"
    start: Num
    end: Num


class RangeClaim(_Strict):
    kind: Literal["range"] = "range"
    low: Num
    high: Num


class BoundClaim(_Strict):
    kind: Literal["bound"] = "bound"
    lower: float | None = None
    upper: float | None = None


ClaimValue = Annotated[PointClaim | SeriesClaim | RangeClaim | BoundClaim, Field(discriminator="kind")]


class ClaimCell(_Strict):
    """One cell of a published table."""

    metric: str  # the name the publication uses
    field: str  # the ResultsTable / RoundMetrics key it is checked against
    published: str  # verbatim cell text
    claim: ClaimValue
    qualifier: str | None = None  # e.g. "healthy", "inter-silo", "every round"
    caveats: list[str] = Field(default_factory=list)


class ClaimRow(_Strict):
    control: str  # lensemble_spec.protocol.CONTROLS name
    label: str  # verbatim row label
    verdict: str | None = None
    cells: list[ClaimCell]


class ClaimTable(_Strict):
    name: str
    split: str
    rows: list[ClaimRow]


class ClaimedPin(_Strict):
    """A revision as the publication states it (possibly abbreviated: that is checked later)."""

    control: str
    published: str  # verbatim, e.g. "3c2258ce…"
    uri: str  # hf://… with the revision exactly as published (ellipsis dropped)
    sha256: str | None = None
    note: str | None = None


# --- relational claims ("in kind" checks on a results table, RFC-0005 §7) ----------------------
#: A threshold is a number or the name of an RFC harness parameter (e.g. "VAL_PRED_GAP_MIN").
Threshold = float | Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]


class Operand(_Strict):
    """A value of a results table: ``metrics[metric]`` of a row (``at="final"``) or its series."""

    control: str
    metric: str


class VerdictIn(_Strict):
    control: str
    verdicts: list[str] = Field(min_length=1)


class Compare(_Strict):
    """``left <op> factor · right + offset`` (``factor`` 1 and ``offset`` 0 unless given)."""

    left: Operand
    op: Literal["<", "<=", ">", ">="]
    right: Operand
    factor: Threshold = 1.0
    offset: Threshold = 0.0


class SeriesMonotone(_Strict):
    """The series of ``metric`` never decreases (or increases) from ``from_round`` to the end."""

    control: str
    metric: str
    direction: Literal["nondecreasing", "nonincreasing"]
    from_round: int = Field(default=0, ge=0)


class SeriesBound(_Strict):
    """Every non-null entry of the series satisfies ``entry <op> value``; a null entry is not checkable."""

    control: str
    metric: str
    op: Literal["<", "<=", ">", ">="]
    value: Threshold


class Condition(_Strict):
    """Exactly one of the fields is set."""

    verdict_in: VerdictIn | None = None
    compare: Compare | None = None
    series_monotone: SeriesMonotone | None = None
    series_bound: SeriesBound | None = None
    is_null: Operand | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        set_fields = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(set_fields) != 1:
            raise ValueError(f"a condition sets exactly one of {list(type(self).model_fields)}, got {set_fields}")
        return self


class RelationalClaim(_Strict):
    """A claim restated as conditions on a results table: ``all`` must hold, or ``any`` must."""

    id: str
    text: str
    source: str | None = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None

    @model_validator(mode="after")
    def _one_list(self) -> RelationalClaim:
        if (self.all is None) == (self.any is None) or not (self.all or self.any):
            raise ValueError(f"claim {self.id}: give a non-empty 'all' or 'any' list, not both")
        return self


class ClaimSource(_Strict):
    title: str
    kind: str = "model-card"
    file: str | None = None  # where the transcribed text lives, if shipped
    notes: list[str] = Field(default_factory=list)


class ClaimDocument(_Strict):
    schema_version: Literal[1] = CLAIMS_SCHEMA_VERSION
    kind: Literal["lensemble-spec/claims"] = CLAIMS_KIND
    title: str
    source: ClaimSource
    setup: dict[str, Any] = Field(default_factory=dict)
    tables: list[ClaimTable]
    pins: list[ClaimedPin] = Field(default_factory=list)
    checks: list[RelationalClaim] = Field(default_factory=list)
    not_checkable: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def cells(self) -> list[tuple[ClaimTable, ClaimRow, ClaimCell]]:
        return [(t, r, c) for t in self.tables for r in t.rows for c in r.cells]


__all__ = [
    "APPROX_REL",
    "Compare",
    "Condition",
    "Operand",
    "RelationalClaim",
    "SeriesBound",
    "SeriesMonotone",
    "Threshold",
    "VerdictIn",
    "BoundClaim",
    "CLAIMS_KIND",
    "CLAIMS_SCHEMA_VERSION",
    "ClaimCell",
    "ClaimDocument",
    "ClaimRow",
    "ClaimSource",
    "ClaimTable",
    "ClaimValue",
    "ClaimedPin",
    "Num",
    "PointClaim",
    "RangeClaim",
    "SeriesClaim",
]
