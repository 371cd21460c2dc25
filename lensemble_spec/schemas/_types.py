"""Field types shared by the schema models (each a pydantic ``Annotated`` alias).

Scalars are strict (``True`` is not an integer, ``"1"`` is not a number), floats are finite,
hashes are 64 lowercase hex characters (SHA-256) and revisions 40 lowercase hex characters (a
full git commit id, never a branch, tag or prefix).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AllowInfNan, Field, Strict, StringConstraints

from ..constants import CONTROLS, DTYPE_NAMES, HASH64_PATTERN, REVISION40_PATTERN

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"

#: SHA-256 hex digest, lowercase.
Hash64 = Annotated[str, Strict(), StringConstraints(pattern=HASH64_PATTERN)]
#: Full git commit id (40 lowercase hex).
Revision40 = Annotated[str, Strict(), StringConstraints(pattern=REVISION40_PATTERN)]
#: Identifier of a run, participant or silo: ASCII letters, digits, ``.``, ``_``, ``-``.
Name = Annotated[str, Strict(), StringConstraints(pattern=NAME_PATTERN)]
#: Non-empty free text (titles, verdicts, versions).
Text = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=4096)]
#: Metric / series key.
Key = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=256)]

NonNegInt = Annotated[int, Strict(), Field(ge=0)]
Seed = Annotated[int, Strict(), Field(ge=0, lt=2**64)]
StrictBool = Annotated[bool, Strict()]

#: A finite float (ints are accepted and widened; NaN, ±Inf, bools and strings are not).
FiniteFloat = Annotated[float, Strict(), AllowInfNan(False)]
NonNegFloat = Annotated[float, Strict(), AllowInfNan(False), Field(ge=0)]
#: A drift angle in degrees, >= 0. No upper bound: ``metrics.drift_angle_deg`` reads θ for a
#: single-plane rotation and keeps growing when several planes rotate (it does not saturate at 180°).
Degrees = Annotated[float, Strict(), AllowInfNan(False), Field(ge=0)]

#: One of constants.CONTROLS.
Control = Literal[CONTROLS]  # type: ignore[valid-type]
#: One of constants.DTYPE_NAMES.
DType = Literal[DTYPE_NAMES]  # type: ignore[valid-type]


def _check_timestamp(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no timezone (write UTC as ...Z)")
    return value


#: ISO-8601 timestamp with a timezone, e.g. ``2026-11-25T08:00:00Z`` (kept as written).
Timestamp = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=10, max_length=40),
    AfterValidator(_check_timestamp),
    Field(json_schema_extra={"format": "date-time"}),
]


def utc_now() -> str:
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SSZ`` (the form writers should use)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
