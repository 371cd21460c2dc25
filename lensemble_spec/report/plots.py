"""Per-round plots of run records, rendered by matplotlib (Agg, no pyplot) to inline SVG.

One figure per metric that any run measured — effective rank, latent scale (mean per-dimension
std), drift to the reference frame, held-out prediction error — with every run (control) overlaid
as one labelled line, both axes labelled. The RFC-0002 bounds an anchored run is held to are drawn
as dashed threshold lines, with values read from the requirement catalog (:func:`thresholds`):
``MAX_DRIFT_TO_REFERENCE_DEG`` on the drift plot, ``MIN_RANK_FRACTION · d`` on the rank plot (one
line per distinct latent dimension d of the runs) and ``MIN_LATENT_STD`` on the scale plot. A
round whose frame was degenerate (``drift_degenerate``) is drawn as a red cross on the drift axis,
never as 0°. The title is in the figure only (the HTML does not repeat it).

The SVG is made safe and self-contained for pasting into HTML: the XML prolog, DOCTYPE, comments
and ``<metadata>`` are removed, and every ``id`` (and each ``#id`` reference) is prefixed with the
figure's own prefix, so several figures can share one page without clashing ids. Output is
deterministic for the same input (fixed hash salt, no date).
"""

from __future__ import annotations

import io
import math
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: (metric key in RoundMetrics, title, y label)
PLOTTED_METRICS: tuple[tuple[str, str, str], ...] = (
    ("effective_rank", "Effective rank", "effective rank (dimensions)"),
    ("latent_std_mean", "Latent scale", "mean per-dimension std"),
    ("drift_to_reference_deg", "Frame drift to the reference", "drift to reference (degrees)"),
    ("val_pred", "Held-out prediction error (val_pred)", "val_pred (MSE)"),
)


def thresholds(runs: Sequence[Any] = ()) -> dict[str, list[tuple[float, str]]]:
    """Metric -> [(value, label)] of the RFC-0002 bounds to draw ({} without the catalog)."""
    from ..errors import LensembleError
    from ..requirements import load_catalog

    try:
        cat = load_catalog()
        max_drift = float(cat.param("MAX_DRIFT_TO_REFERENCE_DEG"))
        frac = float(cat.param("MIN_RANK_FRACTION"))
        min_std = float(cat.param("MIN_LATENT_STD"))
    except (LensembleError, OSError):  # a report renders without RFCs; it just has no threshold lines
        return {}
    dims = sorted({int(d) for d in (getattr(r, "latent_dim", None) for r in runs) if d})
    return {
        "drift_to_reference_deg": [(max_drift, f"MAX_DRIFT_TO_REFERENCE_DEG = {max_drift:g}°")],
        "effective_rank": [(frac * d, f"MIN_RANK_FRACTION·d = {frac:g}·{d} = {frac * d:g}") for d in dims],
        "latent_std_mean": [(min_std, f"MIN_LATENT_STD = {min_std:g}")],
    }


@dataclass(frozen=True)
class Plot:
    metric: str
    title: str
    svg: str  # a sanitised <svg> element


def _ensure_mplconfig() -> None:
    if not os.environ.get("MPLCONFIGDIR"):
        path = Path(tempfile.gettempdir()) / f"lensemble-spec-mpl-{os.getuid() if hasattr(os, 'getuid') else 0}"
        path.mkdir(parents=True, exist_ok=True)
        os.environ["MPLCONFIGDIR"] = str(path)


def _as_dicts(records: Sequence[Any]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") if hasattr(r, "model_dump") else dict(r) for r in records]


def _series(records: Sequence[dict[str, Any]], metric: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for rec in records:
        value = (rec.get("metrics") or {}).get(metric)
        xs.append(int(rec.get("round_index", len(xs))))
        ys.append(float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan)
    return xs, ys


def _label(run: Any, index: int) -> str:
    control = getattr(run, "control", None)
    name = Path(getattr(run, "run_dir", "") or f"run{index}").name
    return f"{control} ({name})" if control else name


def sanitize_svg(svg: str, prefix: str) -> str:
    """Strip prolog/comments/metadata and prefix ids (see module docstring)."""
    svg = re.sub(r"<\?xml.*?\?>", "", svg, flags=re.DOTALL)
    svg = re.sub(r"<!DOCTYPE.*?>", "", svg, flags=re.DOTALL)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.DOTALL)
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", svg)
    svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', svg)
    return svg.strip()


def round_plots(runs: Sequence[Any]) -> list[Plot]:
    """Plots for the metrics present in ``runs`` (objects with ``records``, ``control``, ``run_dir``)."""
    runs = [r for r in runs if getattr(r, "records", None)]
    if not runs:
        return []
    try:  # lazily: matplotlib is slow to import, and it is the optional [plots] extra
        import matplotlib  # noqa: F401
    except ImportError:
        return []  # a report without plots (pip install 'lensemble-spec[plots]' adds them)
    _ensure_mplconfig()
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    bounds = thresholds(runs)
    plots: list[Plot] = []
    for metric, title, ylabel in PLOTTED_METRICS:
        series = []
        for i, run in enumerate(runs):
            recs = _as_dicts(run.records)
            series.append((_label(run, i), *_series(recs, metric), recs))
        degenerate = metric == "drift_to_reference_deg" and any(
            (rec.get("metrics") or {}).get("drift_degenerate") for *_, recs in series for rec in recs
        )
        if all(all(math.isnan(y) for y in ys) for _, _, ys, _ in series) and not degenerate:
            continue
        fig = Figure(figsize=(6.4, 3.2), dpi=100)
        ax = fig.add_subplot(1, 1, 1)
        for label, xs, ys, recs in series:
            if not all(math.isnan(y) for y in ys):
                ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.5, label=label)
            if metric == "drift_to_reference_deg":
                bad = [x for x, rec in zip(xs, recs) if (rec.get("metrics") or {}).get("drift_degenerate")]
                if bad:
                    ax.plot(bad, [0.0] * len(bad), linestyle="none", marker="x", color="red",
                            markersize=8, label=f"{label}: degenerate frame")
        for value, text in bounds.get(metric, []):
            ax.axhline(value, color="black", linestyle="--", linewidth=1.0, label=text)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # rounds are integers
        ax.set_title(title)
        ax.set_xlabel("round (0 = before training)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        buf = io.StringIO()
        with _svg_rc():
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        plots.append(Plot(metric=metric, title=title, svg=sanitize_svg(buf.getvalue(), f"plot-{metric}")))
    return plots


class _svg_rc:
    """Deterministic SVG: fixed id salt, text as <text> elements (escaped by matplotlib)."""

    def __enter__(self) -> None:
        import matplotlib

        self._ctx = matplotlib.rc_context({"svg.hashsalt": "lensemble-spec", "svg.fonttype": "none"})
        self._ctx.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)
