"""Reference-trainer throughput: training samples per second for a fixed tiny configuration.

Measures the inner loop a participant runs every round (encode a batch of windows + the probe,
SIGReg, prediction, landmark anchor, backward, AdamW step) on synthetic data of the embedded
default's shape. Reports windows/s and frames/s (a window holds ``window + 1`` frames; the probe's
frames are counted separately), with the thread count and the 1-minute load average so numbers
from a shared machine can be read in context. Not a test: nothing is asserted.

    python benchmarks/trainer.py --out benchmarks/results/trainer.json [--steps 60] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lensemble_reference.config import TrainConfig
from lensemble_reference.federation import anchor_tensors, round_sketch
from lensemble_reference.model import init_params
from lensemble_reference.participant import Participant, deterministic_torch
from lensemble_spec.protocol import Silo

#: The fixed configuration measured (the embedded default's model and batch shape).
BENCH_CONFIG = TrainConfig()


def synthetic_silo(cfg: TrainConfig, seed: int = 0, episodes: int = 8) -> Silo:
    rng = np.random.default_rng(seed)
    m, w = cfg.model, cfg.world
    obs = rng.uniform(0, 1, size=(episodes, w.horizon + 1, m.in_channels, m.image_size, m.image_size)).astype(
        np.float32
    )
    actions = rng.normal(size=(episodes, w.horizon, m.action_dim)).astype(np.float32)
    states = rng.normal(size=(episodes, w.horizon + 1, 5)).astype(np.float32)
    return Silo("bench", obs, actions, states)


def measure(cfg: TrainConfig, *, steps: int, warmup: int, anchored: bool) -> dict[str, float]:
    silo = synthetic_silo(cfg)
    params = init_params(cfg.model, 0)
    part = Participant("bench", silo, cfg, seed=0)
    part.load(params)
    probe = (
        np.random.default_rng(1)
        .uniform(0, 1, size=(cfg.world.probe_size, 3, cfg.model.image_size, cfg.model.image_size))
        .astype(np.float32)
    )
    anchor = (
        anchor_tensors(cfg, probe, np.zeros((cfg.world.probe_size, cfg.model.latent_dim), np.float32))
        if anchored
        else None
    )
    sketch = round_sketch(cfg, 1)
    part.train(warmup, sketch, anchor)
    t0 = time.perf_counter()
    part.train(steps, sketch, anchor)
    dt = time.perf_counter() - t0
    windows = steps * cfg.batch_size
    return {
        "seconds": dt,
        "steps_per_s": steps / dt,
        "windows_per_s": windows / dt,
        "frames_per_s": windows * (cfg.window + 1) / dt,
        "probe_frames_per_s": (steps * cfg.world.probe_size / dt) if anchored else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="write the JSON result here (also printed)")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=BENCH_CONFIG.threads)
    args = ap.parse_args(argv)
    cfg = BENCH_CONFIG.replace(threads=args.threads)
    deterministic_torch(cfg.threads)
    result = {
        "benchmark": "lensemble_reference trainer inner loop",
        "config": {
            "latent_dim": cfg.model.latent_dim,
            "channels": list(cfg.model.channels),
            "image_size": cfg.model.image_size,
            "batch_size": cfg.batch_size,
            "window": cfg.window,
            "probe_size": cfg.world.probe_size,
            "lambda_sigreg": cfg.lambda_sigreg,
            "sketch_dim": cfg.sketch_dim,
        },
        "steps": args.steps,
        "threads": cfg.threads,
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "unanchored": measure(cfg, steps=args.steps, warmup=args.warmup, anchored=False),
        "anchored": measure(cfg, steps=args.steps, warmup=args.warmup, anchored=True),
    }
    text = json.dumps(result, indent=2, sort_keys=True)
    if args.out is not None:
        from lensemble_spec.artifacts import atomic_write_text

        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
