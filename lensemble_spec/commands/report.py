"""``lensemble-spec report``: render a conformance run's results as HTML, Markdown and JSON.

    lensemble-spec report [--from RESULTS.json] [--out DIR] [--runs RUN_DIR ...]

Reads the ComplianceReport the pytest plugin wrote (default ``.lensemble-spec/results.json``),
optionally adds per-round records from run directories (``RUN_DIR/rounds.jsonl``, see
:mod:`lensemble_spec.report.runs`; a run already in the JSON is replaced by the fresh read), and
writes ``DIR/report.html``, ``DIR/report.md``, ``DIR/results.json`` and ``DIR/plots/*.svg``
(default ``DIR`` = ``.lensemble-spec/report``). Exit status 0 whatever the verdict: the verdict
is in the report (and in the pytest exit status of the run that produced it).
"""

from __future__ import annotations

import argparse
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
                   help="run directories whose per-round records to plot")
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
    from ..report.runs import load_run_records

    report = load_results(Path(args.source))
    if args.runs:
        fresh = [load_run_records(d) for d in args.runs]
        replaced = {r.run_dir for r in fresh}
        runs = [r for r in report.runs if r.run_dir not in replaced] + fresh
        report = report.model_copy(update={"runs": runs})
    written = write_report(report, args.out)
    verdict = report.verdicts.overall
    print(f"verdict: {verdict}")
    for name in ("report.html", "report.md", "results.json"):
        print(f"wrote {written[name]}")
    return 0
