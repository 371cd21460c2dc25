"""Aggregation over seeds (RFC-0005 §6.1): means, t-intervals, worst verdicts, paired differences.

One definition used by the writer of a multi-seed results table and by ``verify`` (which
recomputes every aggregate from the table's per-seed rows):

* a row's aggregate metric is the mean over seeds of that metric (null when any seed's is null),
  its series the per-round mean (null where any seed's entry is null), its verdict the worst
  per-seed verdict in the order ``diverged`` < ``collapsed`` < ``drifted`` < ``gauge-held``;
* an interval is the two-sided 95% Student-t interval ``mean ± t_{0.975, n−1} · sd / √n`` over
  the seeds' values (``sd`` with ``n − 1`` degrees of freedom); with one seed it has no bounds;
* a paired difference ``left − right`` is taken per seed first (same seed, same data, same
  ``θ_0``), and its interval is the t-interval of those per-seed differences.

The t quantiles are tabulated (no SciPy dependency); beyond 30 degrees of freedom the normal
quantile 1.96 is used (an interval that is at most 2% too narrow there).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: ``t_{0.975, df}`` for df = 1 … 30.
T_975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)
INTERVAL_METHOD = (
    "two-sided 95% Student-t interval over seeds: mean ± t(0.975, n−1)·sd/√n (sd with n−1 dof); "
    "paired differences per seed first"
)
VERDICT_ORDER = ("diverged", "collapsed", "drifted", "gauge-held")


def t_quantile(df: int) -> float:
    if df < 1:
        raise ValueError("a t-interval needs at least two values")
    return T_975[df - 1] if df <= len(T_975) else 1.959964


def interval(values: Iterable[float | None]) -> dict[str, Any] | None:
    """``{n, mean, sd, low, high}`` over the non-null values (None when there are none)."""
    xs = [float(v) for v in values if v is not None]
    n = len(xs)
    if n == 0:
        return None
    mean = math.fsum(xs) / n
    if n == 1:
        return {"n": 1, "mean": mean, "sd": None, "low": None, "high": None}
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "low": mean - half, "high": mean + half}


def _mean(values: Sequence[float | None]) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return math.fsum(float(v) for v in values) / len(values)  # type: ignore[arg-type]


def worst_verdict(verdicts: Iterable[str]) -> str:
    """The first of :data:`VERDICT_ORDER` present (an unknown verdict counts as ``diverged``)."""
    vs = list(verdicts)
    for v in VERDICT_ORDER:
        if v in vs or (v == "diverged" and any(x not in VERDICT_ORDER for x in vs)):
            return v
    raise ValueError("no verdicts to aggregate")


def mean_row(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Aggregate rows of one control (or variant) over seeds; keys present in every row only."""
    first = rows[0]
    metrics = {
        k: _mean([r["metrics"].get(k) for r in rows]) for k in first["metrics"] if all(k in r["metrics"] for r in rows)
    }
    series: dict[str, list[float | None]] = {}
    for key, values in first.get("series", {}).items():
        all_series = [r.get("series", {}).get(key) for r in rows]
        if any(s is None or len(s) != len(values) for s in all_series):
            continue
        series[key] = [_mean([s[t] for s in all_series]) for t in range(len(values))]  # type: ignore[index]
    out = {
        "control": first["control"],
        "metrics": metrics,
        "series": series,
        "verdict": worst_verdict(r["verdict"] for r in rows),
    }
    if "variant" in first:
        out["variant"] = first["variant"]
    return out


def row_label(row: Mapping[str, Any]) -> str:
    """``control`` or ``control/variant``."""
    return f"{row['control']}/{row['variant']}" if row.get("variant") else str(row["control"])


def _rows_by_label(seed_rows: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    rows = list(seed_rows.get("controls", [])) + list(seed_rows.get("variants", []) or [])
    return {row_label(r): r for r in rows}


#: Paired differences reported for claim C7 and the local-only gates: name → (left, right), each
#: ``(row label, metric)``; ``{a}`` is replaced by the anchored row label being compared.
DIFFERENCE_TEMPLATES = (
    ("minus-naive", ("naive-fedavg", "state_probe_r2")),
    ("minus-local-mean", ("local-only", "state_probe_r2")),
    ("minus-local-best", ("local-only", "state_probe_r2_best_silo")),
)


def difference_specs(labels: Iterable[str]) -> dict[str, tuple[tuple[str, str], tuple[str, str]]]:
    """Differences for every anchored row (``anchored`` and its variants), plus variant − anchored."""
    specs: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {}
    anchored = [lab for lab in labels if lab == "anchored" or lab.startswith("anchored/")]
    for a in anchored:
        for suffix, right in DIFFERENCE_TEMPLATES:
            specs[f"{a}:{suffix}"] = ((a, "state_probe_r2"), right)
        if a != "anchored" and "anchored" in anchored:
            specs[f"{a}:minus-anchored"] = ((a, "state_probe_r2"), ("anchored", "state_probe_r2"))
    return specs


def aggregate(per_seed: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The version-2 fields computed from ``per_seed`` (a list of ``{seed, controls, variants}``).

    Returns ``controls``, ``variants``, ``interval_method``, ``intervals`` and ``differences`` as
    plain JSON-able data (see module docstring).
    """
    if not per_seed:
        raise ValueError("no seeds to aggregate")
    by_seed = [_rows_by_label(s) for s in per_seed]
    labels = [lab for lab in by_seed[0] if all(lab in b for b in by_seed)]
    rows = {lab: mean_row([b[lab] for b in by_seed]) for lab in labels}
    intervals: dict[str, dict[str, Any]] = {}
    for lab in labels:
        per_metric = {}
        for key in rows[lab]["metrics"]:
            iv = interval([b[lab]["metrics"].get(key) for b in by_seed])
            if iv is not None:
                per_metric[key] = iv
        intervals[lab] = per_metric
    differences: dict[str, Any] = {}
    for name, ((left, lm), (right, rm)) in difference_specs(labels).items():
        if right not in labels:
            continue
        values: list[float | None] = []
        for b in by_seed:
            x, y = b[left]["metrics"].get(lm), b[right]["metrics"].get(rm)
            values.append(None if x is None or y is None else float(x) - float(y))
        differences[name] = {
            "left": f"{left}:{lm}",
            "right": f"{right}:{rm}",
            "metric": lm,
            "per_seed": values,
            "interval": interval(values),
        }
    return {
        "controls": [rows[lab] for lab in labels if "/" not in lab],
        "variants": [rows[lab] for lab in labels if "/" in lab],
        "interval_method": INTERVAL_METHOD,
        "intervals": intervals,
        "differences": differences,
    }


__all__ = [
    "INTERVAL_METHOD",
    "VERDICT_ORDER",
    "aggregate",
    "difference_specs",
    "interval",
    "mean_row",
    "row_label",
    "t_quantile",
    "worst_verdict",
]
