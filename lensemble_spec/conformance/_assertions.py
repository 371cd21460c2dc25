"""How the suite compares what an implementation returned with what it expected, and reports problems."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
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


def encoded(model_part: Any, params: Any, obs: Any) -> np.ndarray:
    """``model_part.encode(params, obs)`` as float64."""
    return np.asarray(as_array(model_part.encode(params, obs)), dtype=np.float64)


def predicted(model_part: Any, params: Any, z: Any, action: Any) -> np.ndarray:
    """``model_part.predict(params, z, action)`` (``z`` handed over as float32) as float64."""
    return np.asarray(as_array(model_part.predict(params, np.asarray(z, dtype=np.float32), action)), dtype=np.float64)


def bitwise_equal(a: Any, b: Any) -> bool:
    """Same dtype, shape and bytes."""
    a, b = as_array(a), as_array(b)
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


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


def close_problem(actual: Any, expected: Any, *, rtol: float, atol: float) -> str | None:
    """Why ``actual`` is not close to ``expected`` (None when it is): the one closeness rule of the suite.

    Close means the same shape, every element of both finite, and ``|a − e| <= atol + rtol·|e|``
    elementwise (float64). Non-finite values never compare close — not even NaN to NaN: a NaN
    compared with ``>`` is False, so a tolerance written as "no element exceeds it" lets an
    implementation that outputs NaN pass.
    """
    a = np.asarray(as_array(actual), dtype=np.float64)
    e = np.asarray(as_array(expected), dtype=np.float64)
    if a.shape != e.shape:
        return f"shape {a.shape} != expected {e.shape}"
    for name, x in (("got", a), ("expected", e)):
        if not np.all(np.isfinite(x)):
            return f"{int(np.sum(~np.isfinite(x)))} non-finite value(s) in what was {name}"
    if a.size and not np.all(np.abs(a - e) <= atol + rtol * np.abs(e)):
        return f"max |Δ| = {float(np.max(np.abs(a - e))):.3g} exceeds the tolerance (rtol {rtol:g}, atol {atol:g})"
    return None


def allclose(actual: Any, expected: Any, *, rtol: float, atol: float) -> bool:
    """:func:`close_problem` finds nothing."""
    return close_problem(actual, expected, rtol=rtol, atol=atol) is None


def close_scalar(actual: float, expected: float, *, rtol: float, atol: float) -> bool:
    """:func:`allclose` for two numbers."""
    return allclose(float(actual), float(expected), rtol=rtol, atol=atol)


def assert_close(actual: Any, expected: Any, *, rtol: float, atol: float, what: str) -> None:
    """Raise ``AssertionError`` naming ``what`` unless :func:`allclose`."""
    problem = close_problem(actual, expected, rtol=rtol, atol=atol)
    assert problem is None, f"{what}: {problem}"


# --- reporting --------------------------------------------------------------------------------------
def assert_no_problems(problems: list[str], what: str) -> None:
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise AssertionError(f"{what}:\n  {shown}{more}")


def assert_each_run(views: Iterable[Any], problems_of: Callable[[Any], Iterable[str]], what: str) -> None:
    """The one loop of the suite's per-run checks: ``problems_of(view)`` names what is wrong with one
    run (nothing when it conforms); every problem, prefixed with the run's label, is reported under
    ``what`` by :func:`assert_no_problems`. The test calling it reports its own requirement id."""
    assert_no_problems([f"{view.label}: {problem}" for view in views for problem in problems_of(view)], what)
