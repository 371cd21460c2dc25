"""Turn per-test outcomes into a :class:`~lensemble_spec.schemas.compliance.ComplianceReport`.

Pure data in, validated document out: the pytest plugin gathers the inputs during a session and
calls :func:`build_compliance_report` once at the end. The status precedence and verdict rules
are those stated in :mod:`lensemble_spec.schemas.compliance` (and implemented there, beside the
vocabulary they define).

Inputs:

``requirements``  the catalog requirements (objects with ``id, rfc, section, level, text``).
``items``         node id -> ``{"requirements": [ids], "level": "quick"|"full",
                  "expectation": "xfail"|"skip"|None, "expectation_reason": str|None}`` for every
                  *selected* test (after deselection).
``outcomes``      node id -> ``{"outcome": ..., "message": str|None, "duration": float}`` for
                  every test that ran (a selected test with no outcome never ran, e.g. ``-x``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from ..schemas.compliance import (
    ComplianceReport,
    ScopeVerdict,
    Verdicts,
    requirement_status,
    status_counts,
    verdict_of,
)

_OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "not-implemented", "not-applicable",
             "precondition-not-met")


def rfc_number(raw: object) -> int:
    """``2``, ``"0002"``, ``"RFC-0002"``, ``"rfc 2"`` -> ``2``; ``ValueError`` otherwise."""
    m = re.fullmatch(r"\s*(?:rfc)?[-_ ]?0*(\d+)\s*", str(raw), flags=re.IGNORECASE)
    if not m:
        raise ValueError(f"{raw!r} is not an RFC number")
    return int(m.group(1))


def _rfc_sort_key(raw: str) -> tuple[int, str]:
    m = re.search(r"(\d+)", raw)
    return (int(m.group(1)) if m else 1 << 30, raw)


def build_compliance_report(
    *,
    requirements: Iterable[Any],
    items: Mapping[str, Mapping[str, Any]],
    outcomes: Mapping[str, Mapping[str, Any]],
    run_info: Mapping[str, Any],
    rfc_filter: Collection[int] = (),
    deselected: int = 0,
    collection_errors: int = 0,
    expectations: Sequence[Mapping[str, Any]] = (),
    unknown_ids: Iterable[str] = (),
    warnings: Sequence[str] = (),
    runs: Sequence[Any] = (),
    requirement_scope: Collection[str] | None = None,
) -> ComplianceReport:
    """Aggregate one session; see the module docstring for the input shapes."""
    reqs = list(requirements)
    if rfc_filter:
        wanted = set(rfc_filter)
        reqs = [r for r in reqs if rfc_number(r.rfc) in wanted]
    if requirement_scope is not None:  # --lensemble-parts: the requirements its tests name
        reqs = [r for r in reqs if r.id in requirement_scope]

    tests: dict[str, dict[str, Any]] = {}
    by_req: dict[str, list[str]] = {}
    for nodeid in sorted(items):
        info = items[nodeid]
        for rid in info.get("requirements", ()):
            by_req.setdefault(rid, []).append(nodeid)
        res = outcomes.get(nodeid)
        if not res or res.get("outcome") is None:
            continue  # selected but never ran
        tests[nodeid] = {
            "nodeid": nodeid,
            "outcome": res["outcome"],
            "requirements": list(info.get("requirements", ())),
            "level": info.get("level", "quick"),
            "parts": list(info.get("parts", ())),
            "duration_s": round(max(float(res.get("duration", 0.0)), 0.0), 6),
            "message": res.get("message"),
            "details": res.get("details"),
            "expectation": info.get("expectation"),
            "expectation_reason": info.get("expectation_reason"),
        }

    rows = []
    for r in reqs:
        nodeids = sorted(by_req.get(r.id, []))
        ran = [tests[n] for n in nodeids if n in tests]
        counts: dict[str, int] = {}
        for t in ran:
            counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
        reasons: list[str] = []
        messages: list[str] = []
        for t in ran:
            if not t["message"]:
                continue
            if t["outcome"] in ("failed", "error"):
                messages.append(f"{t['nodeid']}: {t['message']}")
            elif t["message"] not in reasons:
                reasons.append(t["message"])
        rows.append(
            {
                "id": r.id,
                "rfc": str(r.rfc),
                "section": str(r.section),
                "rfc_location": getattr(r, "rfc_location", None),
                "level": r.level,
                "text": r.text,
                "status": requirement_status([t["outcome"] for t in ran]),
                "tests": nodeids,
                "outcomes": counts,
                "reasons": reasons,
                "messages": messages,
            }
        )

    def scope(selected: list[dict[str, Any]]) -> ScopeVerdict:
        statuses = [x["status"] for x in selected]
        return ScopeVerdict(verdict=verdict_of(statuses), statuses=status_counts(statuses))

    must = [x for x in rows if x["level"] == "MUST"]
    by_rfc = {
        rfc: scope([x for x in must if x["rfc"] == rfc])
        for rfc in sorted({x["rfc"] for x in rows}, key=_rfc_sort_key)
    }
    by_level = {lvl: scope([x for x in rows if x["level"] == lvl]) for lvl in ("MUST", "SHOULD", "MAY")}
    overall = scope(must).verdict  # the same rule as every other scope
    by_part = _by_part(must, items, scope)

    n = dict.fromkeys(_OUTCOMES, 0)
    for t in tests.values():
        n[t["outcome"]] += 1
    selected = len(items)
    counts = {
        "collected": selected + deselected,
        "deselected": deselected,
        "selected": selected,
        "run": n["passed"] + n["failed"] + n["xfailed"] + n["xpassed"],
        "passed": n["passed"],
        "failed": n["failed"],
        "errors": n["error"],
        "skipped": n["skipped"],
        "xfailed": n["xfailed"],
        "xpassed": n["xpassed"],
        "not_implemented": n["not-implemented"],
        "not_applicable": n["not-applicable"],
        "precondition_not_met": n["precondition-not-met"],
        "collection_errors": collection_errors,
        "unmapped": sum(1 for info in items.values() if not info.get("requirements")),
    }
    notes = list(warnings)
    if collection_errors:
        notes.append(f"{collection_errors} collection error(s): the suite did not run completely")
    if selected - len(tests):
        notes.append(f"{selected - len(tests)} selected test(s) never ran (the session stopped early)")

    exp = [dict(e) for e in expectations]
    return ComplianceReport.model_validate(
        {
            "schema_version": 1,
            "run_info": dict(run_info),
            "counts": counts,
            "verdicts": Verdicts(
                overall=overall,
                conformant=overall == "conformant",
                must=status_counts([x["status"] for x in must]),
                by_rfc=by_rfc,
                by_level=by_level,
                by_part=by_part,
            ),
            "requirements": rows,
            "tests": list(tests.values()),
            "expectations": exp,
            "stale_expectations": [e for e in exp if not e.get("matched")],
            "unknown_requirement_ids": sorted(set(unknown_ids)),
            "warnings": notes,
            "runs": list(runs),
        }
    )


def _by_part(
    must: list[dict[str, Any]],
    items: Mapping[str, Mapping[str, Any]],
    scope: Any,
) -> dict[str, ScopeVerdict]:
    """Verdict per implementation part: the MUST requirements named by a selected test of the part,
    each with its one status (from all its tests), judged by the same ``scope`` as the overall
    verdict — so a part never reads better or worse than the requirements it names."""
    parts = sorted({p for info in items.values() for p in info.get("parts", ())}, key=_part_order)
    return {
        part: scope([row for row in must
                     if any(part in items.get(n, {}).get("parts", ()) for n in row["tests"])])
        for part in parts
    }


def _part_order(part: str) -> tuple[int, str]:
    order = ("gauge", "model", "federation", "artifacts")
    return (order.index(part) if part in order else len(order), part)
