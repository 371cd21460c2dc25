"""Verify a multi-seed comparison directory (RFC-0005 §6.1).

Layout: ``results.json`` (a ResultsTable of schema_version 2) beside one comparison directory per
seed, ``seed-<s>/`` (its run per control and its own schema-version-1 ``results.json``), and the
run directories of configuration variants, ``seed-<s>/variants/<variant>/``. Checks:

* every seed's comparison is verified as a comparison (subjects prefixed ``seed-<s>/``), so with
  ``--impl`` every per-seed row is recomputed from that seed's checkpoints (EVAL-010/011);
* the table's per-seed rows equal that seed's ``results.json`` rows (EVAL-015);
* every variant row is checked against its own run directory like a control row (EVAL-014–017,
  and EVAL-010/011 with ``--impl``);
* every aggregate — mean rows, worst-over-seeds verdicts (EVAL-014), intervals and paired
  differences (EVAL-015) — is recomputed from the per-seed rows with
  :func:`lensemble_spec.aggregate.aggregate` and compared within ``AGGREGATE_RTOL``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..aggregate import aggregate, row_label
from ..errors import LensembleError
from . import files
from .comparison import _verify_comparison
from .report import VerificationReport
from .results import ResultsVerifier
from .run import RunVerifier

#: Relative (and absolute, for values near 0) tolerance when an aggregate is recomputed: the
#: writer and the verifier run the same float64 arithmetic, so only JSON round-trips differ.
AGGREGATE_RTOL = 1e-9


def is_multiseed(root: Path) -> bool:
    """A directory with ``results.json`` and ``seed-*`` comparisons but no manifest of its own."""
    if files.exists(root, files.MANIFEST_FILE) or not files.exists(root, files.RESULTS_FILE):
        return False
    return any(p.is_dir() for p in root.glob("seed-*"))


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return math.isclose(float(a), float(b), rel_tol=AGGREGATE_RTOL, abs_tol=AGGREGATE_RTOL)
    return a == b


def verify_multiseed(root: Path, report: VerificationReport, model: Any, cache: Path | None, heldout: Any) -> None:
    loader = ResultsVerifier(report, {}, model=model, heldout=heldout, hub_cache=cache, subject=files.RESULTS_FILE)
    try:
        raw = files.read_json(root, files.RESULTS_FILE)
    except LensembleError as exc:
        report.failed("EVAL-015", "results-schema", files.RESULTS_FILE, exc.message)
        return
    table = loader.load(raw)
    if table is None:
        return
    if table.schema_version != 2 or table.per_seed is None:
        report.failed(
            "EVAL-015",
            "multiseed-table",
            files.RESULTS_FILE,
            "a directory of seed-* comparisons needs a schema_version 2 table with per_seed rows",
        )
        return
    per_seed = [entry.model_dump(mode="json") for entry in table.per_seed]
    for entry, dumped in zip(table.per_seed, per_seed):
        prefix = f"seed-{entry.seed}/"
        seed_dir = root / f"seed-{entry.seed}"
        if not seed_dir.is_dir():
            report.failed("EVAL-015", "multiseed-seed", prefix, f"no comparison directory for seed {entry.seed}")
            continue
        _verify_comparison(seed_dir, report, model, cache, heldout, prefix=prefix)
        try:
            seed_raw = files.read_json(seed_dir, files.RESULTS_FILE)
        except LensembleError as exc:
            report.failed("EVAL-015", "multiseed-rows", f"{prefix}{files.RESULTS_FILE}", exc.message)
        else:
            theirs = seed_raw.get("controls") if isinstance(seed_raw, dict) else None
            report.judge(
                _close(theirs, dumped["controls"]),
                "EVAL-015",
                "multiseed-rows",
                f"{files.RESULTS_FILE}:per_seed[{entry.seed}]",
                f"rows equal {prefix}{files.RESULTS_FILE}",
                f"rows differ from {prefix}{files.RESULTS_FILE}",
            )
        for row in entry.variants:
            run_dir = seed_dir / "variants" / row.variant
            subject = f"{prefix}variants/{row.variant}/"
            if not (run_dir / files.MANIFEST_FILE).is_file():
                report.failed("EVAL-015", "multiseed-variant", subject, f"no run directory for variant {row.variant!r}")
                continue
            verifier = RunVerifier(run_dir, report, model, cache)
            verifier.prefix = subject
            data = verifier.run()
            ResultsVerifier(
                report, {row.control: data}, model=model, heldout=heldout, hub_cache=cache, subject=f"{subject}row"
            ).check_row(row)
    _check_aggregates(report, raw, per_seed)


def _check_aggregates(report: VerificationReport, raw: dict[str, Any], per_seed: list[dict[str, Any]]) -> None:
    try:
        want = aggregate(per_seed)
    except (KeyError, ValueError, TypeError) as exc:
        report.failed(
            "EVAL-015",
            "multiseed-aggregate",
            files.RESULTS_FILE,
            f"aggregates cannot be recomputed from per_seed: {exc}",
        )
        return
    for group in ("controls", "variants"):
        claimed = {row_label(r): r for r in raw.get(group) or []}
        expected = {row_label(r): r for r in want[group]}
        if set(claimed) != set(expected):
            report.failed(
                "EVAL-015",
                "multiseed-aggregate",
                f"{files.RESULTS_FILE}:{group}",
                f"rows {sorted(claimed)} but per_seed gives {sorted(expected)}",
            )
            continue
        for label, row in expected.items():
            got = claimed[label]
            subject = f"{files.RESULTS_FILE}:{group}.{label}"
            report.judge(
                got.get("verdict") == row["verdict"],
                "EVAL-014",
                "multiseed-verdict",
                subject,
                f"'{row['verdict']}' is the worst per-seed verdict",
                f"claims '{got.get('verdict')}', the worst per-seed verdict is '{row['verdict']}'",
            )
            same = _close(got.get("metrics"), row["metrics"]) and _close(got.get("series"), row["series"])
            report.judge(
                same,
                "EVAL-015",
                "multiseed-mean",
                subject,
                "metrics and series are the means over seeds",
                "metrics or series differ from the means over the per-seed rows",
            )
    for key in ("interval_method", "intervals", "differences"):
        report.judge(
            _close(raw.get(key), want[key]),
            "EVAL-015",
            "multiseed-intervals",
            f"{files.RESULTS_FILE}:{key}",
            "recomputed from per_seed",
            "differs from the value recomputed from per_seed",
        )


__all__ = ["AGGREGATE_RTOL", "is_multiseed", "verify_multiseed"]
