"""Where the time of ``procrustes_align`` goes, against the peer's float32 SVD (docs/metrics-speed.md).

Usage: ``python benchmarks/procrustes_costs.py [--repeats 500]`` — at one thread, on the benchmark's
problem (benchmarks/metrics.py: 1024 × 128 float32, column scales geomspace(1, 0.2), target = a
rotation plus noise), prints:

* the steps of the float32 route of ``procrustes_align``, replayed one after another as the call
  runs them (median ms per step over ``--repeats`` replays), the whole call and the peer's call;
* the float32-``eigh`` alternative: its ``eigh`` time and how far its ``Q`` is from the float64
  SVD answer, next to the ``u₃₂·κ²`` bound and to the float64 route's distance.

``python benchmarks/procrustes_costs.py --ab OTHER_CHECKOUT [--rounds 3]`` instead times
``procrustes_align`` of this checkout and of another one (e.g. ``git worktree add /tmp/old REV``)
against the peer in the same loop (400 paired calls per process), alternating processes, and
prints ``peer / ours`` per process.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

HERE = Path(__file__).resolve().parent


def _problem(np):
    rng = np.random.default_rng(0)
    s = (rng.standard_normal((1024, 128)) * np.geomspace(1.0, 0.2, 128)).astype(np.float32)
    q0, _ = np.linalg.qr(rng.standard_normal((128, 128)))
    t = (s @ q0 + 0.05 * rng.standard_normal((1024, 128))).astype(np.float32)
    return s, t


def _paired(checkout: str, calls: int = 400) -> None:
    """Child: ``peer / ours`` medians of paired calls, importing lensemble_spec from ``checkout``."""
    sys.path.insert(0, checkout)
    import numpy as np
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(HERE))
    import peers

    from lensemble_spec.metrics import procrustes_align

    s, t = _problem(np)
    st, tt = torch.from_numpy(s), torch.from_numpy(t)
    ours, peer = [], []
    for _ in range(30):
        procrustes_align(s, t)
        peers.procrustes(torch, st, tt)
    for _ in range(calls):
        t0 = time.perf_counter()
        procrustes_align(s, t)
        t1 = time.perf_counter()
        peers.procrustes(torch, st, tt)
        peer.append(time.perf_counter() - t1)
        ours.append(t1 - t0)
    o, p = statistics.median(ours), statistics.median(peer)
    print(f"{checkout}: ours {o * 1e3:.3f} ms, peer {p * 1e3:.3f} ms, peer / ours {p / o:.3f}")


def _steps(repeats: int) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(HERE))
    import peers

    from lensemble_spec.metrics import procrustes_align
    from lensemble_spec.metrics._inputs import check_same_shape, matrix_view
    from lensemble_spec.metrics._torch_blas import _matmul, _sum_sq

    s, t = _problem(np)
    acc: dict[str, list[float]] = {}

    def replay() -> None:
        marks = [time.perf_counter()]

        def mark(name: str) -> None:
            marks.append(time.perf_counter())
            acc.setdefault(name, []).append(marks[-1] - marks[-2])

        s_arr, _ = matrix_view(s, "source")
        t_arr, _ = matrix_view(t, "target")
        check_same_shape(s_arr, t_arr, "source", "target")
        mark("validation (finite, peak)")
        m = _matmul(s_arr.T, t_arr).astype(np.float64)
        mark("cross-covariance f32 + widen")
        peak = max(float(m.max()), -float(m.min()))
        mt = torch.from_numpy(m)
        ms = mt * math.ldexp(1.0, -(math.frexp(peak)[1] - 1))
        mark("peak of M, scaling")
        g = ms.T @ ms
        mark("MᵀM f64")
        lam, v = torch.linalg.eigh(g)
        mark("eigh f64")
        sig = torch.sqrt(lam)
        u = ms @ v
        u /= sig
        mark("U = MVΣ⁻¹")
        q = u @ v.T
        mark("Q = UVᵀ")
        q = torch.addmm(q, q, q.T @ q, beta=1.5, alpha=-0.5)
        mark("Newton–Schulz step")
        float(torch.dot(q.reshape(-1), mt.reshape(-1)))
        mark("tr(QᵀM)")
        _sum_sq(s_arr), _sum_sq(t_arr)
        mark("sums of squares (residual)")

    st, tt = torch.from_numpy(s), torch.from_numpy(t)
    whole, peer = [], []
    for _ in range(30):
        replay()
    acc.clear()
    for _ in range(repeats):
        replay()
        t0 = time.perf_counter()
        procrustes_align(s, t)
        t1 = time.perf_counter()
        peers.procrustes(torch, st, tt)
        peer.append(time.perf_counter() - t1)
        whole.append(t1 - t0)
    print(f"one thread, 1024 x 128 float32; median ms over {repeats} replays; load {os.getloadavg()[0]:.2f}")
    for name, v in acc.items():
        print(f"  {name:<30} {statistics.median(v) * 1e3:7.3f}")
    print(f"  {'sum of the steps':<30} {sum(statistics.median(v) for v in acc.values()) * 1e3:7.3f}")
    print(f"  {'procrustes_align, whole call':<30} {statistics.median(whole) * 1e3:7.3f}")
    print(f"  {'peer (f32 SVD + Kabsch)':<30} {statistics.median(peer) * 1e3:7.3f}")

    m64 = s.astype(np.float64).T @ t.astype(np.float64)
    uu, sv, vt = np.linalg.svd(m64)
    q_ref = uu @ vt
    kappa = float(sv[0] / sv[-1])
    m32 = torch.from_numpy(s).T @ torch.from_numpy(t)

    def eigh_route(m: torch.Tensor) -> np.ndarray:
        lam, v = torch.linalg.eigh(m.T @ m)
        return ((m @ v) / torch.sqrt(lam) @ v.T).double().numpy()

    g32 = m32.T @ m32
    t32 = statistics.median(_timed(lambda: torch.linalg.eigh(g32), 100))
    err32 = float(np.max(np.abs(eigh_route(m32) - q_ref)))
    err64 = float(np.max(np.abs(eigh_route(m32.double()) - q_ref)))
    print(f"float32 eigh alternative: eigh f32 {t32 * 1e3:.3f} ms; condition of M {kappa:.1f}; max |Q - Q_svd64|: "
          f"float32 eigh {err32:.1e} (bound u32*kappa^2 = {2.0**-24 * kappa**2:.1e}), "
          f"float64 eigh of the same float32 M {err64:.1e}")


def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=500)
    p.add_argument("--ab", metavar="OTHER_CHECKOUT", default=None)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _paired(args.child)
        return 0
    if args.ab:
        for _ in range(args.rounds):
            for tree in (str(Path(args.ab).resolve()), str(HERE.parent)):
                subprocess.run([sys.executable, __file__, "--child", tree], check=True)
        return 0
    _steps(args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
