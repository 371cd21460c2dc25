"""Where the time of ``collapse_metrics`` goes, and why the Gram stays in float64 (docs/metrics-speed.md).

Usage: ``python benchmarks/collapse_costs.py [--threads N] [--repeats 15]``. Sets the BLAS thread
variables to N before numpy, scipy or torch are imported, then prints, for the benchmark's latents
(16384 × 256 float32, column scales geomspace(1, 0.05)):

* the per-step cost of the float32 one-pass route over all chunks (minimum wall time of
  ``--repeats`` runs: widening, shifting, column sums, ``syrk`` with and without the column of
  ones that gives the sums, eigenvalues), next to the whole
  call, the Gram + eigvalsh floor of benchmarks/metrics.py and a mixed-type ufunc widening;
* the whole call with chunks of 256 … 4096 rows;
* (N > 1) how much CPU each library's idle worker threads burn during a 0.2 s sleep right after
  one of its calls (the reason for the benchmark's settle pause and for one BLAS per metric);
* what a float32 Gram would cost in accuracy: the a-priori bounds (Weyl, and the relative bound
  through the correlation matrix) against the error it actually makes on these latents;
* with ``--alternatives``: the eigenvalues of a 256 × 256 Gram by every values-only routine at hand
  (scipy ``dsyevr``/``dsyevd``/``dsyev``, numpy, torch/MKL), and the bordered Gram computed as two
  row halves on two kept worker threads, each at one MKL thread (torch's thread count is per
  thread), from ``gemm``s on 2 or 4 column blocks of the upper triangle, against the ``dsyrk``
  loop — medians of 9, each timed call after a 0.15 s pause and one untimed call (as
  benchmarks/metrics.py times at more than one thread).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--alternatives", action="store_true")
    return p.parse_args()


def main() -> int:
    args = _parse()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LENSEMBLE_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np
    import torch
    from scipy.linalg.blas import dgemv, dsyrk
    from scipy.linalg.lapack import dsyevr

    from lensemble_spec.metrics import collapse_metrics
    from lensemble_spec.metrics.collapse import _effective_rank_from, _gram_rows

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((16384, 256)) * np.geomspace(1.0, 0.05, 256)).astype(np.float32)
    n, d = z.shape
    step = _gram_rows(d)
    buf = np.empty((step, d))
    ones = np.ones(step)
    mu0 = z[:step].mean(axis=0, dtype=np.float64)
    gram = np.asfortranarray(z.T.astype(np.float64) @ z.astype(np.float64))
    acc = np.zeros((d, d), order="F")  # syrk accumulates into it in place
    bordered = np.empty((step, d + 1))  # the call's buffer: a chunk plus a column of ones
    bordered[:, d] = 1.0
    acc1 = np.zeros((d + 1, d + 1), order="F")

    def chunks(fn):
        return lambda: [fn(z[i : i + step]) for i in range(0, n, step)]

    def floor():
        c64 = z.astype(np.float64)
        c64 -= c64.mean(axis=0)
        return np.linalg.eigvalsh(c64.T @ c64)

    steps = {
        "widen (copyto float32 -> float64)": chunks(lambda r: np.copyto(buf, r)),
        "shift (chunk -= mu0)": chunks(lambda r: buf.__isub__(mu0)),
        "column sums (dgemv with ones, before)": chunks(lambda r: dgemv(1.0, buf.T, ones)),
        "column sums (chunk.sum(axis=0), before)": chunks(lambda r: buf.sum(axis=0)),
        "syrk (Gram update)": chunks(lambda r: dsyrk(1.0, buf.T, beta=1.0, c=acc, trans=0, lower=0, overwrite_c=1)),
        "syrk, chunk + ones column (Gram + sums)": chunks(
            lambda r: dsyrk(1.0, bordered.T, beta=1.0, c=acc1, trans=0, lower=0, overwrite_c=1)),
        "widen into the bordered buffer": chunks(lambda r: np.copyto(bordered[:, :d], r)),
        "eigenvalues (dsyevr, d x d)": lambda: dsyevr(gram, compute_v=0, lower=0),
        "widen+shift as one mixed-type ufunc": chunks(lambda r: np.subtract(r, mu0, out=buf)),
        "collapse_metrics (whole call)": lambda: collapse_metrics(z),
        "floor of benchmarks/metrics.py": floor,
    }
    print(f"threads {args.threads}; {n}x{d} float32, chunks of {step} rows; min wall ms over {args.repeats}")
    for name, fn in steps.items():
        fn()
        best = min(_wall(fn) for _ in range(args.repeats))
        print(f"  {name:40s} {best * 1e3:7.2f}")

    from lensemble_spec.metrics import collapse

    saved = collapse.GRAM_CHUNK_BYTES
    sweep = []
    for rows in (256, 512, 1024, 2048, 4096):
        collapse.GRAM_CHUNK_BYTES = rows * 8 * d
        whole = steps["collapse_metrics (whole call)"]
        whole()
        sweep.append(f"{rows}: {min(_wall(whole) for _ in range(args.repeats)) * 1e3:.1f}")
    collapse.GRAM_CHUNK_BYTES = saved
    print("  collapse_metrics by chunk rows (ms):  " + ", ".join(sweep))

    if args.threads > 1:
        print("CPU ms burnt by idle worker threads during a 0.2 s sleep right after one call:")
        a = rng.standard_normal((1024, 256))
        t = torch.randn(1024, 1024)
        for name, fn in (("numpy (its OpenBLAS)", lambda: a.T @ a), ("scipy (its OpenBLAS)", lambda: dsyrk(1.0, a.T)),
                         ("torch (MKL, OpenMP)", lambda: t @ t)):
            fn()
            fn()
            c = time.process_time()
            time.sleep(0.2)
            print(f"  {name:40s} {(time.process_time() - c) * 1e3:7.1f}")

    x = z.astype(np.float64)
    x -= x.mean(axis=0)
    g64 = x.T @ x
    lam = np.linalg.eigvalsh(g64)
    corr = g64 / np.sqrt(np.outer(np.diag(g64), np.diag(g64)))
    u32 = 2.0**-24
    print("float32 Gram of the centred latents (accumulation length k per GEMM):")
    for k in (n, step, 64):
        gamma = k * u32 / (1 - k * u32)
        print(f"  k={k:5d}: Weyl bound max|dλ|/λ_min {gamma * np.trace(g64) / lam[0]:.2e}; "
              f"relative bound |dλ|/λ {gamma / np.linalg.eigvalsh(corr)[0]:.2e}")
    x32 = x.astype(np.float32)
    lam32 = np.linalg.eigvalsh((x32.T @ x32).astype(np.float64))
    s64, s32 = np.sqrt(lam[::-1]), np.sqrt(np.clip(lam32[::-1], 0.0, None))
    print(f"  actual: max |dλ|/λ {np.max(np.abs(lam32 - lam) / lam):.1e}; effective rank relative error "
          f"{abs(_effective_rank_from(s32) / _effective_rank_from(s64) - 1):.1e}")
    if args.alternatives:
        _alternatives(np, torch, z, gram, step)
    return 0


def _primed_median(fn, n: int = 9) -> float:
    fn()
    out = []
    for _ in range(n):
        time.sleep(0.15)
        fn()
        out.append(_wall(fn))
    return sorted(out)[n // 2]


def _alternatives(np, torch, z, gram, step) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from scipy.linalg.blas import dsyrk
    from scipy.linalg.lapack import dsyev, dsyevd, dsyevr

    gt = torch.from_numpy(np.ascontiguousarray(gram))
    eig = {"scipy dsyevr": lambda: dsyevr(gram, compute_v=0, range="A"),
           "scipy dsyevd": lambda: dsyevd(gram, compute_v=0), "scipy dsyev": lambda: dsyev(gram, compute_v=0),
           "numpy eigvalsh": lambda: np.linalg.eigvalsh(gram),
           "torch eigvalsh (MKL)": lambda: torch.linalg.eigvalsh(gt)}
    print("eigenvalues only, 256 x 256 (primed median ms): " + ", ".join(
        f"{k} {_primed_median(f) * 1e3:.2f}" for k, f in eig.items()))

    n, d = z.shape
    width = d + 1

    def one_thread() -> None:
        torch.get_num_threads()
        torch.set_num_threads(1)

    pool = ThreadPoolExecutor(2, initializer=one_thread)

    def half(lo: int, hi: int, edges: list[int]) -> torch.Tensor:
        g = torch.zeros(width, width, dtype=torch.float64)
        buf = np.empty((step, width))
        buf[:, d] = 1.0
        tb = torch.from_numpy(buf)
        blocks = [(a, b) for a in range(len(edges) - 1) for b in range(a, len(edges) - 1)]
        for i in range(lo, hi, step):
            rows = z[i : i + step]
            np.copyto(buf[: rows.shape[0], :d], rows)
            c = tb[: rows.shape[0]]
            for a, b in blocks:
                g[edges[a] : edges[a + 1], edges[b] : edges[b + 1]].addmm_(
                    c[:, edges[a] : edges[a + 1]].T, c[:, edges[b] : edges[b + 1]])
        return g

    def halves_concurrent(blocks: int):
        edges = [int(x) for x in np.linspace(0, width, blocks + 1)]
        mid = (n // 2) // step * step

        def run():
            f1, f2 = pool.submit(half, 0, mid, edges), pool.submit(half, mid, n, edges)
            return f1.result() + f2.result()
        return run

    def syrk_loop():
        buf = np.empty((step, width))
        buf[:, d] = 1.0
        g = np.zeros((width, width), order="F")
        for i in range(0, n, step):
            np.copyto(buf[:, :d], z[i : i + step])
            g = dsyrk(1.0, buf.T, beta=1.0, c=g, trans=0, lower=0, overwrite_c=1)
        return g

    check = halves_concurrent(2)().numpy()
    rel = float(np.max(np.abs(np.triu(check) - np.triu(syrk_loop()))) / np.max(np.abs(syrk_loop())))
    gram_routes = {"dsyrk loop (the metric's)": syrk_loop, "two MKL halves, 2 column blocks": halves_concurrent(2),
                   "two MKL halves, 4 column blocks": halves_concurrent(4)}
    print(f"bordered Gram pass, {n} x {width} (primed median ms; MKL halves agree to {rel:.0e}): " + ", ".join(
        f"{k} {_primed_median(f) * 1e3:.2f}" for k, f in gram_routes.items()))
    pool.shutdown()


def _wall(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    sys.exit(main())
