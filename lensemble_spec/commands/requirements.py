"""``lensemble-spec requirements``: list the requirement catalog parsed from the RFCs.

Text output is one row per requirement (id, level, RFC, section, text) followed by a count line;
``--json`` prints a JSON array of objects with the :class:`~lensemble_spec.requirements.Requirement`
fields (``id, rfc, section, level, text, file, line``) and nothing else.

``--tests`` prints, per requirement, its RFC location (``rfcs/RFC-….md:line``) and the
conformance tests whose markers name it (``conformance/test_….py::test_…``, from the static scan
of :mod:`lensemble_spec.requirement_tests`), or ``(no conformance test)``; with ``--json`` each
object gains ``rfc_location`` and ``tests``. Markers the scan cannot read are printed to stderr
and make the exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from ..requirement_tests import TestRef, scan_requirement_tests
from ..requirements import LEVELS, Requirement, load_catalog


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "requirements",
        help="list the requirements parsed from the RFCs",
        description="List the requirement catalog (ids, RFC 2119 levels, sections, text) parsed from rfcs/.",
    )
    parser.add_argument("--rfc", metavar="NNNN", help="only this RFC (e.g. 0002 or RFC-0002)")
    parser.add_argument(
        "--level", type=str.upper, choices=LEVELS, help="only requirements of this level"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    parser.add_argument(
        "--tests",
        action="store_true",
        help="print each requirement's RFC file:line and the conformance tests that check it",
    )
    parser.add_argument(
        "--rfc-dir", type=Path, default=None, metavar="DIR", help="read RFCs from DIR instead of the packaged ones"
    )
    parser.set_defaults(func=run)


def format_table(requirements: tuple[Requirement, ...]) -> str:
    """Aligned text rows plus a final count line."""
    rows = [("ID", "LEVEL", "RFC", "SECTION", "REQUIREMENT")]
    rows += [(r.id, r.level, r.rfc, f"§{r.section}", r.text) for r in requirements]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    counts = Counter(r.level for r in requirements)
    summary = ", ".join(f"{counts[level]} {level}" for level in LEVELS)
    noun = "requirement" if len(requirements) == 1 else "requirements"
    lines.append(f"{len(requirements)} {noun} ({summary})")
    return "\n".join(lines) + "\n"


def format_json(requirements: tuple[Requirement, ...]) -> str:
    return json.dumps([asdict(r) for r in requirements], indent=2, ensure_ascii=False) + "\n"


def format_tests(requirements: tuple[Requirement, ...], tests: dict[str, list[TestRef]]) -> str:
    """Per requirement: ``ID  LEVEL  rfcs/RFC-….md:line`` then one indented line per test."""
    lines: list[str] = []
    for r in requirements:
        lines.append(f"{r.id}  {r.level}  {r.rfc_location}")
        nodeids = list(dict.fromkeys(ref.nodeid for ref in tests.get(r.id, [])))
        lines += [f"  {n}" for n in nodeids] or ["  (no conformance test)"]
    covered = sum(1 for r in requirements if tests.get(r.id))
    noun = "requirement" if len(requirements) == 1 else "requirements"
    lines.append(f"{len(requirements)} {noun}, {covered} with a conformance test")
    return "\n".join(lines) + "\n"


def format_tests_json(requirements: tuple[Requirement, ...], tests: dict[str, list[TestRef]]) -> str:
    rows = [
        {
            **asdict(r),
            "rfc_location": r.rfc_location,
            "tests": list(dict.fromkeys(ref.nodeid for ref in tests.get(r.id, []))),
        }
        for r in requirements
    ]
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"


def run(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.rfc_dir)
    selected = catalog.filter(rfc=args.rfc, level=args.level)
    status = 0
    if args.tests:
        tests, problems = scan_requirement_tests()
        for problem in problems:
            print(f"lensemble-spec requirements: unreadable marker: {problem}", file=sys.stderr)
        status = 1 if problems else 0
        text = format_tests_json(selected, tests) if args.json else format_tests(selected, tests)
    else:
        text = format_json(selected) if args.json else format_table(selected)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` closed the pipe: not an error for a listing
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return status
