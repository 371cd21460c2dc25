"""benchmarks/metrics.py's verdict logic on synthetic results (the timing itself is not run here)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_metrics", ROOT / "benchmarks" / "metrics.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _row(kind: str, ratio: float, threads: int, **extra) -> dict:
    row = {"name": f"{kind} case", "kind": kind, "threads": threads, "ratio": ratio, "ratio_range": [ratio, ratio],
           "median_s": {"ours": 0.01, "peer": 0.01 * ratio}, "peak_mb": {"ours": 1.0, "peer": 2.0},
           "load_before": [0.1, 0.1, 0.1], "load_after": [0.2, 0.1, 0.1]}
    row.update(extra)
    return row


def _results(rank_ratio: float = 2.5, floor_ratio: float = 0.9, rank_err: float = 1e-15,
             sigreg_mb: float = 80.0, threads: tuple[int, ...] = (1, 2)) -> list[dict]:
    out = []
    for t in threads:
        cases = [
            _row("effective_rank", rank_ratio, t, floor_ratio=floor_ratio, max_rel_error_vs_fp64_svd=rank_err,
                 value_rtol=1e-12),
            _row("sigreg", 3.0, t),
            _row("drift", 2.5, t, max_angle_error_deg=1e-6, angle_tol_deg=1e-3),
        ]
        memory = [{"name": "eff", "peak_mb": 2.0, "limit_mb": 390.0},
                  {"name": "sigreg", "peak_mb": sigreg_mb, "limit_mb": 512.0}] if t == 1 else []
        out.append({"threads": t, "cases": cases, "memory": memory})
    return out


ARGS = argparse.Namespace(threads=[1, 2], out=Path("x.json"))


# Catches: a row without its own target/met, all_targets_met computed from anything but the rows,
# or a target that ignores one of its conditions (floor ratio, exactness, memory limit).
@pytest.mark.parametrize(("change", "failing_kind"), [
    ({}, None),
    ({"rank_ratio": 1.9}, "effective_rank"),
    ({"floor_ratio": 1.3}, "effective_rank"),
    ({"rank_err": 1e-9}, "effective_rank"),
    ({"sigreg_mb": 600.0}, "memory"),
])
def test_every_row_carries_target_and_met(bench, change, failing_kind):
    results = _results(**change)
    report = bench._report(ARGS, ["--out", "x.json"], results, [0.0, 0.0, 0.0])
    rows = [r for res in report["results"] for r in res["cases"] + res["memory"]]
    assert all(isinstance(r["met"], bool) and r["target"] for r in rows)
    failed = {r.get("kind", "memory") for r in rows if not r["met"]}
    assert failed == (set() if failing_kind is None else {failing_kind})
    assert report["all_targets_met"] is (failing_kind is None)
    assert report["table"].count("FAIL") == sum(not r["met"] for r in rows)


# Catches: "all targets met" claimed from a partial run (one thread count, or no memory cases).
def test_all_targets_met_needs_every_measurement(bench):
    one = _results(threads=(1,))
    assert bench._report(argparse.Namespace(threads=[1]), None, one, [0, 0, 0])["all_targets_met"] is False
    no_mem = _results()
    no_mem[0]["memory"] = []
    assert bench._report(ARGS, None, no_mem, [0, 0, 0])["all_targets_met"] is False


def test_settle_only_at_more_than_one_thread(bench):
    ns = argparse.Namespace
    assert bench._settle(ns(settle=None, child=1)) == 0.0
    assert bench._settle(ns(settle=None, child=2)) == bench.SETTLE_S > 0
    assert bench._settle(ns(settle=0.0, child=2)) == 0.0


def test_timed_calls_after_a_pause_are_primed(bench, monkeypatch):
    """After the settle pause each contender runs once untimed, then once timed; without a pause
    only the timed call (plus the one warm-up per contender before the repeats), and so with
    ``--no-prime``."""
    monkeypatch.setattr(bench.time, "sleep", lambda s: None)
    monkeypatch.setattr(bench, "_peak_rise_mb", lambda fn: 0.0)
    for settle, prime, per_repeat in ((0.15, True, 2), (0.0, True, 1), (0.15, False, 1)):
        calls = {"a": 0, "b": 0}
        contenders = {n: (lambda n=n, c=calls: c.__setitem__(n, c[n] + 1)) for n in calls}
        res = bench._time_interleaved(contenders, repeats=3, settle=settle, prime=prime)
        assert calls == {"a": 1 + 3 * per_repeat, "b": 1 + 3 * per_repeat}
        assert all(len(v) == 3 for v in res["times_s"].values())
