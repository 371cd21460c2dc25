"""The headline's closed-loop planning section (RFC-0005 §6.2): success rates with intervals.

Per control: each seed's rate, the mean over seeds with the table's 95% t-interval (the multi-seed
aggregation of RFC-0005 §6.1), and the rate over all episodes pooled across seeds with its Wilson
interval (the tasks are the same for every seed, so pooled episodes are not independent draws:
the t-interval over seeds is the one to read). Baselines do not depend on the model: when every
seed's baseline outcome is the same (same tasks, same seed), it is shown once. Paired per-seed
differences of the rate are read the same way as the R² differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lensemble_spec.aggregate import interval
from lensemble_spec.planning import BASELINE_PREFIX, BASELINES, wilson_interval

METRIC = "mpc_success_rate"
#: Paired differences of the success rate: (name, left row, right row or baseline).
DIFFERENCES = (
    ("anchored − local-only mean", "anchored", "local-only"),
    ("anchored − naive-fedavg", "anchored", "naive-fedavg"),
    ("anchored − baseline/random", "anchored", BASELINE_PREFIX + "random"),
)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def _wilson_text(success: Sequence[bool]) -> str:
    n, k = len(success), sum(bool(x) for x in success)
    low, high = wilson_interval(k, n)
    return f"{_pct(k / n)} [{_pct(low)}, {_pct(high)}] ({k}/{n})"


def _grid(headers: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
    return [
        "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
        for cells in [headers, ["-" * w for w in widths], *body]
    ]


def _rate(record: Mapping[str, Any], label: str) -> float | None:
    out = record["outcomes"].get(label)
    return None if out is None else float(out["rate"])


def render_planning(table: Mapping[str, Any], records: Sequence[Mapping[str, Any]], seeds: Sequence[int]) -> str:
    """The planning section of the multi-seed text (module docstring); rates in percent."""
    c = records[0]["conditions"]
    p = c["planner"]
    head = (
        f"closed-loop planning (RFC-0005 §6.2), success rate in % (end-effector within {c['success_radius']} of the "
        f"goal after "
        f"{c['steps']} steps; {c['episodes']} held-out tasks per model, local-only: every silo's model; "
        f"{p['method'].upper()} horizon {p['horizon']}, {p['samples']} samples × {p['iterations']} iterations, re-plan "
        f"every {c['replan_every']} step(s))"
    )
    lines = [head]
    body = []
    for row in table["controls"]:
        label = row["control"]
        if not all(label in r["outcomes"] for r in records):
            continue
        iv = (table.get("intervals") or {}).get(label, {}).get(METRIC)
        mean = (
            "—"
            if not iv
            else (
                _pct(iv["mean"])
                if iv.get("low") is None
                else f"{_pct(iv['mean'])} [{_pct(iv['low'])}, {_pct(iv['high'])}]"
            )
        )
        pooled = [x for r in records for x in r["outcomes"][label]["success"]]
        body.append([label, ", ".join(_pct(_rate(r, label)) for r in records), mean, _wilson_text(pooled)])
    for name in BASELINES:
        label = BASELINE_PREFIX + name
        outs = [r["outcomes"][label] for r in records if label in r["outcomes"]]
        if not outs:
            continue
        same = all(o == outs[0] for o in outs)
        pooled = outs[0]["success"] if same else [x for o in outs for x in o["success"]]
        body.append(
            [label, "same every seed" if same else ", ".join(_pct(o["rate"]) for o in outs), "—", _wilson_text(pooled)]
        )
    lines += _grid(
        [
            "row",
            f"per seed ({', '.join(map(str, seeds))})",
            "mean over seeds [95% t]",
            "all episodes [95% Wilson] (k/n)",
        ],
        body,
    )
    lines += ["", "paired per-seed differences in success rate (percentage points)"]
    body = []
    for name, left, right in DIFFERENCES:
        values = [
            None if _rate(r, left) is None or _rate(r, right) is None else _rate(r, left) - _rate(r, right)
            for r in records
        ]  # type: ignore[operator]
        iv = interval(values)
        if iv is None:
            continue
        ci = f"{100 * iv['mean']:+.1f}" + (
            "" if iv.get("low") is None else f" [{100 * iv['low']:+.1f}, {100 * iv['high']:+.1f}]"
        )
        body.append([name, ", ".join("—" if v is None else f"{100 * v:+.1f}" for v in values), ci])
    lines += _grid(["difference", "per seed", "mean [95% t]"], body)
    return "\n".join(lines)


__all__ = ["render_planning"]
