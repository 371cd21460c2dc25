"""``lensemble-spec schema``: list the document models or export their JSON Schemas.

``lensemble-spec schema`` lists the model names; ``--show NAME`` prints one schema;
``--export DIR`` writes ``DIR/<Name>.schema.json`` for every model (each file atomically) and
prints the written paths. ``--rfc-tables`` regenerates the field tables between the
``schema-table`` markers of the RFC files (``--check``: only report, exit 1 when a table is stale,
a document has no table, or a table names no document); ``--rfc-dir`` picks another RFC folder.
"""

from __future__ import annotations

import argparse
import json

from ..errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="list document models or export their JSON Schemas",
        description="List the RFC document models, print one JSON Schema, or export them all.",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--export", metavar="DIR", help="write DIR/<Name>.schema.json for every model")
    group.add_argument("--show", metavar="NAME", help="print the JSON Schema of one model")
    group.add_argument("--rfc-tables", action="store_true", help="regenerate the RFC field tables from the models")
    parser.add_argument("--check", action="store_true", help="with --rfc-tables: report stale tables, write nothing")
    parser.add_argument("--rfc-dir", metavar="DIR", help="with --rfc-tables: the RFC folder (default: the package's)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..schemas import document_models, export_json_schemas, json_schema

    models = document_models()
    if args.rfc_tables:
        return _rfc_tables(args)
    if args.check or args.rfc_dir:
        raise InputError("--check and --rfc-dir go with --rfc-tables", remediation="Add --rfc-tables.")
    if args.export:
        for path in export_json_schemas(args.export, models):
            print(path)
        return 0
    if args.show:
        if args.show not in models:
            raise InputError(
                f"unknown schema {args.show!r}",
                remediation=f"Use one of: {', '.join(sorted(models))}.",
            )
        print(json.dumps(json_schema(models[args.show]), indent=2, sort_keys=True))
        return 0
    for name in sorted(models):
        print(name)
    return 0


def _rfc_tables(args: argparse.Namespace) -> int:
    from ..schemas.rfc_tables import sync_rfc_tables

    result = sync_rfc_tables(args.rfc_dir, write=not args.check)
    verb = "stale" if args.check else "rewrote"
    for name in result["stale"]:
        print(f"{verb}: {name}")
    for name in result["missing"]:
        print(f"no schema-table block for document {name}")
    for where in result["unknown"]:
        print(f"schema-table block names no document: {where}")
    problems = result["missing"] or result["unknown"] or (args.check and result["stale"])
    if not problems and not result["stale"]:
        print("RFC field tables match the schemas")
    return 1 if problems else 0
