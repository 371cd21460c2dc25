"""Verify a results table's ``planning`` object (RFC-0005 §6.2): EVAL-019, EVAL-020, EVAL-021.

* EVAL-019 — one set of conditions for every outcome: each outcome's task digest is the digest of
  the tasks the recorded conditions draw, its episode count is ``episodes`` × the number of models
  the row evaluates (the run's final participants for local-only, else one), the three baselines
  and every reporting control have an outcome, and the environment is the held-out appearance
  the runs' manifests record (when they record a synthetic world);
* EVAL-020 — success from the environment's state: each flag is ``final_distance <
  success_radius``, each ``rate`` the fraction of successes with its Wilson interval, and each
  row's ``mpc_success_rate`` its outcome's rate;
* EVAL-021 — recomputation: the baselines from the world alone, every control from its final
  checkpoints through the model part (``--impl``), under the recorded conditions; success flags
  must be identical and distances within ``RECOMPUTE_RTOL``/``RECOMPUTE_ATOL``. A closed loop
  amplifies last-bit differences (a planner's ranking of candidates can flip), so the recompute
  is meant for the numeric platform the table was written on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import LensembleError
from ..schemas import ResultsTable
from ..schemas.results import PlanningOutcome

METRIC = "mpc_success_rate"


def _wilson(k: int, n: int) -> tuple[float, float]:
    from ..planning.intervals import wilson_interval

    return wilson_interval(k, n)


def check_planning(v: Any, table: ResultsTable) -> None:
    """Run the checks of the module docstring; ``v`` is the calling :class:`~.results.ResultsVerifier`."""
    from ..planning import (
        BASELINE_PREFIX,
        BASELINES,
        Conditions,
        evaluate_baselines,
        evaluate_models,
        style_from_dict,
    )

    rec = table.planning
    subject = f"{v.subject}:planning"
    reporting = [r.control for r in table.controls if METRIC in r.metrics]
    if rec is None:
        if reporting:
            v.fail(
                "EVAL-019",
                "planning-conditions",
                subject,
                f"rows {reporting} report {METRIC} but the table has no planning record",
            )
        return
    try:
        cond = Conditions.from_dict(rec.conditions)
        style = style_from_dict(rec.environment["style"])
        size = int(rec.environment["image_size"])
        tasks = cond.tasks()
    except (LensembleError, KeyError, TypeError, ValueError) as exc:
        v.fail(
            "EVAL-019", "planning-conditions", subject, f"the recorded conditions or environment are unusable: {exc}"
        )
        return
    digest = tasks.digest()
    problems: list[str] = []
    for control, run in sorted(v.runs.items()):
        world = (
            (run.manifest.split_policy or {}).get("world")
            if run.manifest is not None and isinstance(run.manifest.split_policy, dict)
            else None
        )
        if isinstance(world, dict) and world.get("heldout", {}).get("style") != rec.environment.get("style"):
            problems.append(f"environment is not the held-out appearance of {control}'s world")
    expected = [*reporting, *(BASELINE_PREFIX + b for b in BASELINES)]
    missing = [label for label in expected if label not in rec.outcomes]
    if missing:
        problems.append(f"no outcome for {missing}")
    models: dict[str, list[Any]] = {}
    for label, out in sorted(rec.outcomes.items()):
        n_models: int | None = 1 if label.startswith(BASELINE_PREFIX) else None  # None: a control without a usable run
        run = v.runs.get(label)
        if run is not None and run.final_round is not None:
            found = run.models_at(run.final_round)
            if found is not None:
                models[label] = [found[0][k] for k in sorted(found[0])]
                n_models = len(models[label])
        if out.tasks_digest != digest:
            problems.append(
                f"{label} ran other tasks (digest {out.tasks_digest[:12]}…, the conditions draw {digest[:12]}…)"
            )
        n = len(out.success)
        if (n_models is not None and n != cond.episodes * n_models) or n % cond.episodes:
            problems.append(f"{label} has {n} episodes, the conditions give {cond.episodes} × {n_models or 'k'} models")
    if problems:
        v.fail("EVAL-019", "planning-conditions", subject, "; ".join(problems))
    else:
        v.ok(
            "EVAL-019",
            "planning-conditions",
            subject,
            f"{len(rec.outcomes)} outcomes under one set of conditions ({cond.episodes} tasks)",
        )

    for label, out in sorted(rec.outcomes.items()):
        _check_outcome(v, f"{subject}.{label}", out, cond.success_radius, table, label)

    # EVAL-021: recompute
    try:
        base = evaluate_baselines(cond, style, size)
    except LensembleError as exc:
        v.fail("EVAL-021", "planning-recompute", subject, f"the baselines cannot be recomputed: {exc.message}")
        base = {}
    for name, got in base.items():
        label = BASELINE_PREFIX + name
        if label in rec.outcomes:
            _compare(v, f"{subject}.{label}", rec.outcomes[label], got)
    for label in reporting:
        if label not in rec.outcomes:
            continue
        if v.model is None:
            v.skip(
                "EVAL-021",
                "planning-recompute",
                f"{subject}.{label}",
                "no implementation given: planning not recomputed (pass --impl)",
            )
            continue
        if label not in models:
            v.skip("EVAL-021", "planning-recompute", f"{subject}.{label}", "no verified final checkpoint to plan with")
            continue
        try:
            got = evaluate_models(v.model, models[label], cond, style, size)
        except Exception as exc:  # noqa: BLE001 — the implementation's failure is a finding
            v.fail(
                "EVAL-021",
                "planning-recompute",
                f"{subject}.{label}",
                f"the implementation failed while planning: {type(exc).__name__}: {exc}",
            )
            continue
        _compare(v, f"{subject}.{label}", rec.outcomes[label], got)


def _check_outcome(v: Any, where: str, out: PlanningOutcome, radius: float, table: ResultsTable, label: str) -> None:
    problems = []
    wrong = [i for i, (d, s) in enumerate(zip(out.final_distance, out.success)) if (d < radius) != s]
    if wrong:
        problems.append(f"episodes {wrong[:5]} flag success against final_distance < {radius}")
    n, k = len(out.success), sum(out.success)
    if not math.isclose(out.rate, k / n, rel_tol=1e-12, abs_tol=1e-12):
        problems.append(f"rate {out.rate} but {k} of {n} episodes succeed")
    low, high = _wilson(k, n)
    if not (math.isclose(out.low, low, abs_tol=1e-9) and math.isclose(out.high, high, abs_tol=1e-9)):
        problems.append(f"interval [{out.low}, {out.high}] is not the Wilson interval [{low:.6f}, {high:.6f}]")
    row = next((r for r in table.controls if r.control == label), None)
    if (
        row is not None
        and METRIC in row.metrics
        and not (row.metrics[METRIC] is not None and math.isclose(row.metrics[METRIC], out.rate, abs_tol=1e-12))
    ):
        problems.append(f"the row's {METRIC} {row.metrics[METRIC]} is not its outcome's rate {out.rate}")
    if problems:
        v.fail("EVAL-020", "planning-success", where, "; ".join(problems))
    else:
        v.ok("EVAL-020", "planning-success", where, f"{k}/{n} episodes by the true end-effector distance")


def _compare(v: Any, where: str, claimed: PlanningOutcome, got: Any) -> None:
    tol = v.tol.metric
    dist = np.asarray(got.final_distance, dtype=np.float64)
    if got.tasks_digest != claimed.tasks_digest or dist.shape[0] != len(claimed.final_distance):
        v.fail(
            "EVAL-021",
            "planning-recompute",
            where,
            f"recomputed {dist.shape[0]} episodes on tasks {got.tasks_digest[:12]}…, the table records "
            f"{len(claimed.final_distance)} on {claimed.tasks_digest[:12]}…",
        )
        return
    flags = [bool(x) for x in got.success]
    far = [i for i, (a, b) in enumerate(zip(dist, claimed.final_distance)) if not tol.close(float(a), float(b))]
    if flags != list(claimed.success) or far:
        v.fail(
            "EVAL-021",
            "planning-recompute",
            where,
            f"claims {sum(claimed.success)}/{len(flags)} successes, recomputed {sum(flags)}/{len(flags)}; distances "
            f"differ in episodes {far[:5]} ({tol.describe()})",
        )
    else:
        v.ok("EVAL-021", "planning-recompute", where, f"{sum(flags)}/{len(flags)} successes recomputed")


__all__ = ["METRIC", "check_planning"]
