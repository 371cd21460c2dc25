"""Documents and text of a multi-seed headline: per-seed tables, the version-2 table, claims.

:func:`build_documents` turns per-seed rows into the per-seed ResultsTables (schema_version 1),
the aggregate ResultsTable (schema_version 2, :func:`lensemble_spec.aggregate.aggregate`), the
seed card's claims C1–C7 evaluated on every seed's table and on the aggregate ("pooled": means
over seeds, worst-over-seeds verdicts) and the printed text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lensemble_spec.aggregate import aggregate, row_label

from .headline import render_table

SPLIT = "heldout: novel appearance; state probe fit on the first floor(E/2) episodes, scored on the rest"
#: Aggregate columns: (metric, header, format).
AGG_COLUMNS = (
    ("effective_rank", "eff.rank", "{:.2f}"),
    ("latent_std_mean", "lat.std", "{:.3f}"),
    ("val_pred", "val_pred", "{:.4f}"),
    ("drift_to_reference_deg", "drift→ref°", "{:.1f}"),
    ("state_probe_r2", "probe R²", "{:.3f}"),
)


def _v1(
    title: str, split: str, seed: int, rows: Sequence[Mapping[str, Any]], planning: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    from lensemble_spec.schemas import ResultsTable

    doc = ResultsTable.model_validate(
        {"title": title, "split": split, "seeds": [seed], "controls": list(rows), "planning": planning}
    ).model_dump(mode="json")
    return strip_v2(doc)


def strip_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """Drop the version-2 fields that are null (a version-1 document never carries them), and a null ``planning``."""
    for key in ("per_seed", "variants", "interval_method", "intervals", "differences", "planning"):
        if doc.get(key) is None:
            doc.pop(key, None)
    return doc


def evaluate_claims(table_doc: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """``{claim id: {state, detail}}`` of the seed card's claims on one results table."""
    from lensemble_spec.claims import seed_claims
    from lensemble_spec.schemas import ResultsTable
    from lensemble_spec.verify.claims import evaluate_claim

    table = ResultsTable.model_validate(dict(table_doc))
    return {c.id: dict(zip(("state", "detail"), evaluate_claim(c, table))) for c in seed_claims().checks}


def build_documents(
    per_seed: Sequence[Mapping[str, Any]],
    *,
    seeds: Sequence[int],
    title: str = "headline over seeds",
    split: str = SPLIT,
    planning: Mapping[int, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Per-seed tables (each with its seed's ``planning`` object, when given), the version-2 table,
    the claims and the text."""
    from lensemble_spec.schemas import ResultsTable

    planning = planning or {}
    seed_tables = [
        _v1(f"{title}: seed {s['seed']}", split, int(s["seed"]), s["controls"], planning.get(int(s["seed"])))
        for s in per_seed
    ]
    agg = aggregate(per_seed)
    table = ResultsTable.model_validate(
        {"schema_version": 2, "title": title, "split": split, "seeds": list(seeds), "per_seed": list(per_seed), **agg}
    ).model_dump(mode="json")
    claims = {"per_seed": {str(s["seed"]): evaluate_claims(t) for s, t in zip(per_seed, seed_tables)}}
    claims["pooled"] = evaluate_claims({k: v for k, v in table.items() if k != "variants"})
    text = render_text(table, claims)
    if planning:
        from .planning_report import render_planning

        text += "\n\n" + render_planning(
            table,
            [planning[int(s)] for s in seeds if int(s) in planning],
            [int(s) for s in seeds if int(s) in planning],
        )
    return {"seed_tables": seed_tables, "table": table, "claims": claims, "text": text}


def _ci(iv: Mapping[str, Any] | None, fmt: str) -> str:
    if not iv:
        return "—"
    if iv.get("low") is None:
        return fmt.format(iv["mean"])
    return f"{fmt.format(iv['mean'])} [{fmt.format(iv['low'])}, {fmt.format(iv['high'])}]"


def _grid(headers: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in body)]


def max_drift(rows: Sequence[Mapping[str, Any]]) -> float | None:
    """Largest ``drift_to_reference_deg`` entry over the rounds of the given per-seed rows."""
    values = [x for r in rows for x in r.get("series", {}).get("drift_to_reference_deg", []) if x is not None]
    return max(values) if values else None


def render_text(table: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    seeds = table["seeds"]
    out: list[str] = []
    for entry in table["per_seed"]:
        rows = [dict(r, control=row_label(r)) for r in list(entry["controls"]) + list(entry.get("variants", []))]
        out += [f"seed {entry['seed']}", render_table(rows), ""]
    n = len(seeds)
    out.append(
        f"mean over {n} seeds [95% t-interval]; verdict = worst over seeds; max drift = largest drift→ref° of any "
        f"round of any seed"
    )
    body = []
    rows = list(table["controls"]) + list(table.get("variants") or [])
    for row in rows:
        lab = row_label(row)
        ivs = table["intervals"].get(lab, {})
        per = [
            r
            for e in table["per_seed"]
            for r in list(e["controls"]) + list(e.get("variants", []))
            if row_label(r) == lab
        ]
        md = max_drift(per)
        body.append(
            [lab]
            + [_ci(ivs.get(k), f) for k, _, f in AGG_COLUMNS]
            + ["—" if md is None else f"{md:.1f}", row["verdict"]]
        )
    out += _grid(["row"] + [h for _, h, _ in AGG_COLUMNS] + ["max drift°", "verdict"], body)
    out += ["", "paired per-seed differences in held-out state-probe R² (C7 and the local-only gates; margin 0.05)"]
    body = []
    for name, diff in table["differences"].items():
        iv = diff.get("interval")
        per = ", ".join("—" if v is None else f"{v:+.3f}" for v in diff["per_seed"])
        excl = "n/a" if not iv or iv.get("low") is None else ("yes" if iv["low"] > 0 or iv["high"] < 0 else "no")
        body.append([name, per, _ci(iv, "{:+.3f}"), excl])
    out += _grid(["difference", f"per seed ({', '.join(map(str, seeds))})", "mean [95% CI]", "CI excludes 0"], body)
    out += ["", "seed-card claims (RFC-0005 §7) per seed and pooled (pooled = on the mean rows with worst verdicts)"]
    ids = list(claims["pooled"])
    body = [
        [cid] + [claims["per_seed"][str(s)][cid]["state"] for s in seeds] + [claims["pooled"][cid]["state"]]
        for cid in ids
    ]
    out += _grid(["claim"] + [f"seed {s}" for s in seeds] + ["pooled"], body)
    return "\n".join(out)
