"""``lensemble-spec verify``: verify a run or comparison directory, and/or a claim document.

    lensemble-spec verify RUN_DIR [--impl MODULE[:ATTR]] [--hub-cache DIR] [--heldout FILE] [--json]
    lensemble-spec verify --claims seed|FILE [RUN_OR_COMPARISON_DIR] [--claim-values] [--hub-cache DIR]

Every finding names the requirement it checks. Exit status: 0 when nothing failed and something
passed, 1 when any check failed (or nothing could be verified), 2 on usage errors. ``--json``
prints the whole report as JSON on stdout; the text report escapes control characters, so a file
name cannot forge a line. The hub cache is only ever read (no network). A killed run's
``OUT.partial`` reads "incomplete run: last committed round t; resume with …".
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="verify a run directory (hashes, chain, pins, recomputed metrics) or a claim document",
        description=(
            "Check a run or comparison directory from its files alone — manifest, checkpoints and "
            "their content hashes, parent chain, round records, probe, pins, and the recomputation "
            "of recorded and claimed metrics from the committed weights — naming the requirement "
            "behind every finding. Exit 1 on any failure."
        ),
    )
    parser.add_argument(
        "run_dir",
        nargs="?",
        metavar="DIR",
        help="run directory (manifest.json) or comparison directory (results.json + one run per control)",
    )
    parser.add_argument(
        "--impl", metavar="MODULE[:ATTR]", help="implementation whose model part re-encodes the checkpoints"
    )
    parser.add_argument(
        "--hub-cache", metavar="DIR", help="Hugging Face cache directory in which to resolve pins (read offline)"
    )
    parser.add_argument("--heldout", metavar="FILE", help="safetensors file with the held-out obs/actions/states")
    parser.add_argument("--claims", metavar="seed|FILE", help="claim document to check ('seed' = the seed model card)")
    parser.add_argument(
        "--claim-values", action="store_true", help="also compare the claim document's numbers with the results table"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--failures-only", action="store_true", help="list only failed and skipped findings")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..verify import VerificationReport, check_claims, verify_run

    if not args.run_dir and not args.claims:
        raise InputError(
            "nothing to verify",
            remediation="Give a run or comparison directory, or --claims seed|FILE (or both).",
        )
    if args.run_dir:
        report = verify_run(args.run_dir, impl=args.impl, hub_cache=args.hub_cache, heldout=args.heldout)
    else:
        report = VerificationReport(target=f"claims {args.claims}", hub_cache=args.hub_cache)
    if args.claims:
        from ..claims import load_claims, seed_claims

        doc = seed_claims() if args.claims == "seed" else load_claims(args.claims)
        table = _results_table(Path(args.run_dir)) if args.run_dir else None
        check_claims(doc, report, table=table, hub_cache=args.hub_cache, values=args.claim_values)
    if args.json:
        print(report.to_json(), end="")
    else:
        print(report.render_text(show_passed=not args.failures_only))
    return 0 if report.ok else 1


def _results_table(root: Path):  # type: ignore[no-untyped-def]
    """The directory's results table if it has a valid one (its problems are already findings)."""
    from ..artifacts.paths import confine
    from ..errors import LensembleError
    from ..schemas import ResultsTable, load_document
    from ..verify import files

    if not files.exists(root, files.RESULTS_FILE):
        return None
    try:
        return load_document(ResultsTable, confine(root, files.RESULTS_FILE))
    except LensembleError:
        return None
