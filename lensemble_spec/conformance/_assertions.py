"""How the suite compares what an implementation returned with what it expected, and reports problems."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import bounds

# --- arrays crossing the protocol boundary -----------------------------------------------------------


def as_array(x: Any) -> np.ndarray:
    """``numpy.asarray`` of anything an implementation returns (torch tensors detached first)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) == "torch.bfloat16":
            x = x.float()
    return np.asarray(x)


def as_params(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A parameter mapping as ``{name: ndarray}`` copies (for comparison and snapshotting)."""
    return {str(k): np.array(as_array(v), copy=True) for k, v in params.items()}


def bitwise_equal(a: Any, b: Any) -> bool:
    """Same dtype, shape and bytes."""
    a, b = as_array(a), as_array(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def params_bitwise_equal(p: Mapping[str, Any], q: Mapping[str, Any]) -> bool:
    return set(p) == set(q) and all(bitwise_equal(p[k], q[k]) for k in p)


def max_rel_error(actual: Any, expected: Any, *, floor: float = bounds.SCALE_FLOOR) -> float:
    """``max |a − e| / max(|e|, floor)`` elementwise (AGG_RTOL's scale convention)."""
    a = np.asarray(as_array(actual), dtype=np.float64)
    e = np.asarray(as_array(expected), dtype=np.float64)
    if a.shape != e.shape:
        return math.inf
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - e) / np.maximum(np.abs(e), floor)))


def allclose(actual: Any, expected: Any, *, rtol: float, atol: float) -> bool:
    a = np.asarray(as_array(actual), dtype=np.float64)
    e = np.asarray(as_array(expected), dtype=np.float64)
    return a.shape == e.shape and bool(np.all(np.isfinite(a))) and bool(np.allclose(a, e, rtol=rtol, atol=atol))


def close_scalar(actual: float, expected: float, *, rtol: float, atol: float) -> bool:
    return math.isfinite(actual) and abs(actual - expected) <= atol + rtol * abs(expected)


def require(condition: bool, problems: list[str], message: str) -> None:
    if not condition:
        problems.append(message)


def assert_no_problems(problems: list[str], what: str) -> None:
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise AssertionError(f"{what}:\n  {shown}{more}")
