"""Check a claim document: its pins, its claims in kind, and (optionally) its numbers.

* **Pins** (ART-023–025): each claimed pin must be a full-revision pin (a revision printed as
  ``3c2258ce…`` fails with the reason), a file pin must carry its sha256, and with a hub cache
  the pin must resolve offline.
* **Claims in kind** (RFC-0005 §7): each relational claim (``checks``) is evaluated on a
  results table and reported as held (``pass``), not held (``fail``) or not checkable (``skip``:
  a needed row or value is missing). No claim is ever omitted; without a table every one is
  ``skip``.
* **Numbers** (``values=True``): each transcribed cell is compared with the same control's row
  of a table with the semantics of :mod:`lensemble_spec.claims.model`. Only meaningful against the
  claimed run's own table (the seed card's numbers come from a 256-d, 224 px setup), hence opt-in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..claims import ClaimDocument, load_claims, seed_claims
from ..claims.model import (
    BoundClaim,
    ClaimCell,
    Compare,
    Condition,
    Operand,
    PointClaim,
    RangeClaim,
    RelationalClaim,
    SeriesBound,
    SeriesClaim,
    SeriesMonotone,
    Threshold,
    VerdictIn,
)
from ..schemas import ControlResult, ResultsTable
from .checks import check_pin
from .report import VerificationReport

#: Requirement id for claim findings: RFC-0005 §7 states the claims but gives them no id yet.
CLAIM_REQUIREMENT = ""

HELD, NOT_HELD, NOT_CHECKABLE = "held", "not held", "not checkable"
_STATUS = {HELD: "pass", NOT_HELD: "fail", NOT_CHECKABLE: "skip"}
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _threshold(value: Threshold) -> float:
    if isinstance(value, str):
        from ..requirements import load_catalog

        return float(load_catalog().param(value))
    return float(value)


class _Table:
    def __init__(self, table: ResultsTable) -> None:
        self.rows = {r.control: r for r in table.controls}

    def value(self, o: Operand) -> tuple[bool, float | None]:
        """(row and key present, value) of a row's final metric."""
        row = self.rows.get(o.control)
        if row is None or o.metric not in row.metrics:
            return False, None
        return True, row.metrics[o.metric]

    def series(self, control: str, metric: str) -> list[float | None] | None:
        row = self.rows.get(control)
        return None if row is None or metric not in row.series else list(row.series[metric])


def evaluate_condition(c: Condition, t: _Table) -> tuple[str, str]:
    """``(held | not held | not checkable, explanation)`` of one condition."""
    if c.verdict_in is not None:
        v: VerdictIn = c.verdict_in
        row = t.rows.get(v.control)
        if row is None:
            return NOT_CHECKABLE, f"no {v.control} row"
        return (
            HELD if row.verdict in v.verdicts else NOT_HELD
        ), f"{v.control} verdict '{row.verdict}' (needs one of {v.verdicts})"
    if c.compare is not None:
        cmp: Compare = c.compare
        (_, lv), (_, rv) = t.value(cmp.left), t.value(cmp.right)
        if lv is None or rv is None:
            return (
                NOT_CHECKABLE,
                f"{cmp.left.control}.{cmp.left.metric} = {lv}, {cmp.right.control}.{cmp.right.metric} = {rv}",
            )
        factor, offset = _threshold(cmp.factor), _threshold(cmp.offset)
        rhs = factor * rv + offset
        ok = _OPS[cmp.op](lv, rhs)
        return (
            HELD if ok else NOT_HELD
        ), f"{cmp.left.control}.{cmp.left.metric} {lv:.6g} {cmp.op} {rhs:.6g} (= {factor:g}·{rv:.6g} + {offset:g})"
    if c.series_monotone is not None:
        s: SeriesMonotone = c.series_monotone
        values = t.series(s.control, s.metric)
        if values is None:
            return NOT_CHECKABLE, f"no {s.control} series '{s.metric}'"
        part = values[s.from_round :]
        if len(part) < 2 or any(x is None for x in part):
            return NOT_CHECKABLE, f"{s.control}.{s.metric} from round {s.from_round} has null or too few entries"
        step = _OPS[">="] if s.direction == "nondecreasing" else _OPS["<="]
        bad = [i + s.from_round for i in range(1, len(part)) if not step(part[i], part[i - 1])]  # type: ignore[arg-type]
        msg = f"{s.control}.{s.metric} {s.direction} from round {s.from_round}"
        return (NOT_HELD, f"{msg}: breaks at round {bad[0]}") if bad else (HELD, msg)
    if c.series_bound is not None:
        b: SeriesBound = c.series_bound
        values = t.series(b.control, b.metric)
        if values is None:
            return NOT_CHECKABLE, f"no {b.control} series '{b.metric}'"
        limit = _threshold(b.value)
        bad = [(i, x) for i, x in enumerate(values) if x is not None and not _OPS[b.op](x, limit)]
        if bad:
            return NOT_HELD, f"{b.control}.{b.metric}[{bad[0][0]}] = {bad[0][1]:.6g}, not {b.op} {limit:g}"
        if not values or any(x is None for x in values):
            return NOT_CHECKABLE, f"{b.control}.{b.metric} has null entries"
        return HELD, f"all {len(values)} entries of {b.control}.{b.metric} {b.op} {limit:g}"
    assert c.is_null is not None
    present, value = t.value(c.is_null)
    if not present:
        return NOT_CHECKABLE, f"no {c.is_null.control}.{c.is_null.metric}"
    return (HELD if value is None else NOT_HELD), f"{c.is_null.control}.{c.is_null.metric} = {value}"


def evaluate_claim(claim: RelationalClaim, table: ResultsTable) -> tuple[str, str]:
    t = _Table(table)
    conditions = claim.all if claim.all is not None else claim.any
    assert conditions is not None
    results = [evaluate_condition(c, t) for c in conditions]
    states = [r[0] for r in results]
    detail = "; ".join(r[1] for r in results)
    if claim.all is not None:
        state = NOT_HELD if NOT_HELD in states else NOT_CHECKABLE if NOT_CHECKABLE in states else HELD
    else:
        state = HELD if HELD in states else NOT_CHECKABLE if NOT_CHECKABLE in states else NOT_HELD
    return state, detail


# --- cells (numbers) -----------------------------------------------------------------------------
def _values(row: ControlResult, field: str) -> tuple[list[float], float | None]:
    series = [x for x in row.series.get(field, []) if x is not None]
    final = row.metrics.get(field)
    if final is None and series:
        final = series[-1]
    return series, final


def evaluate_cell(cell: ClaimCell, row: ControlResult) -> tuple[str, str]:
    """``(pass | fail | skip, message)`` of one transcribed cell against one results row."""
    claim = cell.claim
    series, final = _values(row, cell.field)
    if not series and final is None:
        return "skip", f"the results table has no '{cell.field}' for {row.control}"

    def show(num: Any) -> str:
        lo, hi = num.interval()
        return f"{num.text} [{lo:.4g}, {hi:.4g}]"

    if isinstance(claim, PointClaim):
        if claim.over == "every-round":
            if not series:
                return "skip", f"no per-round series of '{cell.field}'"
            bad = [(i, x) for i, x in enumerate(series) if not claim.value.matches(x)]
            if bad:
                return "fail", f"claims {show(claim.value)} every round; entry {bad[0][0]} is {bad[0][1]:.6g}"
            return "pass", f"all {len(series)} entries within {show(claim.value)}"
        assert final is not None
        return ("pass" if claim.value.matches(final) else "fail"), f"claims {show(claim.value)}, table has {final:.6g}"
    if isinstance(claim, SeriesClaim):
        if len(series) < 2:
            return "skip", f"'{cell.field}' has {len(series)} entries; a start → end claim needs 2"
        ok = claim.start.matches(series[0]) and claim.end.matches(series[-1])
        return (
            "pass" if ok else "fail"
        ), f"claims {show(claim.start)} → {show(claim.end)}, table has {series[0]:.6g} → {series[-1]:.6g}"
    if isinstance(claim, RangeClaim):
        if not series:
            return "skip", f"no per-round series of '{cell.field}'"
        lo, hi = min(series), max(series)
        ok = claim.low.matches(lo) and claim.high.matches(hi)
        return (
            "pass" if ok else "fail"
        ), f"claims observed range {show(claim.low)}–{show(claim.high)}, table spans {lo:.6g}–{hi:.6g}"
    assert isinstance(claim, BoundClaim)
    values = series or ([final] if final is not None else [])
    bad = [
        x
        for x in values
        if (claim.lower is not None and x < claim.lower) or (claim.upper is not None and x > claim.upper)
    ]
    msg = f"claims every value in [{claim.lower}, {claim.upper}]"
    return ("fail", f"{msg}; {bad[0]:.6g} is outside") if bad else ("pass", f"{msg}; {len(values)} inside")


# --- entry point ---------------------------------------------------------------------------------
def _document(claims: Any) -> ClaimDocument:
    if isinstance(claims, ClaimDocument):
        return claims
    if isinstance(claims, str) and claims == "seed":
        return seed_claims()
    return load_claims(claims)


def check_claims(
    doc: ClaimDocument,
    report: VerificationReport,
    *,
    table: ResultsTable | None = None,
    hub_cache: str | os.PathLike[str] | None = None,
    values: bool = False,
) -> None:
    """Append the findings of :func:`verify_claims` to ``report``."""
    cache = Path(hub_cache) if hub_cache is not None else None
    for pin in doc.pins:
        check_pin(
            {"uri": pin.uri, "sha256": pin.sha256},
            f"claims:pins.{pin.control} ({pin.published})",
            hub_cache=cache,
            ok=report.passed,
            fail=report.failed,
            skip=report.skipped,
        )
    for claim in doc.checks:
        subject = f"claims:{claim.id}"
        if table is None:
            report.skipped(CLAIM_REQUIREMENT, "claim", subject, f"not checkable: no results table ({claim.text})")
            continue
        state, detail = evaluate_claim(claim, table)
        report.add(CLAIM_REQUIREMENT, _STATUS[state], "claim", subject, f"{state}: {claim.text} — {detail}")  # type: ignore[arg-type]
    for item in doc.not_checkable:
        report.skipped(CLAIM_REQUIREMENT, "claim", "claims:not-checkable", item)
    if not values:
        return
    rows = {r.control: r for r in table.controls} if table is not None else {}
    for t, row, cell in doc.cells():
        subject = f"claims:{t.name}.{row.control}.{cell.metric}"
        result = rows.get(row.control)
        if table is None or result is None:
            report.skipped(CLAIM_REQUIREMENT, "claim-value", subject, "no results row to compare with")
            continue
        status, message = evaluate_cell(cell, result)
        report.add(CLAIM_REQUIREMENT, status, "claim-value", subject, f"{message} (published {cell.published!r})")  # type: ignore[arg-type]


def verify_claims(
    claims: ClaimDocument | str | os.PathLike[str] | Mapping[str, Any],
    *,
    table: ResultsTable | str | os.PathLike[str] | None = None,
    hub_cache: str | os.PathLike[str] | None = None,
    values: bool = False,
) -> VerificationReport:
    """Check a claim document (``"seed"`` = the shipped seed model card); see the module docstring.

    ``table`` is a ResultsTable or the path of a ``results.json``.
    """
    doc = _document(claims)
    if table is not None and not isinstance(table, ResultsTable):
        from ..schemas import load_document

        table = load_document(ResultsTable, Path(table))
    report = VerificationReport(target=f"claims: {doc.title}", hub_cache=str(hub_cache) if hub_cache else None)
    check_claims(doc, report, table=table, hub_cache=hub_cache, values=values)
    return report


__all__ = [
    "CLAIM_REQUIREMENT",
    "check_claims",
    "evaluate_cell",
    "evaluate_claim",
    "evaluate_condition",
    "verify_claims",
]
