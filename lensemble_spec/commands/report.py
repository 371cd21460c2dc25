"""``lensemble-spec report``: render a conformance run's results as HTML, Markdown and JSON.

    lensemble-spec report [--from RESULTS.json] [--out DIR] [--runs RUN_DIR ...] [--require conformant]

Reads the ComplianceReport the pytest plugin wrote (default ``.lensemble-spec/results.json``),
optionally adds per-round records from run or comparison directories (``RUN_DIR/rounds.jsonl``;
a comparison directory adds one run per control, see :mod:`lensemble_spec.report.runs`; a run
already in the JSON is replaced by the fresh read), and writes ``DIR/report.html``,
``DIR/report.md``, ``DIR/results.json``, ``DIR/plots/*.svg`` and ``DIR/rfcs/*.html`` (default
``DIR`` = ``.lensemble-spec/report``). A comparison directory recorded in the JSON by an older
plugin as a single run without records is re-read the same way when it still exists.

Exit status: 0, or with ``--require conformant`` 3 when the verdict is anything else (the report
is written either way), so a CI step can gate on it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ArtifactError

DEFAULT_RESULTS = Path(".lensemble-spec") / "results.json"
DEFAULT_OUT = Path(".lensemble-spec") / "report"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="render compliance results (from the pytest plugin) as HTML + Markdown + JSON",
        description="Render the compliance JSON of a conformance run (pytest --impl ...) as "
        "report.html, report.md and results.json, with per-round plots of run directories.",
    )
    p.add_argument("--from", dest="source", type=Path, default=DEFAULT_RESULTS, metavar="RESULTS.json",
                   help=f"compliance JSON written by the pytest plugin (default {DEFAULT_RESULTS})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help=f"output directory (default {DEFAULT_OUT})")
    p.add_argument("--runs", nargs="+", type=Path, default=[], metavar="RUN_DIR",
                   help="run or comparison directories whose per-round records to plot")
    p.add_argument("--require", choices=["conformant"], default=None,
                   help="exit 3 unless the verdict is conformant (the report is still written)")
    p.set_defaults(func=run)


def load_results(path: Path):
    """Read and validate a ComplianceReport (typed errors for a missing or invalid file)."""
    from ..schemas import load_document
    from ..schemas.compliance import ComplianceReport

    if not path.is_file():
        raise ArtifactError(
            f"no compliance results at {path}",
            remediation="Run the conformance suite first (pytest conformance --impl MODULE) or pass --from PATH.",
        )
    return load_document(ComplianceReport, path)


def run(args: argparse.Namespace) -> int:
    from ..report.render import write_report
    from ..report.runs import is_comparison, load_runs

    report = load_results(Path(args.source))
    runs = []
    for r in report.runs:  # a comparison read as one run by an older plugin: expand it now
        runs += load_runs(r.run_dir) if not r.records and is_comparison(r.run_dir) else [r]
    if args.runs:
        fresh = [r for d in args.runs for r in load_runs(d)]
        replaced = {r.run_dir for r in fresh} | {str(Path(d).resolve()) for d in args.runs}
        runs = [r for r in runs if r.run_dir not in replaced] + fresh
    report = report.model_copy(update={"runs": runs})
    written = write_report(report, args.out)
    verdict = report.verdicts.overall
    print(f"verdict: {verdict}")
    for name in ("report.html", "report.md", "results.json"):
        print(f"wrote {written[name]}")
    if args.require == "conformant" and verdict != "conformant":
        print(f"--require conformant: the verdict is {verdict}", file=sys.stderr)
        return 3
    return 0
