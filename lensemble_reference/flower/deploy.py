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
  ``silo-file=<path>``) instead of regenerating the synthetic world by ``partition-id``;
* ``probe`` / ``heldout`` — a public probe file from a PUBLIC LeRobot root (its hash is what the
  coordinator pins as ``probe-hash``) and a held-out site's evaluation file
  (:mod:`.sites`); ``evaluate`` — the held-out metrics of every committed round, computed on the
  held-out site from the run directory alone; ``keys`` — throwaway TLS certificates and SuperNode keys
  (:mod:`.credentials`).

Run config of the app: ``out-dir``, ``config``, ``control``, ``timeout``, ``node-wait`` as above,
plus ``sites`` (how many SuperNodes to wait for; 0 = the synthetic world's silo count),
``rejoin-wait`` (seconds a round waits for a missing site to come back online before it is sent
without it; 0 = no wait),
``probe`` (path of the public probe file on the coordinator; empty = the synthetic world's
probe) and ``probe-hash`` (its pinned hash; required with ``probe``).

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
    sites: int = 0,
    rejoin_wait: float = 0.0,
    probe: str | Path | None = None,
    probe_hash: str = "",
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
        "sites": int(sites),
        "rejoin-wait": float(rejoin_wait),
        "probe": str(Path(probe).expanduser().resolve()) if probe else "",
        "probe-hash": str(probe_hash),
    }
    if probe and not probe_hash:
        raise ConfigError(
            "a probe file needs its pinned probe hash",
            field="probe-hash",
            remediation="Pass --probe-hash (printed by `deploy probe`).",
        )
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


def write_connection(
    flwr_home: str | Path,
    *,
    name: str,
    address: str,
    insecure: bool = True,
    root_certificates: str | Path | None = None,
) -> Path:
    """``<flwr_home>/config.toml`` with one SuperLink connection (made the default); with
    ``root_certificates`` (the CA that signed the SuperLink's certificate) the connection is TLS."""
    lines = [
        "[superlink]",
        f"default = {json.dumps(name)}",
        "",
        f"[superlink.{name}]",
        f"address = {json.dumps(address)}",
    ]
    if root_certificates:
        lines.append(f"root-certificates = {json.dumps(str(Path(root_certificates).resolve()))}")
        insecure = False
    lines += [f"insecure = {_toml_value(bool(insecure))}", ""]
    text = "\n".join(lines)
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
    app.add_argument(
        "--sites", type=int, default=0, help="SuperNodes to wait for (0: the synthetic world's silo count)"
    )
    app.add_argument(
        "--rejoin-wait", type=float, default=0.0, help="seconds a round waits for a missing site to come back"
    )
    app.add_argument(
        "--probe", default=None, help="public probe file on the coordinator (default: the synthetic world's)"
    )
    app.add_argument("--probe-hash", default="", help="the probe's pinned hash (printed by `probe`)")
    probe = sub.add_parser("probe", help="write a public probe file from a PUBLIC LeRobot root; prints its hash")
    probe.add_argument("root")
    probe.add_argument("out")
    probe.add_argument(
        "--config", default=None, help="the run's TrainConfig JSON (world.probe_size, horizon, image size, data)"
    )
    held = sub.add_parser(
        "heldout", help="write a held-out site's evaluation file from its LeRobot root (stays on that site)"
    )
    held.add_argument("root")
    held.add_argument("out")
    held.add_argument("--config", default=None, help="the run's TrainConfig JSON")
    ev = sub.add_parser(
        "evaluate", help="held-out metrics of every committed round of a run, computed where the held-out file is"
    )
    ev.add_argument("run_dir")
    ev.add_argument("heldout", help="the held-out site's evaluation file (from `heldout`)")
    ev.add_argument("--out", default=None, help="write the metrics as JSON here (default: print)")
    keys = sub.add_parser(
        "keys", help="throwaway CA + SuperLink TLS certificate and SuperNode key pairs (tests, demos)"
    )
    keys.add_argument("directory")
    keys.add_argument("--nodes", type=int, default=4)
    keys.add_argument(
        "--host",
        action="append",
        default=None,
        help="SuperLink host name or IP for the certificate (repeatable; default 127.0.0.1, localhost)",
    )
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
                sites=args.sites,
                rejoin_wait=args.rejoin_wait,
                probe=args.probe,
                probe_hash=args.probe_hash,
            )
            print(path / "pyproject.toml")
        elif args.command in ("probe", "heldout"):
            from lensemble_reference.config import load_config

            from .sites import heldout_file, probe_file

            cfg = load_config(args.config)
            if args.command == "probe":
                out, digest = probe_file(args.root, args.out, cfg)
                print(f"{out}\nprobe-hash {digest}")
            else:
                print(heldout_file(args.root, args.out, cfg))
        elif args.command == "evaluate":
            from lensemble_reference.evaluate import evaluate_run
            from lensemble_spec.artifacts import atomic_write_text, canonical_json
            from lensemble_spec.verify.heldout import from_file

            held = from_file(args.heldout)
            from lensemble_spec.protocol import Silo

            metrics = evaluate_run(
                Path(args.run_dir), Silo(name="heldout", obs=held.obs, actions=held.actions, states=held.states)
            )
            text = canonical_json(metrics).decode()
            if args.out:
                atomic_write_text(Path(args.out), text + "\n")
            print(args.out or text)
        elif args.command == "keys":
            from .credentials import write_credentials

            for path in write_credentials(
                args.directory, nodes=args.nodes, hosts=args.host or ["127.0.0.1", "localhost"]
            ):
                print(path)
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
