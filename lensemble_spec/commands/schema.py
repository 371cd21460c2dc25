"""``lensemble-spec schema``: list the document models or export their JSON Schemas.

``lensemble-spec schema`` lists the model names; ``--show NAME`` prints one schema;
``--export DIR`` writes ``DIR/<Name>.schema.json`` for every model (each file atomically) and
prints the written paths.
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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..schemas import document_models, export_json_schemas, json_schema

    models = document_models()
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
