"""Per-pair cost budget of pairwise frame drift (issue #12): what each route must pay at d = 128.

Times the primitives one Procrustes pair is made of (float32 cross-covariance of k = 512 points,
``eigh``/``eigvalsh``/``svd`` of a 128 × 128 matrix, float32 and float64 products) in one process,
interleaved, at ONE thread, and adds them up per route:

* ``peer`` — what the peer pays per pair (benchmarks/peers.py): float32 cross-covariance, float32
  SVD, ``det`` for the Kabsch flip, one product ``U Vᵀ``;
* ``ours`` — the route of ``frame_drift``: float32 cross-covariance, float64 ``MᵀM``, float64
  ``eigh``, two float64 products for ``Q``, one for the angle series (benchmark frames certify);
* ``fp32-eigh + correction`` — float32 ``MᵀM`` and ``eigh``, then the five float64 products a
  first-order correction back to float64-grade ``Q`` needs (``MV``, ``(MV)ᵀ(MV)``, ``VᵀV``, and two
  to form ``Q``), plus the series product;
* ``floor`` — cross-covariance + float32 ``eigh`` alone: no LAPACK-``eigh`` route is cheaper.

It also times ``frame_drift`` and the peer's loop on the benchmark's C = 8 frames, per pair. A
route is 2× the peer only if its sum is at most half the peer's. Usage:
``python benchmarks/drift_floor.py [--repeats 30]`` (prints a table; sets one thread itself).

``--profile`` adds the torch profiler's split of one ``frame_drift`` call at C = 32 (``eigh``,
products, the rest); ``--blocks`` adds a sweep of ``drift_blocks.BLOCK_ITEMS`` (C = 32 and C = 8,
median of three calls each).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

ROUTES = {
    "peer": ("cross f32", "svd f32", "det f32", "mm f32"),
    "ours": ("cross f32", "mm f64", "eigh f64", "mm f64", "mm f64", "mm f64"),
    "fp32-eigh + correction": ("cross f32", "mm f32", "eigh f32") + ("mm f64",) * 6,
    "floor": ("cross f32", "eigh f32"),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--blocks", action="store_true")
    args = p.parse_args(argv)
    import numpy as np
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import peers
    from metrics import _frames

    from lensemble_spec.metrics import frame_drift

    rng = np.random.default_rng(0)
    d, k = 128, 512
    e = torch.from_numpy(rng.standard_normal((k, d)).astype(np.float32))
    f = torch.from_numpy(rng.standard_normal((k, d)).astype(np.float32))
    m64 = (e.T @ f).double()
    g64 = m64.T @ m64
    m32, g32 = m64.float(), g64.float()
    prims = {
        "cross f32": lambda: e.T @ f,
        "svd f32": lambda: torch.linalg.svd(m32),
        "det f32": lambda: torch.linalg.det(m32),
        "eigh f32": lambda: torch.linalg.eigh(g32),
        "eigh f64": lambda: torch.linalg.eigh(g64),
        "eigvalsh f64": lambda: torch.linalg.eigvalsh(g64),
        "mm f32": lambda: m32 @ m32,
        "mm f64": lambda: m64 @ m64,
    }
    emb = _frames(np, rng, 8, k, d)
    frames = [torch.from_numpy(emb[i]) for i in sorted(emb)]
    pairs = len(frames) * (len(frames) - 1) // 2
    calls = {**prims, "frame_drift C=8": lambda: frame_drift(emb),
             "peer loop C=8": lambda: peers.pairwise_drift(torch, frames)}
    times: dict[str, list[float]] = {n: [] for n in calls}
    for fn in calls.values():
        fn()
    for _ in range(args.repeats):
        for name, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {n: statistics.median(v) * 1e3 for n, v in times.items()}
    print(f"one thread, d = {d}, k = {k}; median ms of {args.repeats} interleaved calls, load {os.getloadavg()[0]:.2f}")
    for name in prims:
        print(f"  {name:<14} {med[name]:7.3f}")
    print("per pair (sum of the primitives):")
    peer = sum(med[x] for x in ROUTES["peer"])
    for route, parts in ROUTES.items():
        total = sum(med[x] for x in parts)
        print(f"  {route:<24} {total:6.3f} ms   peer / route = {peer / total:4.2f}x")
    ours_pp, peer_pp = med["frame_drift C=8"] / pairs, med["peer loop C=8"] / pairs
    print(f"measured per pair (C = 8): frame_drift {ours_pp:.3f} ms, peer loop {peer_pp:.3f} ms, "
          f"ratio {peer_pp / ours_pp:.2f}x")
    big = _frames(np, rng, 32, k, d)
    if args.profile:
        _profile(torch, frame_drift, big)
    if args.blocks:
        _block_sweep(frame_drift, big, emb)
    return 0


def _profile(torch, frame_drift, emb) -> None:
    from torch.profiler import ProfilerActivity, profile

    frame_drift(emb)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        frame_drift(emb)
    rows = prof.key_averages()
    total = sum(r.self_cpu_time_total for r in rows)
    eigh = sum(r.self_cpu_time_total for r in rows if "eigh" in r.key)
    mm = [r for r in rows if r.key == "aten::mm"]
    mm_time = sum(r.self_cpu_time_total for r in mm)
    calls = sum(r.count for r in mm)
    print(f"frame_drift C = 32 under the torch profiler: {total / 1e3:.0f} ms of operator time; eigh "
          f"{100 * eigh / total:.0f}%, products {100 * mm_time / total:.0f}% ({calls} calls, "
          f"{mm_time / max(calls, 1):.0f} us each), the rest {100 * (total - eigh - mm_time) / total:.0f}%")


def _block_sweep(frame_drift, big, small) -> None:
    from lensemble_spec.metrics import drift_blocks

    kept = drift_blocks.BLOCK_ITEMS
    res: dict[int, list[tuple[float, float]]] = {}
    try:
        for _ in range(3):
            for items in (1, 2, 4, 8, 16):
                drift_blocks.BLOCK_ITEMS = items
                frame_drift(small)
                t0 = time.perf_counter()
                frame_drift(big)
                t1 = time.perf_counter()
                frame_drift(small)
                res.setdefault(items, []).append((t1 - t0, time.perf_counter() - t1))
    finally:
        drift_blocks.BLOCK_ITEMS = kept
    print("BLOCK_ITEMS sweep, median ms of 3: " + ", ".join(
        f"{n}: C=32 {statistics.median(a for a, _ in v) * 1e3:.0f} / C=8 {statistics.median(b for _, b in v) * 1e3:.1f}"
        for n, v in res.items()))


if __name__ == "__main__":
    raise SystemExit(main())
