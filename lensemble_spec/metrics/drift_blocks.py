"""The batched solve behind :func:`~.drift.frame_drift`: work blocks, worker threads, one block's solve.

How and why: :mod:`.drift` module docstring, "Speed".
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .angles import drift_from_orthogonal_fast
from .procrustes import PolarBatch, polar_batch

#: When every embedding is float32 (each value exact in float32), the cross-covariances are first
#: accumulated by a float32 GEMM (half the time of float64 at k = 512, d = 128); an item whose
#: ``σ_max/σ_min`` exceeds this, or that takes the SVD route, is recomputed from float64 products.
#: The float32 accumulation perturbs ``M`` by ~``√k·u₃₂`` relative (~1e-6), so ``Q`` moves by
#: ``≲ κ·1e-6`` in the worst case and far less in practice: measured at k = 512, d = 128, κ = 63,
#: the drift angles differ from the float64 route by 2e-6° (ANGLE_ATOL_DEG is 1e-3°). The residual
#: from the trace identity then has a noise floor of ~``sqrt(√k·u₃₂) ≈ 1e-3`` instead of
#: :data:`RESIDUAL_NOISE_FLOOR` (float64 embeddings keep the float64 route throughout).
FP32_CROSS_MAX_COND = 100.0



def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # respects taskset / container CPU sets
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _worker_count(torch: Any, n_blocks: int) -> int:
    if torch is None:
        return 1
    return max(1, min(torch.get_num_threads(), _usable_cpus(), n_blocks))


#: Pairs of one participant's row (and reference comparisons) are solved in blocks of at most
#: this many: the float64 stacks of a block (``count·d²`` entries each, 128 KB per problem at
#: d = 128) then stay within a core's cache through the dozen passes over them.
BLOCK_ITEMS = 8


def _plan_blocks(c: int, n_refs: int) -> list[tuple[int, int, int, int, int]]:
    """Work blocks ``(first output slot, count, kind, index, first)`` in output order.

    kind 0: pairs ``(index, first … first + count − 1)`` (a run of one row of the upper
    triangle); kind ``1 + r``: participants ``index … index + count − 1`` against reference ``r``
    (``first`` unused). Each block holds at most :data:`BLOCK_ITEMS` problems.
    """
    blocks = []
    slot = 0
    for i in range(c - 1):
        for j0 in range(i + 1, c, BLOCK_ITEMS):
            n = min(BLOCK_ITEMS, c - j0)
            blocks.append((slot, n, 0, i, j0))
            slot += n
    for r in range(n_refs):
        for c0 in range(0, c, BLOCK_ITEMS):
            n = min(BLOCK_ITEMS, c - c0)
            blocks.append((slot, n, 1 + r, c0, c0))
            slot += n
    return blocks


def _item_cross(block: tuple[int, int, int, int, int], items: Sequence[int], e: Any, refs: Sequence[Any]) -> Any:
    """The cross-covariances of the listed items of one block, from ``e`` (for the float64 redo)."""
    _, _, kind, idx, first = block
    if kind == 0:
        ms = [e[idx].swapaxes(0, 1) @ e[first + j] for j in items]
    else:
        ms = [e[idx + j].swapaxes(0, 1) @ refs[kind - 1] for j in items]
    if isinstance(e, np.ndarray):
        return np.stack(ms)
    import torch

    return torch.stack(ms)


def _block_cross(block: tuple[int, int, int, int, int], e: Any, x: Any, refs: Sequence[Any]) -> Any:
    """The ``(count, d, d)`` cross-covariances ``E_sourceᵀ E_target`` of one block."""
    _, n, kind, idx, first = block
    d = e.shape[-1]
    if kind == 0:  # a run of row idx of the Gram upper triangle: [E_iᵀE_first … E_iᵀE_{first+n−1}]
        return (e[idx].swapaxes(0, 1) @ x[:, first * d:(first + n) * d]).reshape(d, n, d).swapaxes(0, 1)
    return (x[:, idx * d:(idx + n) * d].swapaxes(0, 1) @ refs[kind - 1]).reshape(n, d, d)


@dataclass
class _Solved:
    """Per-problem outputs of the batched solve, filled block by block (disjoint slices)."""

    s_max: np.ndarray
    s_min: np.ndarray
    nuclear: np.ndarray
    angle: np.ndarray
    reflection: np.ndarray
    via_svd: np.ndarray
    rank: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _Solved:
        return cls(*(np.full(n, np.nan) for _ in range(4)), np.zeros(n, bool), np.zeros(n, bool),
                   np.zeros(n, np.int64))


def _assign(pb: PolarBatch, sel: Any, other: PolarBatch) -> None:
    for name in PolarBatch._fields:
        getattr(pb, name)[sel] = getattr(other, name)


def _neg_det(m: Any) -> Any:
    """``det M < 0`` per item (``slogdet``: no overflow or underflow at any d)."""
    lin = np.linalg if isinstance(m, np.ndarray) else __import__("torch").linalg
    return lin.slogdet(m)[0] < 0


def _like(ref: Any, mask: np.ndarray) -> Any:
    return mask if isinstance(ref, np.ndarray) else __import__("torch").from_numpy(mask)


def _solve_block(block: tuple[int, int, int, int, int], ops: tuple, ops32: tuple | None, proper: bool,
                 out: _Solved) -> None:
    slot, n = block[:2]
    is_np = isinstance(ops[0], np.ndarray)
    index = (lambda ix: ix) if is_np else (lambda ix: __import__("torch").from_numpy(ix))
    # First pass over O(d) without determinant signs: the angle series certifies det Q = +1 for
    # its items (no reflection, and no Kabsch flip for proper=True); the rest are redone below.
    if ops32 is None:
        m = _block_cross(block, *ops)
        pb = polar_batch(m, proper=False, signs=False)
    else:
        m = _block_cross(block, *ops32)
        m = m.astype(np.float64) if is_np else m.double()
        pb = polar_batch(m, proper=False, signs=False)
        ill = np.asarray(pb.s_min) * FP32_CROSS_MAX_COND < np.asarray(pb.s_max)
        redo = np.flatnonzero(np.asarray(pb.via_svd) | ill)
        if redo.size:
            e, _, refs = ops
            sel = index(redo)
            m[sel] = _item_cross(block, [int(j) for j in redo], e, refs)
            _assign(pb, sel, polar_batch(m[sel], proper=False, signs=False))
    angle, certified = drift_from_orthogonal_fast(pb.q, with_certificate=True)
    via_svd = np.asarray(pb.via_svd)
    unsure = np.flatnonzero(~certified & ~via_svd)
    if unsure.size:  # eigh-route items the series did not certify: only the sign of det M is missing
        neg = np.asarray(_neg_det(m[index(unsure)]))
        if proper:  # a Kabsch flip changes Q: solve those again with signs
            redo = unsure[neg]
        else:
            pb.reflection[index(unsure)] = pb.reflection[index(unsure)] | _like(pb.reflection, neg)
            redo = unsure[:0]
    else:
        redo = unsure
    svd_items = np.flatnonzero(via_svd)
    if svd_items.size:  # SVD-route items (rank-deficient completions decide det Q themselves)
        if proper:
            redo = np.concatenate([redo, svd_items])
        else:
            sel = index(svd_items)
            pb.reflection[sel] = _neg_det(pb.q[sel])
    if redo.size:
        sel = index(redo)
        again = polar_batch(m[sel], proper=proper)
        _assign(pb, sel, again)
        if proper:
            angle[redo] = drift_from_orthogonal_fast(again.q)
    sl = slice(slot, slot + n)
    s_max, s_min = np.asarray(pb.s_max), np.asarray(pb.s_min)
    out.s_max[sl], out.s_min[sl], out.nuclear[sl] = s_max, s_min, np.asarray(pb.nuclear)
    out.reflection[sl], out.via_svd[sl] = np.asarray(pb.reflection), np.asarray(pb.via_svd)
    out.rank[sl] = np.asarray(pb.rank)
    # Degenerate items get a (finite, meaningless) angle here; frame_drift replaces it with NaN.
    out.angle[sl] = angle


def _single_threaded_worker(torch: Any) -> None:
    torch.get_num_threads()  # finish torch's lazy per-thread init first, so it cannot undo the next line
    torch.set_num_threads(1)  # this thread's OpenMP / MKL settings only


#: Worker pools of :func:`_run_blocks`, kept for the life of the process (per process id, so a
#: forked child starts its own): new threads would pay torch's and MKL's per-thread set-up and
#: cold LAPACK workspaces on every call.
_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(workers: int, torch: Any) -> ThreadPoolExecutor:
    key = (os.getpid(), workers)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = ThreadPoolExecutor(workers, thread_name_prefix="lensemble-drift",
                                      initializer=_single_threaded_worker, initargs=(torch,))
            _POOLS[key] = pool
    return pool


def _run_blocks(fn: Callable[[tuple[int, int, int, int, int]], None], blocks: list, torch: Any) -> None:
    """Run ``fn`` on every block: inline, or on single-threaded torch workers (largest first)."""
    if torch is None or torch.get_num_threads() == 1:
        for b in blocks:
            fn(b)
        return
    workers = _worker_count(torch, len(blocks))
    order = sorted(blocks, key=lambda b: -b[1])  # longest first: dynamic, near-even balance
    caller_threads = torch.get_num_threads()
    try:
        for _ in _pool(workers, torch).map(fn, order):
            pass
    finally:
        # set_num_threads also records a process-wide default for threads torch initialises
        # later; a worker started during this call left it at 1, so put the caller's value back.
        torch.set_num_threads(caller_threads)
