"""Verify a results table against the runs it claims to summarise (RFC-0005 §4.2, §5, §6).

For each row (one control): the schema (EVAL-015), the required metric keys and ``latent_dim``
(EVAL-016), one series entry per round for the required series (EVAL-017), rank reported with
scale (EVAL-009), the verdict re-derived from the row's own numbers (EVAL-014), its pins
(ART-023–025), and — with an implementation's model part and the held-out split — every held-out
metric recomputed from the control's final checkpoints (EVAL-010) and every series entry from the
round's checkpoints (EVAL-011), within the RFC tolerances.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import LensembleError, PinError
from ..schemas import ControlResult, ResultsTable, load_document
from ..schemas.round import RoundMetrics
from .checks import Checker
from .heldout import HeldoutSplit, HeldoutUnavailable, resolve_heldout
from .recompute import HELDOUT_KEYS, combine, heldout_metrics
from .rundata import RunData
from .tolerances import Tolerances, tolerances

REQUIRED_METRICS = (
    "latent_dim",
    "effective_rank",
    "effective_dim",
    "latent_std_mean",
    "latent_rms",
    "state_probe_r2",
    "val_pred",
    "val_pred_identity",
    "skill_vs_identity",
    "drift_to_reference_deg",
)
REQUIRED_SERIES = ("effective_rank", "latent_std_mean", "latent_rms", "drift_to_reference_deg")
VERDICTS = ("diverged", "collapsed", "drifted", "gauge-held")
#: Metric names a row may carry (RFC-0005 §4): the round-record metrics, ``latent_dim`` and the
#: best local-only silo's state-probe R² and the closed-loop planning success rate (RFC-0005 §6.2).
KNOWN_METRICS = frozenset(RoundMetrics.model_fields) | {"latent_dim", "state_probe_r2_best_silo", "mpc_success_rate"}
# A metric or series key: a known metric, optionally per participant (``state_probe_r2/silo0``), or
# a run-side diagnostic series ``run/<name>[/<participant>]``. Anything else is refused (EVAL-016).
_PARTICIPANT = r"(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,127})?"
_RUN_KEY = re.compile(r"run/[a-z][a-z0-9_]{0,63}" + _PARTICIPANT)
_PER_PARTICIPANT = re.compile(r"([a-z][a-z0-9_]{0,63})" + _PARTICIPANT)


def unknown_keys(keys: Any) -> list[str]:
    """Keys of a row's ``metrics`` or ``series`` that name no known metric (sorted)."""
    bad = []
    for key in keys:
        m = _PER_PARTICIPANT.fullmatch(key)
        if not (_RUN_KEY.fullmatch(key) or (m and m.group(1) in KNOWN_METRICS)):
            bad.append(key)
    return sorted(bad)


def expected_verdict(row: ControlResult, tol: Tolerances | None = None) -> str:
    """The first matching rule of RFC-0005 §5 (raises KeyError when ``latent_dim`` is absent)."""
    tol = tol or tolerances()
    m = row.metrics
    d = m["latent_dim"]
    if d is None:
        raise KeyError("latent_dim")
    if any(m.get(k) is None for k in ("effective_rank", "latent_std_mean", "latent_rms", "state_probe_r2")):
        return "diverged"
    if (
        m["effective_rank"] < tol.min_rank_fraction * d
        or m["latent_std_mean"] < tol.min_latent_std
        or m.get("drift_to_reference_deg") is None
    ):  # type: ignore[operator]
        return "collapsed"
    if any(x is not None and x > tol.max_drift_deg for x in row.series.get("drift_to_reference_deg", [])):
        return "drifted"
    return "gauge-held"


class ResultsVerifier(Checker):
    def __init__(
        self,
        report: Any,
        runs: Mapping[str, RunData],
        *,
        model: Any = None,
        heldout: str | os.PathLike[str] | None = None,
        hub_cache: Path | None = None,
        subject: str = "results.json",
        expected_controls: tuple[str, ...] | None = None,
    ) -> None:
        self.expected_controls = tuple(runs) if expected_controls is None else expected_controls
        self.report = report
        self.runs = runs
        self.model = model
        self.heldout_path = heldout
        self.hub_cache = hub_cache
        self.subject = subject
        self.tol = tolerances()
        self._split: HeldoutSplit | None = None
        self._split_error: str | None = None

    # --- document -----------------------------------------------------------------------------
    def load(self, raw: Any) -> ResultsTable | None:
        controls = raw.get("controls") if isinstance(raw, dict) else None
        for row in controls if isinstance(controls, list) else []:
            if isinstance(row, dict) and isinstance(row.get("pins"), list):
                for j, pin in enumerate(row["pins"]):
                    self.pin(pin, f"{self.subject}:{row.get('control')}.pins[{j}]")
        try:
            table = load_document(ResultsTable, raw)
        except LensembleError as exc:
            why = "it holds an invalid pin" if isinstance(exc, PinError) else exc.message
            self.fail("EVAL-015", "results-schema", self.subject, f"not a valid ResultsTable: {why}")
            return None
        missing = [c for c in self.expected_controls if c not in {row.control for row in table.controls}]
        if missing:
            self.fail(
                "EVAL-015",
                "results-schema",
                self.subject,
                f"no row for control(s) {missing}: a results table has one row per control",
            )
        else:
            self.ok(
                "EVAL-015",
                "results-schema",
                self.subject,
                f"ResultsTable v{table.schema_version} with {len(table.controls)} row(s)",
            )
        return table

    # --- rows ---------------------------------------------------------------------------------
    def check_table(self, table: ResultsTable) -> None:
        for row in table.controls:
            self.check_row(row)
        from .planning import check_planning

        check_planning(self, table)

    def check_row(self, row: ControlResult) -> None:
        where = f"{self.subject}:{row.control}"
        run = self.runs.get(row.control)
        missing = [k for k in REQUIRED_METRICS if k not in row.metrics]
        d = run.latent_dim if run is not None else None
        unknown = unknown_keys(row.metrics) + unknown_keys(row.series)
        if missing:
            self.fail("EVAL-016", "results-keys", where, f"metrics lack {missing}")
        elif unknown:
            self.fail(
                "EVAL-016", "results-keys", where, f"unknown metric key(s) {', '.join(repr(k) for k in unknown[:5])}"
            )
        elif d is not None and row.metrics["latent_dim"] != d:
            self.fail(
                "EVAL-016",
                "results-keys",
                where,
                f"latent_dim {row.metrics['latent_dim']} but the run's probe targets have d = {d}",
            )
        else:
            self.ok("EVAL-016", "results-keys", where, "every required metric present")
        rounds = (run.final_round + 1) if run is not None and run.final_round is not None else None
        bad = [
            k for k in REQUIRED_SERIES if k not in row.series or (rounds is not None and len(row.series[k]) != rounds)
        ]
        if bad:
            self.fail(
                "EVAL-017",
                "results-series",
                where,
                f"series {bad} missing or not one entry per round 0…{(rounds or 0) - 1}",
            )
        else:
            self.ok(
                "EVAL-017",
                "results-series",
                where,
                "required series, one entry per round" + (f" ({rounds})" if rounds else ""),
            )
        m = row.metrics
        if (m.get("effective_rank") is not None or m.get("effective_dim") is not None) and (
            m.get("latent_std_mean") is None or m.get("latent_rms") is None
        ):
            self.fail("EVAL-009", "rank-with-scale", where, "reports a rank without latent_std_mean and latent_rms")
        try:
            verdict = expected_verdict(row, self.tol)
        except KeyError:
            self.fail("EVAL-014", "verdict", where, "no latent_dim: the verdict cannot be derived")
        else:
            self.judge(
                row.verdict == verdict,
                "EVAL-014",
                "verdict",
                where,
                f"'{verdict}' follows from the row's metrics",
                f"claims '{row.verdict}', the row's own numbers give '{verdict}'",
            )
        if run is None:
            self.skip("EVAL-010", "results-recompute", where, f"no run of control {row.control!r} to recompute from")
            return
        self.recompute(row, run, where)

    # --- recomputation ------------------------------------------------------------------------
    def split_for(self, run: RunData) -> HeldoutSplit | None:
        if self._split is None and self._split_error is None:
            manifest = run.manifest
            try:
                if manifest is None:
                    raise HeldoutUnavailable("the run's manifest is unusable")
                self._split = resolve_heldout(self.heldout_path, manifest.split_policy, manifest.probe_hash)
            except HeldoutUnavailable as exc:
                self._split_error = str(exc)
        return self._split

    def recompute(self, row: ControlResult, run: RunData, where: str) -> None:
        if self.model is None:
            self.skip(
                "EVAL-010",
                "results-recompute",
                where,
                "no implementation given: held-out metrics not recomputed (pass --impl)",
            )
            return
        if run.probe is None or run.records is None:
            self.skip("EVAL-010", "results-recompute", where, "the run's probe or rounds did not verify")
            return
        split = self.split_for(run)
        if split is None:
            self.skip("EVAL-010", "results-recompute", where, self._split_error or "no held-out split")
            return
        cache: dict[int, dict[str, Any] | None] = {}

        def at(r: int) -> dict[str, Any] | None:
            if r not in cache:
                found = run.models_at(r)
                if found is None:
                    cache[r] = None
                else:
                    models, _ = found
                    per = [
                        heldout_metrics(self.model, p, split, points=run.probe["points"], targets=run.probe["targets"])
                        for p in models.values()
                    ]  # type: ignore[index]
                    cache[r] = combine(per)
            return cache[r]

        final_round = run.final_round
        assert final_round is not None
        try:
            final = at(final_round)
        except Exception as exc:  # noqa: BLE001 — the implementation's failure is a finding
            self.fail(
                "EVAL-010",
                "results-recompute",
                where,
                f"the implementation failed on the final checkpoint: {type(exc).__name__}: {exc}",
            )
            return
        if final is None:
            self.skip(
                "EVAL-010", "results-recompute", where, f"no verified checkpoint for the final round {final_round}"
            )
        else:
            for key in HELDOUT_KEYS:
                if key in row.metrics:
                    self.compare_claim(
                        "EVAL-010",
                        "results-recompute",
                        f"{where}.metrics.{key}",
                        row.metrics[key],
                        final,
                        key,
                        split.source,
                    )
        for key, series in sorted(row.series.items()):
            if key not in HELDOUT_KEYS:
                continue
            for t, value in enumerate(series):
                try:
                    got = at(t)
                except Exception as exc:  # noqa: BLE001
                    self.fail(
                        "EVAL-011",
                        "series-recompute",
                        f"{where}.series.{key}[{t}]",
                        f"the implementation failed: {type(exc).__name__}: {exc}",
                    )
                    continue
                if got is None:
                    self.skip(
                        "EVAL-011",
                        "series-recompute",
                        f"{where}.series.{key}[{t}]",
                        f"no verified checkpoint for round {t}",
                    )
                    continue
                self.compare_claim(
                    "EVAL-011", "series-recompute", f"{where}.series.{key}[{t}]", value, got, key, split.source
                )

    def compare_claim(
        self, req: str, check: str, subject: str, claimed: float | None, got: Mapping[str, Any], key: str, source: str
    ) -> None:
        if key not in got:
            self.skip(
                req, check, subject, f"not recomputable from the held-out split ({source} lacks actions or states)"
            )
            return
        self.compare(
            req, check, subject, claimed, got[key], key, verb="claims", both_null="null as claimed", source=source
        )


__all__ = ["REQUIRED_METRICS", "REQUIRED_SERIES", "VERDICTS", "ResultsVerifier", "expected_verdict"]
