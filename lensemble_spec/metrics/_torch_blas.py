"""Products, sums and thread settings for one small problem: torch's BLAS when torch is loaded.

Used by :func:`~.procrustes.procrustes_align` (one Procrustes problem at a time). Never imports
torch; numpy otherwise.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import numpy as np


def _sum_sq(x: np.ndarray) -> float:
    """``Σ x²`` accumulated in float64 (float32 squares are exact in float64); on torch's BLAS
    when torch is loaded (:func:`_matmul` says why numpy's multi-threaded BLAS is avoided)."""
    v = x.reshape(-1).astype(np.float64, copy=False)
    torch = _loaded_torch()
    if torch is None or not v.flags.writeable:
        return float(v @ v)
    tv = torch.from_numpy(v)
    return float(torch.dot(tv, tv))


def _loaded_torch() -> Any:
    """The torch module if something has already imported it (never imports it), else None."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and hasattr(torch, "linalg") else None


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` on torch's BLAS when torch is loaded (zero-copy views), numpy's otherwise.

    torch's threads are the ones the caller set (``torch.set_num_threads``); numpy's OpenBLAS
    threads cannot be limited per call, and on a loaded machine its multi-threaded small
    products stall — the same reason :mod:`.drift` solves its batches on torch.
    """
    torch = _loaded_torch()
    if torch is None or not (a.flags.writeable and b.flags.writeable) or min(a.strides + b.strides) < 0:
        return a @ b  # (torch.from_numpy refuses negative strides and warns on read-only arrays)
    return (torch.from_numpy(a) @ torch.from_numpy(b)).numpy()


def _single_threaded(fn: Any) -> Any:
    """Run ``fn`` with torch's intra-op threads at 1 (restored after) when torch is loaded.

    One d × d problem gains little from a second thread (LAPACK's ``eigh`` at d = 128 not at all,
    the ``n × d`` product some 0.1 ms) and loses much more: every switch between a threaded
    product and a sequential factorisation wakes and parks an OpenMP team, and on a loaded
    machine a team waiting for a starved thread is one to two orders of magnitude slower.
    """

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        torch = _loaded_torch()
        threads = torch.get_num_threads() if torch is not None else 1
        if threads == 1:
            return fn(*args, **kwargs)
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return run
