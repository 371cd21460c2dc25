"""The deployment engine: one SuperLink, one SuperNode per silo, the run started with ``flwr run``.

Pieces (commands in docs/flower.md):

* :func:`write_app` — a Flower App directory (just a ``pyproject.toml``) whose components are the
  installed ``lensemble_reference.flower.server_app:app`` and ``lensemble_reference.flower.client_app:app``
  and whose run config holds ``out-dir`` (a new run directory on the ServerApp's machine),
  ``config`` (a TrainConfig JSON file, empty = defaults), ``control``, ``timeout`` and
  ``node-wait`` (seconds the ServerApp waits for all SuperNodes);
* :func:`write_connection` — ``$FLWR_HOME/config.toml`` naming the SuperLink's address, so
  ``flwr run <app> <connection>`` knows where to submit;
* :func:`export_silos` — silo files for nodes that should read real files (node config
  ``silo-file=<path>``) instead of regenerating the synthetic world by ``partition-id``.

The app declares no dependencies: SuperLink and SuperNodes must run in an environment where
``lensemble-spec`` (with the ``flower`` extra) is installed, with runtime dependency
installation disabled (``FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1`` or the SuperLink flag
``--disable-runtime-dependency-installation``), otherwise ``flwr`` would ``uv sync`` a fresh
environment without it.

``python -m lensemble_reference.flower.deploy app DIR --out RUN_DIR`` and
``python -m lensemble_reference.flower.deploy silos DIR [--config FILE]`` wrap the two writers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lensemble_spec.artifacts import atomic_write_text
from lensemble_spec.errors import ConfigError, LensembleError

from . import FEDERATED_CONTROLS
from .silo_files import write_silo_dir

SERVER_COMPONENT = "lensemble_reference.flower.server_app:app"
CLIENT_COMPONENT = "lensemble_reference.flower.client_app:app"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a JSON string literal is a valid TOML basic string


def write_app(
    directory: str | Path,
    *,
    out_dir: str | Path,
    config: str | Path | None = None,
    control: str = "anchored",
    timeout: float = 3600.0,
    node_wait: float = 120.0,
) -> Path:
    """Write the Flower App ``pyproject.toml`` into ``directory``; return the directory."""
    if control not in FEDERATED_CONTROLS:
        raise ConfigError(
            f"control {control!r} has no federation to deploy; use one of {', '.join(FEDERATED_CONTROLS)}",
            field="control",
        )
    run_config = {
        "out-dir": str(Path(out_dir).expanduser().resolve()),
        "config": str(Path(config).expanduser().resolve()) if config else "",
        "control": control,
        "timeout": float(timeout),
        "node-wait": float(node_wait),
    }
    lines = [
        "# Flower App of the lensemble-spec reference trainer (written by lensemble_reference.flower.deploy).",
        "[build-system]",
        'requires = ["hatchling"]',
        'build-backend = "hatchling.build"',
        "",
        "[project]",
        'name = "lensemble-spec-federation"',
        'version = "0.1.0"',
        'description = "Anchored federated JEPA world model (lensemble-spec reference trainer) over Flower"',
        'license = "Apache-2.0"',
        "dependencies = []  # lensemble-spec[flower] must already be installed where the apps run",
        "",
        "[tool.flwr.app]",
        'publisher = "lensemble-spec"',
        "",
        "[tool.flwr.app.components]",
        f'serverapp = "{SERVER_COMPONENT}"',
        f'clientapp = "{CLIENT_COMPONENT}"',
        "",
        "[tool.flwr.app.config]",
        *(f"{key} = {_toml_value(value)}" for key, value in run_config.items()),
        "",
    ]
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_text(d / "pyproject.toml", "\n".join(lines))
    return d


def write_connection(flwr_home: str | Path, *, name: str, address: str, insecure: bool = True) -> Path:
    """``<flwr_home>/config.toml`` with one SuperLink connection (made the default)."""
    text = "\n".join(
        [
            "[superlink]",
            f"default = {json.dumps(name)}",
            "",
            f"[superlink.{name}]",
            f"address = {json.dumps(address)}",
            f"insecure = {_toml_value(bool(insecure))}",
            "",
        ]
    )
    home = Path(flwr_home)
    home.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(home / "config.toml", text)


def export_silos(directory: str | Path, cfg: Any) -> list[str]:
    """Write the silos of ``cfg``'s synthetic world as silo files (+ index); return the names."""
    from lensemble_reference.controls import world_inputs

    return write_silo_dir(directory, world_inputs(cfg).silos)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lensemble_reference.flower.deploy", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    app = sub.add_parser("app", help="write the Flower App directory (pyproject.toml) for `flwr run`")
    app.add_argument("directory")
    app.add_argument("--out", required=True, help="new run directory the ServerApp writes")
    app.add_argument("--config", default=None, help="TrainConfig JSON file (default: built-in defaults)")
    app.add_argument("--control", default="anchored", choices=FEDERATED_CONTROLS)
    app.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for a round's replies")
    app.add_argument("--node-wait", type=float, default=120.0, help="seconds to wait for all SuperNodes")
    silos = sub.add_parser("silos", help="export the synthetic world's silos as silo files (node config silo-file)")
    silos.add_argument("directory")
    silos.add_argument("--config", default=None, help="TrainConfig JSON file (its `world` section is used)")
    args = parser.parse_args(argv)
    try:
        if args.command == "app":
            path = write_app(
                args.directory,
                out_dir=args.out,
                config=args.config,
                control=args.control,
                timeout=args.timeout,
                node_wait=args.node_wait,
            )
            print(path / "pyproject.toml")
        else:
            from lensemble_reference.config import load_config

            names = export_silos(args.directory, load_config(args.config))
            for name in names:
                print(Path(args.directory) / f"{name}.safetensors")
    except LensembleError as exc:
        print(f"error [{exc.code.value}]: {exc.message}\n  remediation: {exc.remediation}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
