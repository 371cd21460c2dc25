"""What a pause costs the call after it: why benchmarks/metrics.py primes its timed calls.

Usage: ``python benchmarks/wakeup_costs.py [--threads N] [--pause 0.15] [--repeats 20]``. Sets the
BLAS thread variables to N before numpy or torch are imported, then times each primitive of the
drift and Procrustes cases twice: right after a sleep of ``--pause`` seconds (the guest's idle
cores halt and every thread pool parks) and back to back (the call before it untimed). Prints the
medians in ms. docs/metrics-speed.md, "Harness", quotes it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pause", type=float, default=0.15)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    s = torch.from_numpy(rng.standard_normal((1024, 128)).astype(np.float32))
    a = torch.from_numpy(rng.standard_normal((128, 128)))
    spd = a @ a.T
    a32 = a.float()
    s_np = s.numpy()
    ops = {
        "product 128x128 f64": lambda: a @ a,
        "svd 128x128 f32": lambda: torch.linalg.svd(a32),
        "eigh 128x128 f64": lambda: torch.linalg.eigh(spd),
        "cross 1024x128 f32": lambda: s.T @ s,
        "widen+sum 1024x128": lambda: s_np.astype(np.float64).sum(),
    }
    print(f"{args.threads} thread(s); median ms of {args.repeats}; pause {args.pause:g} s; "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"  {'primitive':<22} {'after pause':>12} {'back to back':>13}")
    for name, fn in ops.items():
        cold, warm = [], []
        fn()
        for _ in range(args.repeats):
            time.sleep(args.pause)
            t0 = time.perf_counter()
            fn()
            cold.append(time.perf_counter() - t0)
            fn()
            t0 = time.perf_counter()
            fn()
            warm.append(time.perf_counter() - t0)
        print(f"  {name:<22} {statistics.median(cold) * 1e3:12.3f} {statistics.median(warm) * 1e3:13.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
