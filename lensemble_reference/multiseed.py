"""The headline over several seeds: seeds × controls in parallel worker processes (RFC-0005 §6.1).

``run_multiseed(cfg, out_dir, seeds=(0, 1, 2))`` writes::

    OUT/seed-<s>/<control>/                 one run directory per control (a comparison directory)
    OUT/seed-<s>/results.json               that seed's ResultsTable (schema_version 1)
    OUT/seed-<s>/variants/<variant>/        run directories of configuration variants (the
                                            frame-only anchor), same seed, data and θ_0
    OUT/results.json                        ResultsTable schema_version 2: per-seed rows, mean
                                            rows with worst-over-seeds verdicts, t-intervals and
                                            paired differences (lensemble_spec.aggregate)
    OUT/summary.json                        wall/CPU times, load averages, claims per seed and pooled
    OUT/headline.md                         the printed text

Every (seed, control) pair is one job; jobs run in ``workers`` spawned processes with one torch
thread each (the config's ``threads``), longest first. A job trains, then evaluates its run on the
held-out split, and returns its ResultsTable row. Seeds vary ``cfg.seed`` (θ_0, batches,
sketches); the world (data, held-out split, probe) is the same for every seed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lensemble_spec.errors import ConfigError
from lensemble_spec.protocol import CONTROLS

#: Configuration variants compared with the reference ``anchored`` control: name → config changes.
VARIANTS: dict[str, dict[str, Any]] = {
    "frame-anchor": {"anchor_variant": "frame", "lambda_anchor": 1.0},
}
#: Relative cost of a job (for longest-first scheduling): participants × batch per step.
_COST = {"local-only": 4.0, "naive-fedavg": 4.2, "anchored": 4.5, "centralized": 4.0}


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-4"`` → (0, 1, 2, 3, 4); ``"0,2,7"`` → (0, 2, 7); mixed ``"0-2,5"`` allowed."""
    seeds: list[int] = []
    try:
        for part in (p.strip() for p in str(text).split(",")):
            if not part:
                continue
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise ConfigError(
            f"--seeds {text!r} is not a list or range of seeds",
            remediation="Use e.g. --seeds 0-4 or --seeds 0,1,7.",
            field="seeds",
        ) from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(
            f"--seeds {text!r} must name distinct non-negative seeds",
            remediation="Use e.g. --seeds 0-4.",
            field="seeds",
        )
    return tuple(seeds)


@dataclass(frozen=True)
class Job:
    seed: int
    control: str
    variant: str | None
    config: dict[str, Any]
    run_dir: str
    engine: Callable[[], Any] | None = None  # a module-level factory (picklable); None: in-process
    planning: dict[str, Any] | None = None  # RFC-0005 §6.2 conditions (Conditions.to_dict()); None: no planning


@dataclass
class JobResult:
    job: Job
    row: dict[str, Any]
    wall_s: float
    cpu_s: float
    records: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # set only by run_jobs(..., tolerate=True) when training raised
    planning: Any = None  # the closed-loop Outcome of the job's final model(s), when asked for


def _worker_init(threads: int) -> None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LENSEMBLE_THREADS"):
        os.environ[name] = str(threads)


def run_job(job: Job, data: tuple[Any, Any] | None = None) -> JobResult:
    """Train one control (or variant) of one seed and evaluate it on the held-out split."""
    from .config import TrainConfig
    from .controls import run_control, world_splits
    from .evaluate import evaluate_run
    from .federation import run_federated
    from .headline import control_row

    t0, c0 = time.perf_counter(), time.process_time()
    cfg = TrainConfig.from_dict(job.config).validate()
    inputs, heldout = world_splits(cfg) if data is None else data
    if job.engine is not None:
        result = run_federated(cfg, inputs, Path(job.run_dir), engine=job.engine())
    else:
        result = run_control(cfg, inputs, Path(job.run_dir))
    evaluation = evaluate_run(result.run_dir, heldout)
    row = control_row(job.control, evaluation, result.records, getattr(result, "series", None))
    if job.variant:
        row["variant"] = job.variant
    outcome = None
    if job.planning is not None and inputs.world is not None:
        from lensemble_spec.planning import Conditions

        from .planning_eval import METRIC, plan_run

        outcome = plan_run(result.run_dir, inputs.world, Conditions.from_dict(job.planning))
        row["metrics"][METRIC] = outcome.rate
    return JobResult(job, row, time.perf_counter() - t0, time.process_time() - c0, planning=outcome)


def run_job_tolerant(job: Job, data: tuple[Any, Any] | None = None) -> JobResult:
    """:func:`run_job`, but a LensembleError (e.g. a non-finite global) becomes ``error``."""
    from lensemble_spec.errors import LensembleError

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        return run_job(job, data)
    except LensembleError as exc:
        return JobResult(
            job, {}, time.perf_counter() - t0, time.process_time() - c0, error=f"{type(exc).__name__}: {exc.message}"
        )


def plan_jobs(
    cfg: Any,
    out_dir: Path,
    seeds: Sequence[int],
    controls: Sequence[str],
    variants: Sequence[str],
    planning: dict[str, Any] | None = None,
) -> list[Job]:
    """One job per (seed, control) and (seed, variant); ``planning`` (conditions) plans with every control's model."""
    jobs = []
    for seed in seeds:
        base = cfg.replace(seed=seed)
        for control in controls:
            jobs.append(
                Job(
                    seed,
                    control,
                    None,
                    base.for_control(control).to_dict(),
                    str(out_dir / f"seed-{seed}" / control),
                    planning=planning,
                )
            )
        for name in variants:
            vcfg = base.for_control("anchored").replace(**VARIANTS[name]).validate()
            jobs.append(Job(seed, "anchored", name, vcfg.to_dict(), str(out_dir / f"seed-{seed}" / "variants" / name)))
    return jobs


def run_jobs(
    jobs: Sequence[Job],
    *,
    workers: int,
    threads: int,
    show_progress: bool = True,
    data: tuple[Any, Any] | None = None,
    tolerate: bool = False,
) -> list[JobResult]:
    """Run ``jobs`` (longest first) in ``workers`` spawned processes; 1 worker runs them here.

    ``tolerate``: a job whose training raises a LensembleError returns a result with ``error``
    set instead of failing the whole batch (the seed-card replay, whose defective runs may diverge).
    """
    fn = run_job_tolerant if tolerate else run_job
    order = sorted(jobs, key=lambda j: -_COST.get(j.control, 4.0))
    done: list[JobResult] = []
    started = time.perf_counter()

    def report(r: JobResult) -> None:
        done.append(r)
        if show_progress:
            label = f"{r.job.control}{'/' + r.job.variant if r.job.variant else ''}"
            print(
                f"  [{len(done)}/{len(jobs)}] seed {r.job.seed} {label}: "
                f"{r.wall_s:.0f}s{' FAILED ' + r.error if r.error else ''} "
                f"(elapsed {time.perf_counter() - started:.0f}s)",
                file=sys.stderr,
                flush=True,
            )

    if workers <= 1:
        for job in order:
            report(fn(job, data))
        return done
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_worker_init, initargs=(threads,)
    ) as pool:
        futures = [pool.submit(fn, job, data) for job in order]
        for fut in as_completed(futures):
            report(fut.result())
    return done


def seed_tables(results: Sequence[JobResult], seeds: Sequence[int], controls: Sequence[str]) -> list[dict[str, Any]]:
    """``per_seed`` entries: ``{seed, controls: [rows in CONTROLS order], variants: [...]}``."""
    out = []
    for seed in seeds:
        mine = [r for r in results if r.job.seed == seed]
        rows = {r.job.control: r.row for r in mine if not r.job.variant}
        variants = sorted((r.row for r in mine if r.job.variant), key=lambda row: row["variant"])
        out.append({"seed": seed, "controls": [rows[c] for c in controls if c in rows], "variants": variants})
    return out


def seed_planning(results: Sequence[JobResult], seeds: Sequence[int], c: Any) -> dict[int, dict[str, Any]]:
    """Each seed's ``planning`` object: its controls' outcomes plus the baselines (same conditions)."""
    from .config import TrainConfig
    from .planning_eval import comparison_planning, world_spec

    out = {}
    for seed in seeds:
        mine = [r for r in results if r.job.seed == seed and not r.job.variant and r.planning is not None]
        if mine:
            world = world_spec(TrainConfig.from_dict(mine[0].job.config))
            out[seed] = comparison_planning({r.job.control: r.planning for r in mine}, world, c)
    return out


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def run_multiseed(
    cfg: Any,
    out_dir: Path,
    *,
    seeds: Sequence[int],
    controls: Sequence[str] = CONTROLS,
    variants: Sequence[str] = tuple(VARIANTS),
    workers: int | None = None,
    show_progress: bool = True,
    title: str = "lensemble-spec headline over seeds",
    planning: Any = None,
) -> dict[str, Any]:
    """Run every (seed, control/variant) job and write the comparison files (module docstring).

    ``planning`` (a :class:`lensemble_spec.planning.Conditions`) adds closed-loop planning with every
    control's final model(s) and the baselines to each seed's table (RFC-0005 §6.2)."""
    from lensemble_spec.artifacts import atomic_write_json, atomic_write_text
    from lensemble_spec.errors import ArtifactError

    from .multiseed_report import build_documents

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ArtifactError(
            f"{out_dir} exists and is not empty",
            remediation="Choose a new --out directory; runs are written once and never overwritten.",
        )
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ConfigError(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}", field="variants")
    workers = workers or default_workers()
    started = time.perf_counter()
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    jobs = plan_jobs(cfg, out_dir, seeds, controls, variants, planning=None if planning is None else planning.to_dict())
    results = run_jobs(jobs, workers=workers, threads=cfg.threads, show_progress=show_progress)
    per_seed = seed_tables(results, seeds, controls)
    records = seed_planning(results, seeds, planning) if planning is not None else None
    docs = build_documents(per_seed, seeds=seeds, title=title, planning=records)
    for entry, seed_doc in zip(per_seed, docs["seed_tables"]):
        atomic_write_json(out_dir / f"seed-{entry['seed']}" / "results.json", seed_doc)
    atomic_write_json(out_dir / "results.json", docs["table"])
    wall = time.perf_counter() - started
    summary = {
        "seeds": list(seeds),
        "workers": workers,
        "threads_per_worker": cfg.threads,
        "wall_time_s": wall,
        "job_cpu_time_s": sum(r.cpu_s for r in results),
        "job_wall_time_s": {
            f"seed-{r.job.seed}/{r.job.control}{'/' + r.job.variant if r.job.variant else ''}": r.wall_s
            for r in results
        },
        "load_average_start": list(load_start) if load_start else None,
        "load_average_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "claims": docs["claims"],
    }
    cores = max(1, min(workers, os.cpu_count() or 1))
    summary["idle_estimate_s"] = summary["job_cpu_time_s"] / cores
    text = (
        docs["text"]
        + "\n\n"
        + (
            f"{len(jobs)} jobs ({len(seeds)} seeds × {len(controls)} controls + {len(variants)} variant(s)) in "
            f"{workers} worker(s), "
            f"1 torch thread each: wall {wall:.0f}s, job CPU {summary['job_cpu_time_s']:.0f}s "
            f"(≈ {summary['idle_estimate_s']:.0f}s of work per core on {cores} cores); load average "
            f"{_fmt_load(load_start)} → {_fmt_load(summary['load_average_end'])}"
        )
    )
    summary["text"] = text
    atomic_write_json(out_dir / "summary.json", summary)
    atomic_write_text(out_dir / "headline.md", "```\n" + text + "\n```\n")
    return {**docs["table"], **summary}


def _fmt_load(load: Any) -> str:
    return "n/a" if not load else "/".join(f"{x:.1f}" for x in load)
