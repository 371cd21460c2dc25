"""The ``lensemble-spec`` console script.

Subcommands are plugged in through the ``lensemble_spec.commands`` entry-point group: each entry
point names a ``register(subparsers)`` function that adds one sub-parser and sets
``func=callable(args) -> int``. The library's own commands live in
``lensemble_spec.commands``; the reference trainer registers ``train`` and ``headline`` the same
way, so this module never imports ``lensemble_reference`` (dependencies point one way).

Exit codes: 0 success, 1 a LensembleError (printed with its code and remediation), 2 usage,
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from . import __version__
from .errors import LensembleError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lensemble-spec",
        description="Conformance harness, metrics and reference trainer for federated JEPA world models.",
    )
    parser.add_argument("--version", action="version", version=f"lensemble-spec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for ep in sorted(entry_points(group="lensemble_spec.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except (ImportError, AttributeError) as exc:  # an optional part that is not installed
            print(f"warning: command {ep.name!r} unavailable: {exc}", file=sys.stderr)
            continue
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except LensembleError as exc:
        print(f"error: {exc.message}\n  code: {exc.code.value}\n  fix: {exc.remediation}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
