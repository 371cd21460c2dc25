"""Benchmark: lensemble_spec.metrics against the peer implementation (benchmarks/peers.py), issue #12.

Cases (float32 inputs, as an encoder emits them):

* ``drift C=8`` / ``drift C=32`` — pairwise frame drift of C participants embedding k = 512 probe
  points at d = 128 (every unordered pair). Ours: ``frame_drift``. Peer: a loop of float32 SVD
  Procrustes + trace-formula angle. Also checked: our angles against the float64 per-pair SVD
  definition (``Q = UVᵀ`` of ``E_aᵀE_b``, eigen-angle formula), max error ≤ 1e-3°.
* ``procrustes 1024x128`` — one alignment. Ours: ``procrustes_align``. Peer: float32 SVD + Kabsch.
* ``effective_rank 16384x256`` — effective rank AND effective dimension. Ours: ``collapse_metrics``
  (one shared spectrum, plus the scale metrics). Peer: one float32 ``svdvals``. Floor: the work
  any float64 Gram route must do, and the work ours does — widen the batch to float64, centre it,
  Gram ``Xcᵀ Xc`` (BLAS ``syrk``), symmetric eigenvalues (``eigvalsh``) — written plainly on
  numpy's BLAS, in float64, with no chunking, checks or scale metrics. Also checked: our values
  against the float64 SVD of the centred latents (relative error ≤ ``VALUE_RTOL``).
* ``sigreg fwd+bwd 4096x128 m=64`` — ``sigreg_statistic`` on a torch tensor and ``.backward()``.
  Peer: the torch form materialising ``(M, m, 17)``.
* memory (1 thread): ``effective_rank`` of 200000×256 float32 (peak RSS above the baseline that
  already holds the input) and SIGReg fwd+bwd at M = 20000, m = 256.

Targets (issue #12), at 1 and 2 threads: drift ≥ 2× the peer; Procrustes ≥ 1×; effective rank
≥ 2× the peer and ≤ 1.2× the Gram floor; SIGReg ≥ 1.5×; memory: effective rank ≤ 2× the input's
bytes, SIGReg ≤ 0.5 GB. Every case and memory row of the JSON carries its ``target`` (in words)
and ``met``; ``all_targets_met`` is true only when both thread counts and both memory cases were
measured and every row is met.

Method. One child process per thread count, with ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and
``OPENBLAS_NUM_THREADS`` set before anything is imported and ``torch.set_num_threads`` (the scipy
peer runs only in the 1-thread child). Inside a child every contender of a case is warmed up, then
the contenders run interleaved in a rotating order ``--repeats`` times (default 5), so a busy
machine slows all of them alike; at more than one thread every timed call is preceded by a pause
of ``SETTLE_S`` (``--settle``), so that no contender pays for the worker threads the previous one's
BLAS left spinning, and then by one untimed call of the same contender (the pause lets the guest's
cores halt and every thread pool park, so an unprimed call times the wake-up, not the method:
``benchmarks/wakeup_costs.py``; ``--no-prime`` times the first call after each pause, for
comparison); the table shows medians and ``ratio = peer / ours`` of the
medians (and the ratio's range over the paired repeats); at one thread the table also shows the
ratio of median process CPU times, which a busy machine inflates far less than wall time (at two
threads CPU time also counts BLAS threads spinning, so it is recorded, not shown; pass/fail is
always on wall time). Peak memory is the rise of the peak
resident set (``VmHWM``, reset through ``/proc/self/clear_refs``) during one call. The load
average before and after each case is recorded: on a loaded machine trust the ratios, not the
absolute times.

Usage: ``python benchmarks/metrics.py --out FILE [--threads 1 2] [--repeats 5] [--settle S]``.
Prints the table (medians, ratios, peak memory of every contender, load, target, pass/fail) and
writes JSON (atomically) to ``FILE``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
ANGLE_TOL_DEG = 1e-3

#: Pause before every timed call at more than one thread. An OpenBLAS library's idle worker threads
#: spin for ~0.1 s after each call (numpy and scipy each bundle their own OpenBLAS); without the
#: pause a contender's call would compete with the previous contender's spinning threads, and its
#: time would depend on who ran before it. torch's OpenMP workers stop spinning within ~1 ms.
SETTLE_S = 0.15

#: Effective rank and dimension must equal those of the float64 SVD of the centred latents to this
#: relative tolerance (the Gram route's accuracy; RFC-0002 §7.1 asks METRIC_RTOL = 1e-5).
VALUE_RTOL = 1e-12

#: Effective rank may take at most this multiple of the Gram + eigvalsh floor's time.
FLOOR_RATIO_MAX = 1.2

MEMORY_CASES = ("effective_rank", "sigreg")

#: Contender names, in table order.
CONTENDERS = ("ours", "peer", "floor", "scipy")

#: (case, metric, comparison, threshold): what "pass" means for each row of the table.
TARGETS = {
    "drift": ("ratio", ">=", 2.0),
    "procrustes": ("ratio", ">=", 1.0),
    "effective_rank": ("ratio", ">=", 2.0),
    "sigreg": ("ratio", ">=", 1.5),
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="JSON output path")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-memory", action="store_true", help="skip the two memory cases")
    p.add_argument("--settle", type=float, default=None,
                   help=f"pause (s) before every timed call; default {SETTLE_S:g} at >1 thread, 0 at 1 thread")
    p.add_argument("--no-prime", action="store_true",
                   help="time the first call after each pause (the harness before session 6; for comparison)")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--child-out", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--memory-case", choices=MEMORY_CASES, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _atomic_write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- memory: peak resident set via /proc (Linux) ---------------------------------------------------
def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _peak_rise_mb(fn) -> float | None:
    """Rise of the peak RSS above the current RSS during ``fn()`` (None if /proc is unavailable)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    except OSError:
        return None
    before = _status_kb("VmRSS")
    fn()
    peak = _status_kb("VmHWM")
    if before is None or peak is None:
        return None
    return max(0.0, (peak - before) / 1024.0)


# --- the child: one thread count -------------------------------------------------------------------
def _frames(np, rng, c: int, k: int, d: int):
    base = rng.standard_normal((k, d)) * np.geomspace(1.0, 0.2, d)
    out = {}
    for i in range(c):
        q, r = np.linalg.qr(np.eye(d) + (0.04 / np.sqrt(d)) * rng.standard_normal((d, d)))
        out[f"p{i:02d}"] = (base @ (q * np.sign(np.diag(r))) + 0.05 * rng.standard_normal((k, d))).astype(np.float32)
    return out


def _fp64_definition(np, ids, emb) -> list[float]:
    """Per-pair float64 SVD Procrustes (Q = UVᵀ) and the eigen-angle formula: the definition."""
    out = []
    for a in range(len(ids)):
        for b in range(a + 1, len(ids)):
            u, _, vt = np.linalg.svd(emb[ids[a]].astype(np.float64).T @ emb[ids[b]].astype(np.float64))
            lam = np.linalg.eigvals(u @ vt)
            out.append(float(np.degrees(np.sqrt(0.5 * np.sum(np.angle(lam) ** 2)))))
    return out


def _fp64_svd_rank_and_dim(np, z) -> tuple[float, float]:
    """The definition: effective rank and dimension from the float64 SVD of the centred latents."""
    x = z.astype(np.float64)
    s = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    lam = s * s
    return float(np.exp(-np.sum(p * np.log(p)))), float(lam.sum() ** 2 / np.sum(lam * lam))


def _time_interleaved(contenders: dict, repeats: int, settle: float = 0.0, prime: bool = True) -> dict:
    names = list(contenders)
    times = {n: [] for n in names}
    cpu = {n: [] for n in names}
    for n in names:  # warm-up (imports, LAPACK workspaces, thread pools)
        contenders[n]()
    for rep in range(repeats):
        for n in names[rep % len(names):] + names[:rep % len(names)]:
            if settle > 0:
                time.sleep(settle)  # the previous contender's idle BLAS threads stop spinning
                if prime:
                    contenders[n]()  # primed: the pause parked every thread; this call pays the wake-up
            c0, t0 = time.process_time(), time.perf_counter()
            contenders[n]()
            times[n].append(time.perf_counter() - t0)
            cpu[n].append(time.process_time() - c0)
    peaks = {}
    for n in names:
        if settle > 0:
            time.sleep(settle)
        peaks[n] = _peak_rise_mb(contenders[n])
    return {"times_s": times, "median_s": {n: statistics.median(v) for n, v in times.items()},
            "cpu_s": cpu, "median_cpu_s": {n: statistics.median(v) for n, v in cpu.items()}, "peak_mb": peaks}


def _memory_case(args: argparse.Namespace) -> dict:
    """One memory case in this (fresh) process: peak RSS rise above the baseline holding the input."""
    import numpy as np
    import torch

    from lensemble_spec.metrics import collapse_metrics, sigreg_statistic
    from lensemble_spec.metrics.sigreg import build_sketch

    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    if args.memory_case == "effective_rank":
        big = rng.standard_normal((200000, 256), dtype=np.float32)
        collapse_metrics(big[:2048])  # imports, BLAS initialisation outside the measurement
        rise = _peak_rise_mb(lambda: collapse_metrics(big))
        return {"name": "effective_rank 200000x256", "peak_mb": rise, "limit_mb": 2 * big.nbytes / 2**20,
                "input_mb": big.nbytes / 2**20}
    zbig = torch.from_numpy(rng.standard_normal((20000, 128)).astype(np.float32)).requires_grad_(True)
    sk = build_sketch(2, 128, 256)
    sigreg_statistic(zbig[:64].detach().requires_grad_(True), sk).backward()

    def run():
        zbig.grad = None
        sigreg_statistic(zbig, sk).backward()

    return {"name": "sigreg fwd+bwd M=20000 m=256", "peak_mb": _peak_rise_mb(run), "limit_mb": 512.0}


def _settle(args: argparse.Namespace) -> float:
    if args.settle is not None:
        return max(0.0, args.settle)
    return SETTLE_S if (args.child or 1) > 1 else 0.0


def _child(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(args.child)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import peers

    from lensemble_spec.metrics import (
        collapse_metrics,
        frame_drift,
        procrustes_align,
        sigreg_statistic,
    )
    from lensemble_spec.metrics.sigreg import build_sketch

    rng = np.random.default_rng(args.seed)
    threads = args.child
    settle = _settle(args)
    cases = []

    def case(name: str, kind: str, contenders: dict, extra: dict | None = None) -> None:
        load_before = _load()
        res = _time_interleaved(contenders, args.repeats, settle, prime=not args.no_prime)
        res.update(name=name, kind=kind, threads=threads, load_before=load_before, load_after=_load(),
                   settle_s=settle, primed=settle > 0 and not args.no_prime)
        med = res["median_s"]
        res["ratio"] = med["peer"] / med["ours"]
        cpu = res["median_cpu_s"]
        res["cpu_ratio"] = cpu["peer"] / cpu["ours"] if cpu["ours"] > 0 else None
        paired = [p / o for p, o in zip(res["times_s"]["peer"], res["times_s"]["ours"])]
        res["ratio_range"] = [min(paired), max(paired)]
        if "scipy" in med:
            res["ratio_scipy"] = med["scipy"] / med["ours"]
        res.update(extra or {})
        cases.append(res)
        print(f"[{threads} thread(s)] {name}: ours {med['ours'] * 1e3:.1f} ms, peer {med['peer'] * 1e3:.1f} ms, "
              f"ratio {res['ratio']:.2f}x  (load {load_before[0]})", file=sys.stderr, flush=True)

    # pairwise drift
    for c in (8, 32):
        emb = _frames(np, rng, c, 512, 128)
        ids = sorted(emb)
        frames_t = [torch.from_numpy(emb[i]) for i in ids]
        frames_np = [emb[i] for i in ids]
        want = _fp64_definition(np, ids, emb)
        got = [p.angle_deg for p in frame_drift(emb).pairs]
        err = float(np.max(np.abs(np.asarray(got) - np.asarray(want))))
        contenders = {"ours": lambda emb=emb: frame_drift(emb),
                      "peer": lambda ft=frames_t: peers.pairwise_drift(torch, ft)}
        if threads == 1:
            contenders["scipy"] = lambda fn=frames_np: peers.scipy_pairwise_drift(fn)
        case(f"drift C={c}", "drift", contenders, {"max_angle_error_deg": err, "angle_tol_deg": ANGLE_TOL_DEG,
                                                   "mean_angle_deg": float(np.mean(want))})

    # procrustes alone
    s = (rng.standard_normal((1024, 128)) * np.geomspace(1.0, 0.2, 128)).astype(np.float32)
    q0, _ = np.linalg.qr(rng.standard_normal((128, 128)))
    t = (s @ q0 + 0.05 * rng.standard_normal((1024, 128))).astype(np.float32)
    s_t, t_t = torch.from_numpy(s), torch.from_numpy(t)
    contenders = {"ours": lambda: procrustes_align(s, t), "peer": lambda: peers.procrustes(torch, s_t, t_t)}
    if threads == 1:
        contenders["scipy"] = lambda: peers.scipy_procrustes(s, t)
    case("procrustes 1024x128", "procrustes", contenders)

    # effective rank + effective dim
    z = (rng.standard_normal((16384, 256)) * np.geomspace(1.0, 0.05, 256)).astype(np.float32)
    z_t = torch.from_numpy(z)

    def floor():
        """The Gram + eigvalsh work any Gram route must do, in float64 on numpy's BLAS: widen the
        batch to float64, centre it, ``Xcᵀ Xc`` (numpy hands ``A.T @ A`` to BLAS ``syrk``), eigvalsh."""
        c64 = z.astype(np.float64)
        c64 -= c64.mean(axis=0)
        return np.linalg.eigvalsh(c64.T @ c64)

    contenders = {"ours": lambda: collapse_metrics(z), "peer": lambda: peers.effective_rank_and_dim(torch, z_t),
                  "floor": floor}
    if threads == 1:
        contenders["scipy"] = lambda: peers.scipy_effective_rank_and_dim(z)
    ours_v = collapse_metrics(z)
    peer_v = peers.effective_rank_and_dim(torch, z_t)
    exact = _fp64_svd_rank_and_dim(np, z)
    rel_err = max(abs(ours_v["effective_rank"] / exact[0] - 1.0), abs(ours_v["effective_dim"] / exact[1] - 1.0))
    case("effective_rank+dim 16384x256", "effective_rank", contenders,
         {"values": {"ours": [ours_v["effective_rank"], ours_v["effective_dim"]], "peer": list(peer_v),
                     "fp64_svd": list(exact)},
          "max_rel_error_vs_fp64_svd": rel_err, "value_rtol": VALUE_RTOL})
    cases[-1]["floor_ratio"] = cases[-1]["median_s"]["ours"] / cases[-1]["median_s"]["floor"]

    # SIGReg forward + backward
    zs = torch.from_numpy(rng.standard_normal((4096, 128)).astype(np.float32)).requires_grad_(True)
    sketch = build_sketch(1, 128, 64)
    sketch_t = torch.from_numpy(sketch)

    def ours_sig():
        zs.grad = None
        sigreg_statistic(zs, sketch).backward()

    def peer_sig():
        zs.grad = None
        peers.sigreg(torch, zs, sketch_t).backward()

    zs.grad = None
    v_ours = float(sigreg_statistic(zs, sketch).detach())
    v_peer = float(peers.sigreg(torch, zs, sketch_t).detach())
    case("sigreg fwd+bwd 4096x128 m=64", "sigreg", {"ours": ours_sig, "peer": peer_sig},
         {"values": {"ours": v_ours, "peer": v_peer}})

    memory = []
    if threads == 1 and not args.no_memory:  # each in a fresh process: no freed-but-resident heap to reuse
        for name in MEMORY_CASES:
            done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--out", str(args.out),
                                   "--memory-case", name, "--seed", str(args.seed)],
                                  check=True, capture_output=True, text=True)
            memory.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {"threads": threads, "torch_threads": torch.get_num_threads(), "cases": cases, "memory": memory,
            "versions": {"torch": torch.__version__, "numpy": np.__version__}}


# --- the parent ------------------------------------------------------------------------------------
def _verdict(row: dict) -> tuple[bool, str]:
    """Whether a timed case meets its issue-#12 target, and the target in words."""
    kind = row["kind"]
    _, _, thr = TARGETS[kind]
    ok = row["ratio"] >= thr
    why = f"ratio ≥ {thr:g}"
    if kind == "drift":
        ok = ok and row["max_angle_error_deg"] <= row["angle_tol_deg"]
        why += f", angle err ≤ {row['angle_tol_deg']:g}°"
    if kind == "effective_rank":
        ok = ok and row["floor_ratio"] <= FLOOR_RATIO_MAX and row["max_rel_error_vs_fp64_svd"] <= row["value_rtol"]
        why += f", ≤ {FLOOR_RATIO_MAX:g}× floor, values within {row['value_rtol']:g} of the fp64 SVD"
    return ok, why


def _judge(results: list[dict]) -> None:
    """Writes ``target`` (in words) and ``met`` into every case and memory row, in place."""
    for res in results:
        for row in res["cases"]:
            row["met"], row["target"] = _verdict(row)
        for mem in res.get("memory", []):
            mem["target"] = f"peak rise ≤ {mem['limit_mb']:.0f} MB"
            mem["met"] = mem["peak_mb"] is not None and mem["peak_mb"] <= mem["limit_mb"]


def _all_met(args: argparse.Namespace, results: list[dict]) -> bool:
    """True only when every target of the issue was measured (both thread counts, both memory cases)
    and met."""
    rows = [row for res in results for row in res["cases"]] + [m for res in results for m in res.get("memory", [])]
    measured = ({1, 2} <= {res["threads"] for res in results}
                and sum(len(res.get("memory", [])) for res in results) == len(MEMORY_CASES))
    return measured and bool(rows) and all(row["met"] for row in rows)


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v * 1e3:.1f} ms"


def _table(results: list[dict]) -> str:
    lines = [
        "| case | threads | peer | ours | floor | peer/ours (paired range) | scipy/ours | peak MB rise | "
        "load before→after | target | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        for row in res["cases"]:
            med = row["median_s"]
            extra = ""
            if row["kind"] == "drift":
                extra = f"; angle err {row['max_angle_error_deg']:.1e}°"
            if row["kind"] == "effective_rank":
                extra = f"; ours/floor {row['floor_ratio']:.2f}; rel err {row['max_rel_error_vs_fp64_svd']:.0e}"
            if row["threads"] == 1 and row.get("cpu_ratio"):
                extra += f"; CPU-time ratio {row['cpu_ratio']:.2f}x"
            sc = f"{row['ratio_scipy']:.2f}x" if "ratio_scipy" in row else "—"
            pk = row["peak_mb"]
            pk_s = ", ".join(f"{n} {'—' if pk[n] is None else f'{pk[n]:.0f}'}" for n in CONTENDERS if n in pk)
            lines.append(
                f"| {row['name']} | {row['threads']} | {_ms(med['peer'])} | {_ms(med['ours'])} | "
                f"{_ms(med.get('floor'))} | "
                f"{row['ratio']:.2f}x ({row['ratio_range'][0]:.2f}–{row['ratio_range'][1]:.2f}){extra} | {sc} | "
                f"{pk_s} | {row['load_before'][0]}→{row['load_after'][0]} | {row['target']} | "
                f"{'PASS' if row['met'] else 'FAIL'} |")
        for mem in res.get("memory", []):
            peak = "n/a (no /proc)" if mem["peak_mb"] is None else f"+{mem['peak_mb']:.0f}"
            lines.append(f"| memory: {mem['name']} | {res['threads']} | — | — | — | — | — | ours {peak} | — | "
                         f"{mem['target']} | {'PASS' if mem['met'] else 'FAIL'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.memory_case is not None:
        print(json.dumps(_memory_case(args)))
        return 0
    if args.child is not None:
        _atomic_write_json(args.child_out, _child(args))
        return 0
    results = []
    started = _load()
    t_start = time.perf_counter()
    for n in args.threads:
        env = dict(os.environ)
        for var in THREAD_VARS:
            env[var] = str(n)
        env["LENSEMBLE_THREADS"] = str(n)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "child.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--out", str(args.out), "--child", str(n),
                   "--child-out", str(out), "--repeats", str(args.repeats), "--seed", str(args.seed)]
            if args.no_memory:
                cmd.append("--no-memory")
            if args.settle is not None:
                cmd += ["--settle", str(args.settle)]
            if args.no_prime:
                cmd.append("--no-prime")
            subprocess.run(cmd, env=env, check=True)
            results.append(json.loads(out.read_text()))
        _atomic_write_json(args.out, _report(args, argv, results, started))  # partial results survive
    report = _report(args, argv, results, started)
    _atomic_write_json(args.out, report)
    print(report["table"])
    print(f"\nload average at start {started}, at end {report['platform']['load_at_end']} "
          f"({os.cpu_count()} CPUs); {time.perf_counter() - t_start:.0f} s; "
          f"all targets met: {report['all_targets_met']}")
    return 0


def _report(args: argparse.Namespace, argv: list[str] | None, results: list[dict], started: list[float]) -> dict:
    _judge(results)
    return {
        "command": "python benchmarks/metrics.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "platform": {"python": platform.python_version(), "machine": platform.machine(),
                     "cpus": os.cpu_count(), "load_at_start": started, "load_at_end": _load()},
        "results": results,
        "table": _table(results),
        "all_targets_met": _all_met(args, results),
        "complete": len(results) == len(args.threads),
    }


if __name__ == "__main__":
    raise SystemExit(main())
