"""Verify a comparison directory: one run per control beside a results table (RFC-0005 §6)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts.canonical import strip_sink_paths
from ..artifacts.paths import confine
from ..artifacts.reading import is_directory, is_regular_file
from ..constants import CONTROLS
from ..errors import LensembleError
from . import files
from .report import VerificationReport
from .results import ResultsVerifier
from .run import RunVerifier
from .rundata import RunData

#: Configuration keys every run of a comparison shares (EVAL-003).
SHARED_KEYS = ("rounds", "inner_steps", "batch_size", "inner_lr", "lambda_sigreg", "outer")
#: The only keys in which the naive control may differ from the anchored one (EVAL-004).
NAIVE_DIFFERS_IN = ("control", "lambda_anchor", "backstop")


def _is_run_dir(path: Path) -> bool:
    return not os.path.islink(path) and is_directory(path) and is_regular_file(path / files.MANIFEST_FILE)


def is_comparison(root: Path) -> bool:
    return not files.exists(root, files.MANIFEST_FILE) and any(
        files.exists(root, c) and _is_run_dir(root / c) for c in CONTROLS
    )


def _incomplete_comparison(root: Path, report: VerificationReport) -> bool:
    """A comparison the headline writer marked partial: which runs are done, how to resume."""
    state = files.resume_state(root)
    if files.exists(root, files.MANIFEST_FILE) or not state or state.get("kind") != "comparison":
        return False
    done = [c for c in CONTROLS if _is_run_dir(root / c)]
    pending = [c for c in CONTROLS if c not in done and is_directory(root / (c + files.PARTIAL_SUFFIX))]
    rounds = []
    for c in pending:
        t = (files.resume_state(root / (c + files.PARTIAL_SUFFIX)) or {}).get("round_index")
        rounds.append(
            f"{c} (last committed round {t})"
            if isinstance(t, int) and not isinstance(t, bool)
            else f"{c} (no round committed)"
        )
    name = root.resolve().name
    target = root.resolve().parent / name.removesuffix(files.PARTIAL_SUFFIX)
    message = (
        f"incomplete comparison: runs complete {done or 'none'}; in progress {rounds or 'none'}; "
        f"resume with `lensemble-spec headline --resume {target}`"
    )
    report.failed("EVAL-015", "results-schema", ".", message)
    return True


def _verify_results(
    root: Path,
    report: VerificationReport,
    runs: dict[str, RunData],
    model: Any,
    cache: Path | None,
    heldout: Any,
    subject: str,
    expected_controls: tuple[str, ...] | None = None,
) -> None:
    verifier = ResultsVerifier(
        report,
        runs,
        model=model,
        heldout=heldout,
        hub_cache=cache,
        subject=subject,
        expected_controls=expected_controls,
    )
    try:
        raw = files.read_json(root, files.RESULTS_FILE)
    except LensembleError as exc:
        report.failed("EVAL-015", "results-schema", subject, exc.message)
        return
    table = verifier.load(raw)
    if table is not None:
        verifier.check_table(table)


def _verify_comparison(
    root: Path, report: VerificationReport, model: Any, cache: Path | None, heldout: Any, prefix: str = ""
) -> dict[str, RunData]:
    """Verify a comparison directory; ``prefix`` (e.g. ``seed-0/``) starts every subject."""
    runs: dict[str, RunData] = {}
    for control in CONTROLS:
        if not files.exists(root, control):
            continue
        try:
            confine(root, control)
        except LensembleError as exc:
            report.failed("ART-026", "path-confinement", f"{prefix}{control}/", exc.message)
            continue
        if os.path.islink(root / control):
            report.failed(
                "EVAL-001",
                "comparison-layout",
                f"{prefix}{control}/",
                "the run directory is a symlink; a comparison holds its runs",
            )
            continue
        if _is_run_dir(root / control) or files.is_partial(root / control):
            verifier = RunVerifier(root / control, report, model, cache)
            verifier.prefix = f"{prefix}{control}/"
            runs[control] = verifier.run()
    extra = files.comparison_unexpected(root, CONTROLS, extra_dirs=("variants",) if prefix else ())
    if extra:
        shown = ", ".join(extra[:8]) + (" …" if len(extra) > 8 else "")
        report.failed(
            "EVAL-001",
            "comparison-layout",
            f"{prefix}.",
            f"unexpected entries {shown} (a comparison holds results.json, one run per control and reports)",
        )
    else:
        report.passed(
            "EVAL-001",
            "comparison-layout",
            f"{prefix}.",
            "results.json, the runs named by their controls and reports only",
        )
    runs = {c: r for c, r in runs.items() if r.manifest is not None or files.exists(r.root, files.MANIFEST_FILE)}
    _check_comparison(report, runs, subject=f"{prefix}comparison")
    if files.exists(root, files.RESULTS_FILE):
        _verify_results(
            root, report, runs, model, cache, heldout, f"{prefix}{files.RESULTS_FILE}", expected_controls=CONTROLS
        )
    else:
        report.failed(
            "EVAL-015", "results-schema", f"{prefix}{files.RESULTS_FILE}", "the comparison has no results.json"
        )
    return runs


def _check_comparison(report: VerificationReport, runs: dict[str, RunData], subject: str = "comparison") -> None:
    missing = [c for c in CONTROLS if c not in runs]
    manifests = {c: r.manifest for c, r in runs.items() if r.manifest is not None}
    problems = [f"no run of {missing}"] if missing else []
    for key in ("root_seed", "probe_hash", "split_policy"):
        values = {c: getattr(m, key) for c, m in manifests.items()}
        if len({repr(v) for v in values.values()}) > 1:
            problems.append(f"runs disagree on {key}")
    if problems:
        report.failed("EVAL-001", "comparison-runs", subject, "; ".join(problems))
    else:
        report.passed("EVAL-001", "comparison-runs", subject, "one run per control, same seed, probe and split")
    round0 = {}
    for c, r in runs.items():
        g = r.global_at(0)
        if g is not None and g.tensors is not None:
            round0[c] = g.tensors
    if len(round0) < 2:
        report.skipped("EVAL-002", "comparison-theta0", subject, "fewer than two verified round-0 checkpoints")
    else:
        first_c, first = next(iter(round0.items()))
        differ = [
            c
            for c, t in round0.items()
            if set(t) != set(first) or any(not np.array_equal(t[k], first[k]) for k in first)
        ]
        if differ:
            report.failed(
                "EVAL-002", "comparison-theta0", subject, f"round-0 tensors of {differ} differ from {first_c}'s"
            )
        else:
            report.passed(
                "EVAL-002", "comparison-theta0", subject, f"{len(round0)} runs start from bitwise identical θ_0"
            )
    configs = {c: strip_sink_paths(m.config) for c, m in manifests.items()}  # where outputs went is not configuration
    if len(configs) >= 2:
        diff = [k for k in SHARED_KEYS if len({repr(cfg.get(k)) for cfg in configs.values()}) > 1]
        if diff:
            report.failed("EVAL-003", "comparison-config", subject, f"runs disagree on {diff}")
        else:
            report.passed("EVAL-003", "comparison-config", subject, f"runs agree on {', '.join(SHARED_KEYS)}")
    anchored, naive = configs.get("anchored"), configs.get("naive-fedavg")
    if anchored is not None and naive is not None:
        keys = sorted(set(anchored) | set(naive))
        extra = [k for k in keys if k not in NAIVE_DIFFERS_IN and anchored.get(k) != naive.get(k)]
        wrong = [k for k, want in (("lambda_anchor", 0), ("backstop", False)) if naive.get(k) != want]
        if extra or wrong:
            report.failed(
                "EVAL-004",
                "naive-config",
                subject,
                f"naive differs from anchored in {extra}; settings not as required: {wrong}",
            )
        else:
            report.passed(
                "EVAL-004", "naive-config", subject, "naive = anchored with lambda_anchor 0 and the backstop off"
            )
