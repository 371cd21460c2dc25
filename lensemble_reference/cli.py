"""``lensemble-spec train`` and ``lensemble-spec headline`` (registered via entry points).

``train --control C --out DIR [--config FILE] [--rounds N] [--inner-steps H] [--seed S] …``
trains one control on the embedded synthetic world and writes a run directory. Config
resolution: defaults → the control's overrides → ``--config`` JSON → flags.

Runs are written into ``OUT.partial`` and renamed to ``OUT`` when complete; a run that fails is
deleted, a killed one resumes with ``train --resume OUT`` / ``headline --resume OUT`` from its last
committed round with the configuration it was started with (:mod:`lensemble_reference.resume`).
The config file goes through the bounded JSON loader and every field is range- and
memory-checked (:mod:`lensemble_reference.limits`) before anything is written.

``headline --out DIR [--config FILE] [--rounds N] …`` trains all four controls on the same
seeds, data and held-out split (the control overrides are applied LAST here, so the controls stay
comparable) and prints the results table. Both draw a progress bar on stderr (``--quiet`` off).

Both take ``--lerobot-root PATH`` (repeatable) to train on local LeRobot v3.0 datasets instead
of the embedded world, with ``--lerobot-horizon``, ``--lerobot-stride``, ``--lerobot-max-frames``,
``--lerobot-split`` and ``--lerobot-image-key`` passed to the loader; the model's action width
and frame size then follow the data (:mod:`lensemble_reference.real_data`). The data is loaded before
anything is written, so a missing or malformed root (``DataError``) leaves no output directory.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from lensemble_spec.protocol import CONTROLS


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (must not exist or be empty); written as OUT.partial until complete",
    )
    p.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="OUT",
        help="continue the killed run (or comparison) for OUT from its last committed round, with the configuration "
             "it was started with",
    )
    p.add_argument(
        "--config", type=Path, default=None, help="JSON config file (keys of lensemble_reference.config.TrainConfig)"
    )
    p.add_argument("--rounds", type=int, default=None, help="federation rounds R")
    p.add_argument("--inner-steps", type=int, default=None, help="inner AdamW steps per round H")
    p.add_argument("--seed", type=int, default=None, help="root seed (world, init, batches, sketches)")
    p.add_argument("--batch-size", type=int, default=None, help="windows per inner step")
    p.add_argument("--inner-lr", type=float, default=None, help="inner AdamW learning rate")
    p.add_argument("--threads", type=int, default=None, help="torch threads (fixed for bitwise determinism)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("real robot data (LeRobot v3.0, local only; see lensemble_reference.real_data)")
    g.add_argument(
        "--lerobot-root",
        action="append",
        dest="lerobot_roots",
        default=None,
        metavar="PATH",
        help="a local LeRobot dataset root (or a locally cached hub id); repeatable; with 5+ roots each is a site and "
             "the last is held out",
    )
    g.add_argument(
        "--lerobot-horizon",
        type=int,
        default=None,
        metavar="T",
        help="frames per silo row minus one (default: world.horizon)",
    )
    g.add_argument(
        "--lerobot-stride", type=int, default=None, metavar="S", help="keep every S-th source frame (default 1)"
    )
    g.add_argument(
        "--lerobot-max-frames",
        type=int,
        default=None,
        metavar="N",
        help="use at most the first N frames of each episode",
    )
    g.add_argument(
        "--lerobot-split", choices=("auto", "by_root", "pooled"), default=None, help="episode split rule (default auto)"
    )
    g.add_argument(
        "--lerobot-image-key",
        default=None,
        metavar="KEY",
        help="camera feature (default: the first image/video feature)",
    )


def _lerobot_options(args: argparse.Namespace) -> Any:
    """LeRobotOptions from the flags, or None without ``--lerobot-root`` (then no loader flag may be set)."""
    from lensemble_spec.errors import ConfigError

    from .real_data import LeRobotOptions

    extra = {
        "horizon": args.lerobot_horizon,
        "frame_stride": args.lerobot_stride,
        "max_frames_per_episode": args.lerobot_max_frames,
        "split": args.lerobot_split,
        "image_key": args.lerobot_image_key,
    }
    given = {k: v for k, v in extra.items() if v is not None}
    if not args.lerobot_roots:
        if given:
            raise ConfigError(
                f"LeRobot option(s) {', '.join(sorted(given))} given without --lerobot-root",
                remediation="Add --lerobot-root PATH, or drop the --lerobot-* options to train on the embedded world.",
                field="lerobot_root",
            )
        return None
    return LeRobotOptions(roots=tuple(args.lerobot_roots), **given)


def _ensure_new_output(out: Path) -> None:
    """Refuse an unusable ``--out`` before any data is built or loaded (the run writer claims it atomically)."""
    from lensemble_spec.artifacts.staging import check_out

    check_out(out)


#: Flags that change the configuration: not allowed with --resume (the recorded one is used).
_CONFIG_FLAGS = ("config", "rounds", "inner_steps", "seed", "batch_size", "inner_lr", "threads")


def _target(args: argparse.Namespace) -> tuple[Path, bool]:
    """``(OUT, resume)`` from ``--out`` / ``--resume`` (exactly one), config flags refused with --resume."""
    from lensemble_spec.errors import ConfigError

    if (args.out is None) == (args.resume is None):
        raise ConfigError(
            "give exactly one of --out OUT (a new run) and --resume OUT (continue a killed one)", field="out"
        )
    if args.resume is None:
        return args.out, False
    given = [f"--{k.replace('_', '-')}" for k in _CONFIG_FLAGS if getattr(args, k, None) is not None]
    if given:
        raise ConfigError(
            f"{', '.join(given)} cannot be combined with --resume: a run resumes with the configuration it was "
            f"started with",
            remediation="Drop those flags (give the same --lerobot-* flags as the first time for a LeRobot run).",
            field="resume",
        )
    out = args.resume
    if out.name.endswith(".partial"):
        out = out.parent / out.name[: -len(".partial")]
    return out, True


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "rounds": args.rounds,
        "inner_steps": args.inner_steps,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "inner_lr": args.inner_lr,
        "threads": args.threads,
    }


def register_train(subparsers: Any) -> None:
    p = subparsers.add_parser("train", help="train one control of the reference federated JEPA trainer")
    p.add_argument("--control", choices=CONTROLS, default=None, help="which control to run (required unless --resume)")
    p.add_argument(
        "--engine",
        choices=("inprocess", "flower"),
        default="inprocess",
        help="run rounds in this process, or through Flower's simulation engine (same bits; extra 'flower')",
    )
    _add_common(p)
    p.set_defaults(func=_needs_torch(_train))


def register_headline(subparsers: Any) -> None:
    p = subparsers.add_parser("headline", help="run all four controls and print the headline table")
    _add_common(p)
    p.add_argument("--controls", default=",".join(CONTROLS), help="comma-separated subset of controls (default: all "
        "four)")
    p.add_argument(
        "--seeds",
        default=None,
        help="several seeds, a list or range (e.g. 0-4 or 0,1,7): per-seed tables, means with 95%% "
        "t-intervals, worst-over-seeds verdicts, paired differences and the frame-only anchor variant "
        "(lensemble_reference.multiseed)",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="parallel worker processes for --seeds (default: the CPU count)"
    )
    p.add_argument(
        "--planning-episodes",
        type=int,
        default=None,
        help="closed-loop planning tasks per model (RFC-0005 §6.2; default MPC_EPISODES of RFC-0005 §8; 0 = no "
            "planning)",
    )
    p.set_defaults(func=_needs_torch(_headline))


def _planning(args: argparse.Namespace, data_is_embedded: bool) -> Any:
    """The §6.2 conditions for ``--planning-episodes`` (None: no planning; real data has no environment)."""
    from lensemble_spec.errors import ConfigError

    n = getattr(args, "planning_episodes", None)
    if n is not None and n < 0:
        raise ConfigError(
            "--planning-episodes must be >= 0",
            remediation="Pass 0 to skip planning, or a positive number of tasks.",
            field="planning_episodes",
        )
    if n == 0 or not data_is_embedded:
        return None
    from .planning_eval import conditions

    return conditions(n)


def _needs_torch(run: Any) -> Any:
    """The reference trainer runs on torch, the optional ``[reference]`` extra: without it, a
    typed error naming the extra instead of an ImportError from deep inside."""

    def guarded(args: argparse.Namespace) -> int:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            from lensemble_spec.errors import ConfigError

            raise ConfigError(
                "the reference trainer needs torch, which is not installed here",
                remediation="pip install 'lensemble-spec[reference]' (torch>=2.4; an installed torch is kept).",
            )
        return run(args)

    return guarded


def _train(args: argparse.Namespace) -> int:
    from lensemble_spec.artifacts.staging import reopen
    from lensemble_spec.errors import ConfigError

    from .config import TrainConfig, load_config
    from .controls import run_control, world_splits
    from .evaluate import evaluate_run
    from .real_data import describe_data, lerobot_run_inputs
    from .resume import read_request

    out, resume = _target(args)
    if resume:
        cfg = TrainConfig.from_recorded(read_request(reopen(out))["config"], f"the partial run {out}")
        if args.control not in (None, cfg.control):
            raise ConfigError(f"{out} is a run of {cfg.control}, not {args.control}", field="control")
        args.control = cfg.control
    else:
        if args.control is None:
            raise ConfigError(
                "--control is required for a new run",
                remediation=f"Add --control one of {', '.join(CONTROLS)}.",
                field="control",
            )
        cfg = load_config(args.config, _overrides(args), control=args.control)
        _ensure_new_output(out)
    options = _lerobot_options(args)
    if args.engine == "flower" and resume:
        raise ConfigError(
            "--resume runs the in-process engine only", remediation="Drop --engine flower to resume.", field="engine"
        )
    started = time.perf_counter()
    if options is None:
        inputs, heldout = world_splits(cfg)
    else:
        cfg, inputs, heldout = lerobot_run_inputs(cfg, options)
        print(describe_data(cfg, inputs, heldout))
    if args.engine == "flower":
        from .flower.engine import run_flower

        result = run_flower(cfg, inputs, out, show_progress=not args.quiet)
    else:
        result = run_control(cfg, inputs, out, show_progress=not args.quiet, resume=resume)
    trained = time.perf_counter() - started
    final = evaluate_run(result.run_dir, heldout)["final"]  # printed only: a run dir holds no results
    keys = (
        "effective_rank",
        "latent_std_mean",
        "val_pred",
        "val_pred_identity",
        "state_probe_r2",
        "drift_to_reference_deg",
    )
    summary = "  ".join(f"{k}={final[k]:.4g}" for k in keys if final.get(k) is not None)
    print(f"{args.control}: {cfg.rounds} rounds in {trained:.1f}s -> {result.run_dir}")
    print(f"  held-out (evaluated after training): {summary}")
    return 0


def _headline(args: argparse.Namespace) -> int:
    from lensemble_spec.errors import ConfigError

    from .config import TrainConfig, load_config
    from .headline import run_headline

    controls = tuple(c.strip() for c in args.controls.split(",") if c.strip())
    unknown = [c for c in controls if c not in CONTROLS]
    if unknown or not controls:
        raise ConfigError(f"unknown control(s) {unknown}; choose from {', '.join(CONTROLS)}", field="controls")
    out, resume = _target(args)
    if resume:
        from lensemble_spec.artifacts.staging import reopen

        from .comparison_dir import read_comparison_state

        state = read_comparison_state(reopen(out))
        cfg = TrainConfig.from_recorded(state["config"], f"the partial comparison {out}")
        controls = tuple(state["controls"])
    else:
        cfg = load_config(args.config, _overrides(args))
        _ensure_new_output(out)
    options = _lerobot_options(args)
    if args.seeds is not None:
        return _headline_seeds(args, out, resume, cfg, controls, options)
    data = None
    if options is not None:
        from .real_data import describe_data, describe_heldout, lerobot_run_inputs

        cfg, inputs, heldout = lerobot_run_inputs(cfg, options)
        print(describe_data(cfg, inputs, heldout))
        data = (inputs, heldout, describe_heldout(inputs))
    result = run_headline(
        cfg,
        out,
        controls=controls,
        show_progress=not args.quiet,
        data=data,
        resume=resume,
        planning=_planning(args, data is None),
    )
    print(result["text"])
    load = result.get("load_average_1m_start"), result.get("load_average_1m_end")
    print(
        f"\nwall time {result['wall_time_s']:.1f}s (1-min load average {load[0]} -> {load[1]}); "
        f"results in {out / 'results.json'}"
    )
    return 0


def _headline_seeds(
    args: argparse.Namespace, out: Path, resume: bool, cfg: Any, controls: tuple[str, ...], options: Any
) -> int:
    from lensemble_spec.errors import ConfigError

    from .multiseed import parse_seeds, run_multiseed

    if resume:
        raise ConfigError(
            "--resume continues a single-seed comparison; a --seeds comparison is run anew",
            remediation="Re-run headline --seeds into a new --out.",
            field="resume",
        )
    seeds = parse_seeds(args.seeds)
    if options is not None:
        raise ConfigError(
            "--seeds runs on the embedded world only",
            remediation="Drop --lerobot-root, or run one seed at a time with --seed.",
            field="seeds",
        )
    if args.seed is not None:
        raise ConfigError(
            "--seed and --seeds are exclusive", remediation="Use --seeds alone (e.g. --seeds 0-4).", field="seeds"
        )
    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers must be >= 1", field="workers")
    result = run_multiseed(
        cfg,
        out,
        seeds=seeds,
        controls=controls,
        workers=args.workers,
        show_progress=not args.quiet,
        planning=_planning(args, True),
    )
    print(result["text"])
    print(f"\nresults in {out / 'results.json'} (per-seed comparisons in {out}/seed-*/)")
    return 0


def register_replay(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "replay-seed-card",
        help="the headline comparison again with upstream's pre-fix outer step (θ − lr·mean Δ) for the federated "
        "controls; claims C1–C6 side by side",
    )
    _add_common(p)
    p.add_argument("--workers", type=int, default=None, help="parallel worker processes (default: the CPU count)")
    p.set_defaults(func=_needs_torch(_replay))


def _replay(args: argparse.Namespace) -> int:
    from lensemble_spec.errors import ConfigError

    from .config import load_config
    from .replay import run_replay

    if _lerobot_options(args) is not None:
        raise ConfigError(
            "replay-seed-card runs on the embedded world only", remediation="Drop --lerobot-root.", field="lerobot_root"
        )
    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers must be >= 1", field="workers")
    if args.out is None or args.resume is not None:
        raise ConfigError("replay-seed-card needs --out OUT (a new directory) and cannot --resume", field="out")
    cfg = load_config(args.config, _overrides(args))
    _ensure_new_output(args.out)
    doc = run_replay(cfg, args.out, workers=args.workers, show_progress=not args.quiet)
    print(doc["text"])
    print(
        f"\nreplay in {args.out / 'replay.json'}; the reference comparison in {args.out / 'correct'} verifies with "
        f"lensemble-spec verify"
    )
    return 0
