"""``lensemble-spec pusht``: the four controls on stable-worldmodel's PushT, planned closed loop.

``lensemble-spec pusht --out DIR [--smoke] [--rounds N] [--eval-episodes N] …`` runs
:func:`lensemble_reference.pusht.run.run_pusht` and prints one line per control and baseline
(success rate with its 95 % Wilson interval); ``DIR/pusht.json`` holds everything. ``--smoke``
starts from the CI's tiny settings (:data:`lensemble_reference.pusht.run.SMOKE`), other flags
override either preset. Without the ``pusht`` extra it fails with a typed error naming it.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import time
from pathlib import Path
from typing import Any

#: Flag name -> PushTSettings field for the integer/float overrides.
_FLAGS = {
    "seed": int, "silos": int, "episodes_per_silo": int, "episode_len": int, "image_size": int, "rounds": int,
    "inner_steps": int, "batch_size": int, "probe_size": int, "eval_episodes": int, "eval_seed": int, "goal_steps": int,
    "budget": int, "horizon": int, "receding_horizon": int, "samples": int, "iterations": int, "topk": int,
    "var_scale": float, "running_cost": float,
}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "pusht",
        help="train the four controls on stable-worldmodel PushT and plan closed loop with its CEM (extra 'pusht')",
    )
    p.add_argument("--out", type=Path, required=True, help="output directory (must not exist or be empty)")
    p.add_argument("--smoke", action="store_true", help="the CI preset: 1 round, 2 evaluation episodes, tiny data")
    p.add_argument(
        "--controls",
        default=None,
        help="comma-separated subset of the four controls (default: all; 'none': the baselines only)",
    )
    for name, kind in _FLAGS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, help=f"PushTSettings.{name}")
    p.add_argument(
        "--silo-factor",
        default=None,
        help="colour factor the silos are split on (block.color, background.color, agent.color, goal.color)",
    )
    p.add_argument("--quiet", action="store_true", help="no training progress bars")
    p.set_defaults(func=_run)


def settings_from(args: argparse.Namespace) -> Any:
    from .run import SMOKE, PushTSettings

    base = SMOKE if args.smoke else PushTSettings()
    changes = {k: getattr(args, k) for k in _FLAGS if getattr(args, k, None) is not None}
    if args.silo_factor:
        changes["silo_factor"] = args.silo_factor
    if args.controls:
        given = tuple(c.strip() for c in args.controls.split(",") if c.strip())
        changes["controls"] = () if given == ("none",) else given
    return dataclasses.replace(base, **changes).validate()


def _run(args: argparse.Namespace) -> int:
    from lensemble_spec.errors import ConfigError

    missing = [m for m in ("torch", "stable_worldmodel") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"lensemble-spec pusht needs {' and '.join(missing)}, not installed here",
            remediation="pip install 'lensemble-spec[pusht]' in a separate venv (it brings torchvision); see "
                "docs/pusht.md.",
        )
    from .run import run_pusht

    settings = settings_from(args)
    started = time.perf_counter()
    doc = run_pusht(settings, args.out, show_progress=not args.quiet)
    print(f"\nwall time {time.perf_counter() - started:.1f}s; results in {args.out / 'pusht.json'}")
    del doc
    return 0
