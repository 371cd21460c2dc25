"""The headline comparison: all four controls on the same seed, data and held-out split.

``run_headline(cfg, out_dir)`` writes a comparison directory (RFC-0010 §5, RFC-0005 §6)::

    OUT/<control>/        one complete run directory per control (trained without the held-out split)
    OUT/results.json      ResultsTable: one row per control — final held-out metrics (§4.2),
                          per-round series recomputed from every round's checkpoints, the verdict
    OUT/summary.json      wall times, the R² gates and the seed-card claims as computed here
    OUT/headline.md       the printed table with the notes below

Verdicts are the RFC-0005 §5 rule (``diverged`` / ``collapsed`` / ``drifted`` / ``gauge-held``),
a function of tier-1 metrics only (:func:`rfc_verdict`). The table's notes add descriptive
readings that are NOT verdicts: mutual inter-silo drift, scale relative to the centralized upper
bound, and the R² gates:

* C7 (RFC-0005 §7): anchored ``state_probe_r2`` ≥ naive-fedavg's + ``STATE_PROBE_MARGIN``;
* the gate upstream missed (its dynamic-environment gate): anchored ≥ local-only + 0.05, read
  against the local-only MEAN over silos (the RFC-0005 §4.2 row value) and, strictest, against the
  BEST single silo.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lensemble_spec.protocol import CONTROLS

#: RFC-0002 §9 / RFC-0005 §8 harness parameters used by the verdict and the gates.
MIN_RANK_FRACTION = 0.25
MIN_LATENT_STD = 1e-3
MAX_DRIFT_TO_REFERENCE_DEG = 30.0
STATE_PROBE_MARGIN = 0.05
#: Mean pairwise inter-silo drift above this is described as "mutually rotated" (a note, not a verdict).
ROTATED_DEG = 45.0

#: Columns of the printed table: (metric key, header, format).
TABLE_COLUMNS = (
    ("effective_rank", "eff.rank", "{:.2f}"),
    ("latent_std_mean", "lat.std", "{:.3f}"),
    ("val_pred", "val_pred", "{:.4f}"),
    ("val_pred_identity", "(identity)", "{:.4f}"),
    ("drift_to_reference_deg", "drift→ref°", "{:.1f}"),
    ("drift_pairwise_mean_deg", "pairwise°", "{:.1f}"),
    ("state_probe_r2", "probe R²", "{:.3f}"),
)


def rfc_verdict(metrics: Mapping[str, Any], drift_series: list[Any]) -> str:
    """RFC-0005 §5: the first matching rule, from tier-1 metrics only."""
    d = metrics["latent_dim"]
    if any(metrics.get(k) is None for k in ("effective_rank", "latent_std_mean", "latent_rms", "state_probe_r2")):
        return "diverged"
    if (
        metrics["effective_rank"] < MIN_RANK_FRACTION * d
        or metrics["latent_std_mean"] < MIN_LATENT_STD
        or metrics.get("drift_to_reference_deg") is None
    ):
        return "collapsed"
    if any(x is not None and x > MAX_DRIFT_TO_REFERENCE_DEG for x in drift_series):
        return "drifted"
    return "gauge-held"


def control_row(
    control: str,
    evaluation: Mapping[str, Any],
    records: list[Mapping[str, Any]],
    run_series: Mapping[str, list[Any]] | None = None,
) -> dict[str, Any]:
    """A ResultsTable row from :func:`lensemble_reference.evaluate.evaluate_run` output and the run's records.

    Held-out metrics (final values and per-round series) come from the evaluation; run-side
    diagnostics (pairwise drift of released models, training losses, pre-backstop drift) are added
    as ``run/<name>`` series so they cannot be mistaken for held-out numbers.
    """
    rounds = evaluation["rounds"]
    final = dict(evaluation["final"])
    metrics: dict[str, Any] = {"latent_dim": float(evaluation["latent_dim"])}
    for key, value in final.items():
        if key != "drift_degenerate" and (value is None or isinstance(value, (int, float))):
            metrics[key] = None if value is None else float(value)
    # run-side diagnostics (from the round records, not held-out): pairwise drift of the released models
    last = records[-1]["metrics"] if records else {}
    for key in ("drift_pairwise_mean_deg", "drift_pairwise_max_deg"):
        metrics[key] = last.get(key)
    series: dict[str, list[Any]] = {}
    keys = [k for k in rounds[-1] if k != "drift_degenerate"]
    for key in keys:
        series[key] = [row.get(key) for row in rounds]
    series["drift_pairwise_mean_deg"] = [rec["metrics"].get("drift_pairwise_mean_deg") for rec in records]
    for key, values in sorted((run_series or {}).items()):
        if all(v is None or isinstance(v, (int, float)) for v in values):
            series[f"run/{key}"] = [None if v is None else float(v) for v in values]
    verdict = rfc_verdict(metrics, series["drift_to_reference_deg"])
    return {"control": control, "metrics": metrics, "series": series, "verdict": verdict}


def notes(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Descriptive readings per control (not verdicts; see module docstring)."""
    central = rows.get("centralized", {}).get("metrics", {})
    out = {}
    for control, row in rows.items():
        m = row["metrics"]
        parts = [f"verdict {row['verdict']}"]
        if control != "centralized" and central.get("effective_rank") and m.get("effective_rank") is not None:
            parts.append(
                f"rank {m['effective_rank'] / central['effective_rank']:.2f}× and scale "
                f"{(m.get('latent_std_mean') or 0) / (central.get('latent_std_mean') or 1):.2f}× centralized"
            )
        pair = m.get("drift_pairwise_mean_deg")
        if pair is not None and control in ("local-only", "naive-fedavg", "anchored"):
            who = "silos" if control == "local-only" else "released participants"
            parts.append(f"{who} {'mutually rotated' if pair > ROTATED_DEG else 'aligned'} ({pair:.1f}° mean pairwise)")
        if control == "local-only" and m.get("state_probe_r2_best_silo") is not None:
            parts.append(f"best single silo R² {m['state_probe_r2_best_silo']:.3f}")
        out[control] = "; ".join(parts)
    return out


def gates(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """R² gates and margins (None where a value is missing)."""
    def r2(control: str, key: str = "state_probe_r2") -> float | None:
        return rows.get(control, {}).get("metrics", {}).get(key)

    a, n, lm, lb, c = (
        r2("anchored"),
        r2("naive-fedavg"),
        r2("local-only"),
        r2("local-only", "state_probe_r2_best_silo"),
        r2("centralized"),
    )

    def margin(x: float | None, y: float | None) -> float | None:
        return None if x is None or y is None else x - y

    out = {
        "anchored": a, "naive_fedavg": n, "local_only_mean": lm, "local_only_best_silo": lb, "centralized": c,
        "margin_vs_naive": margin(a, n), "margin_vs_local_mean": margin(a, lm), "margin_vs_local_best": margin(a, lb),
        "required_margin": STATE_PROBE_MARGIN,
    }
    out["c7_passed"] = None if out["margin_vs_naive"] is None else out["margin_vs_naive"] >= STATE_PROBE_MARGIN
    out["local_mean_passed"] = (
        None if out["margin_vs_local_mean"] is None else out["margin_vs_local_mean"] >= STATE_PROBE_MARGIN
    )
    out["local_best_passed"] = (
        None if out["margin_vs_local_best"] is None else out["margin_vs_local_best"] >= STATE_PROBE_MARGIN
    )
    return out


def _fmt(value: Any, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)


def render_table(rows: list[Mapping[str, Any]], row_notes: Mapping[str, str] | None = None) -> str:
    """A plain-text table like the seed model card's, one line per control, then the notes."""
    headers = ["control"] + [h for _, h, _ in TABLE_COLUMNS] + ["verdict"]
    body = [
        [row["control"]] + [_fmt(row["metrics"].get(k), f) for k, _, f in TABLE_COLUMNS] + [row["verdict"]]
        for row in rows
    ]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    out = [line(headers), line(["-" * w for w in widths]), *(line(r) for r in body)]
    if row_notes:
        out.append("")
        out += [f"{row['control']}: {row_notes[row['control']]}" for row in rows if row["control"] in row_notes]
    return "\n".join(out)


def render_gates(g: Mapping[str, Any]) -> str:
    def f(x: Any) -> str:
        return "—" if x is None else f"{x:+.3f}"

    def ok(x: Any) -> str:
        return "n/a" if x is None else ("PASS" if x else "FAIL")

    return (
        f"state-probe R² (held-out): anchored {_fmt(g['anchored'], '{:.3f}')}, naive "
        f"{_fmt(g['naive_fedavg'], '{:.3f}')}, "
        f"local-only mean {_fmt(g['local_only_mean'], '{:.3f}')} / best silo "
        f"{_fmt(g['local_only_best_silo'], '{:.3f}')}, "
        f"centralized {_fmt(g['centralized'], '{:.3f}')}\n"
        f"  C7 anchored − naive = {f(g['margin_vs_naive'])} (≥ {g['required_margin']}: {ok(g['c7_passed'])}); "
        f"anchored − local-only mean = {f(g['margin_vs_local_mean'])} ({ok(g['local_mean_passed'])}); "
        f"anchored − best local silo = {f(g['margin_vs_local_best'])} ({ok(g['local_best_passed'])})"
    )


def run_headline(
    cfg: Any,
    out_dir: Path,
    *,
    controls: tuple[str, ...] = CONTROLS,
    show_progress: bool = True,
    data: tuple[Any, Any, str] | None = None,
    resume: bool = False,
    planning: Any = None,
) -> dict[str, Any]:
    """Train every control into ``out_dir/<control>`` and write the comparison files.

    ``planning`` (a :class:`lensemble_spec.planning.Conditions`) adds closed-loop planning with each
    control's final model(s) plus the baselines (RFC-0005 §6.2; embedded world only).

    Every control uses ``cfg.for_control(control)``: same seed, world, held-out split, model and
    schedule; only the CONTROL_OVERRIDES fields differ. Returns the ResultsTable (as a dict) plus
    ``gates``, ``notes``, ``text`` and wall times. ``data`` = ``(RunInputs, held-out Silo, split
    description)`` replaces the embedded world (e.g. :func:`lensemble_reference.real_data.lerobot_run_inputs`).
    The comparison is written into ``out_dir.partial`` and appears at ``out_dir`` only when complete;
    ``resume`` continues a killed headline (:mod:`lensemble_reference.comparison_dir`).
    """
    import contextlib

    from lensemble_spec.artifacts.staging import discard_on_error

    from .comparison_dir import close_comparison, open_comparison
    from .controls import world_splits

    final_dir = Path(out_dir)
    inputs, heldout = world_splits(cfg) if data is None else data[:2]  # built before anything is written
    partial = open_comparison(final_dir, cfg.to_dict(), tuple(controls), resume=resume)
    with discard_on_error(partial) if not resume else contextlib.nullcontext():
        result = _write_comparison(cfg, partial, controls, show_progress, data, inputs, heldout, planning)
    close_comparison(partial, final_dir)
    return result


def _write_comparison(
    cfg: Any,
    out_dir: Path,
    controls: tuple[str, ...],
    show_progress: bool,
    data: Any,
    inputs: Any,
    heldout: Any,
    planning: Any = None,
) -> dict[str, Any]:
    """Train (or reuse, or resume) every control into ``out_dir`` and write the comparison files."""
    import os

    from lensemble_spec.artifacts import atomic_write_json, atomic_write_text
    from lensemble_spec.schemas import ResultsTable

    from .comparison_dir import control_run
    from .evaluate import evaluate_run

    started = time.perf_counter()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rows: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    outcomes: dict[str, Any] = {}
    for control in controls:
        t0 = time.perf_counter()
        result = control_run(out_dir, control, cfg.for_control(control), inputs, show_progress=show_progress)
        t1 = time.perf_counter()
        evaluation = evaluate_run(result.run_dir, heldout)
        timings[control] = t1 - t0
        timings[f"{control}/evaluate"] = time.perf_counter() - t1
        rows[control] = control_row(control, evaluation, result.records, getattr(result, "series", None))
        if planning is not None and inputs.world is not None:
            from .planning_eval import METRIC, plan_run

            outcomes[control] = plan_run(result.run_dir, inputs.world, planning)
            rows[control]["metrics"][METRIC] = outcomes[control].rate
            timings[f"{control}/planning"] = time.perf_counter() - t1 - timings[f"{control}/evaluate"]
    record = None
    if outcomes:
        from .planning_eval import comparison_planning

        record = comparison_planning(outcomes, inputs.world, planning)
    table = ResultsTable.model_validate(
        {
            "title": "lensemble-spec headline: four controls, one seed, one held-out split",
            "split": data[2]
            if data is not None
            else "heldout: novel appearance; state probe fit on the first floor(E/2) episodes, scored on the rest",
            "seeds": [cfg.seed],
            "controls": [rows[c] for c in controls],
            "planning": record,
        }
    )
    from .multiseed_report import strip_v2

    doc = strip_v2(table.model_dump(mode="json"))
    atomic_write_json(out_dir / "results.json", doc)
    g = gates(rows)
    row_notes = notes(rows)
    text = render_table([rows[c] for c in controls], row_notes) + "\n\n" + render_gates(g)
    if record is not None:
        from .planning_report import render_planning

        text += "\n\n" + render_planning(doc, [record], [cfg.seed])
    wall = time.perf_counter() - started
    summary = {
        "wall_time_s": wall,
        "control_wall_time_s": timings,
        "load_average_1m_start": load_before,
        "load_average_1m_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "gates": g,
        "notes": row_notes,
    }
    atomic_write_json(out_dir / "summary.json", summary)
    atomic_write_text(out_dir / "headline.md", "```\n" + text + "\n```\n")
    return {**doc, **summary, "text": text}
