"""The DiLoCo outer step as a pure, bitwise-deterministic function (RFC-0003 §5).

Sign convention (upstream's defect #1 was a flipped sign): participants release
``Δ_c = θ_local,c − θ_global`` and the coordinator ADDS:

    g   = (1/C) Σ_c Δ_c            (summed in ascending participant-id order)
    v'  = μ v + g
    u   = g + μ v'   (Nesterov)    or   u = v'   (heavy ball)
    θ'  = θ + η u

so ``η = 1, μ = 0`` with one participant returns that participant's local weights, and any
``0 < η < 1`` moves the global toward the participants' mean.

Arithmetic: every term is computed in **float64** from the float32 inputs (deltas, global,
float64 velocity), and the new global is rounded to float32 once at the end. Element-wise
float64 operations in a fixed order have a single IEEE result, so the output bits depend only on
``(global, deltas, velocity, η, μ, nesterov)`` — not on dict order, thread count or platform.
Exactness of the ``η = 1`` case: ``θ + Δ`` rounds back to the local weights whenever ``Δ`` was
representable in float32 (always the case when local and global agree within a factor of 2,
Sterbenz); otherwise the result is within one float32 ulp of them.

Purity: inputs are never written to; the returned global and state hold fresh arrays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lensemble_spec.errors import AggregationError, NonDeterministicAggregation, QuorumNotMet, ResidencyViolation

#: Parameter groups that may be released and aggregated (everything else stays on the silo).
RELEASABLE_PREFIXES = ("encoder.", "predictor.")


@dataclass(frozen=True)
class OuterState:
    """Outer-optimizer state: the float64 velocity per parameter and the number of steps taken."""

    velocity: Mapping[str, np.ndarray]
    steps: int = 0
    meta: Mapping[str, Any] = field(default_factory=dict)


def check_releasable(names: Any, *, who: str = "update") -> None:
    """Raise ResidencyViolation if any name is outside ``encoder.*`` / ``predictor.*``."""
    foreign = sorted(n for n in names if not str(n).startswith(RELEASABLE_PREFIXES))
    if foreign:
        raise ResidencyViolation(
            f"{who} contains non-releasable parameter(s): {', '.join(foreign[:5])}",
            names=foreign,
        )


def outer_init(params: Mapping[str, Any]) -> OuterState:
    """Zero velocity (float64) for every parameter of ``params``."""
    check_releasable(params, who="global params")
    return OuterState(velocity={k: np.zeros(np.shape(v), dtype=np.float64) for k, v in sorted(params.items())})


def outer_step(
    global_params: Mapping[str, Any],
    deltas: Mapping[str, Mapping[str, Any]],
    state: OuterState,
    *,
    lr: float,
    momentum: float,
    nesterov: bool = True,
) -> tuple[dict[str, np.ndarray], OuterState]:
    """One outer step; returns ``(new_global float32, new_state)`` (see module docstring).

    Raises QuorumNotMet for an empty ``deltas``, ResidencyViolation for a non-releasable name,
    AggregationError for a name/shape mismatch or a non-finite value.
    """
    if not deltas:
        raise QuorumNotMet("outer step called with no participant deltas")
    check_releasable(global_params, who="global params")
    names = sorted(global_params)
    if sorted(state.velocity) != names:
        raise AggregationError("outer state does not match the global parameter names")
    theta = {k: np.asarray(global_params[k]) for k in names}
    for pid in sorted(deltas):
        delta = deltas[pid]
        check_releasable(delta, who=f"delta of {pid}")
        if sorted(delta) != names:
            missing = sorted(set(names) - set(delta))
            extra = sorted(set(delta) - set(names))
            raise AggregationError(f"delta of {pid} has mismatched names (missing {missing[:3]}, extra {extra[:3]})")
        for k in names:
            if np.shape(delta[k]) != theta[k].shape:
                raise AggregationError(f"delta of {pid}: {k} has shape {np.shape(delta[k])}, expected {theta[k].shape}")
    lr64, mu64 = np.float64(lr), np.float64(momentum)
    n_c = np.float64(len(deltas))
    new_global: dict[str, np.ndarray] = {}
    new_velocity: dict[str, np.ndarray] = {}
    for k in names:
        acc = np.zeros(theta[k].shape, dtype=np.float64)
        for pid in sorted(deltas):  # fixed reduction order
            acc = acc + np.asarray(deltas[pid][k], dtype=np.float64)
        g = acc / n_c
        # Overflow or inf·0 here becomes a non-finite entry, refused just below with a typed error
        # (numpy's RuntimeWarning would only repeat it as noise).
        with np.errstate(over="ignore", invalid="ignore"):
            v = mu64 * np.asarray(state.velocity[k], dtype=np.float64) + g
            u = g + mu64 * v if nesterov else v
            new = (theta[k].astype(np.float64) + lr64 * u).astype(np.float32)
        if not np.all(np.isfinite(new)):
            raise AggregationError(f"outer step produced non-finite values in {k}")
        new_global[k] = new
        new_velocity[k] = v
    return new_global, OuterState(velocity=new_velocity, steps=state.steps + 1, meta=dict(state.meta))


def params_digest(params: Mapping[str, Any]) -> str:
    """SHA-256 over names and little-endian float bytes in sorted-name order (self-check only)."""
    h = hashlib.sha256()
    for k in sorted(params):
        arr = np.ascontiguousarray(np.asarray(params[k]))
        h.update(k.encode())
        h.update(str(arr.dtype).encode())
        h.update(str(arr.shape).encode())
        h.update(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()


def checked_outer_step(
    global_params: Mapping[str, Any], deltas: Mapping[str, Mapping[str, Any]], state: OuterState, **hyper: Any
) -> tuple[dict[str, np.ndarray], OuterState, str]:
    """Run the pure step twice from the SAME state and compare bit-for-bit before committing.

    ``hyper`` are :func:`outer_step`'s keywords (``lr``, ``momentum``, ``nesterov``), passed on
    unchanged (so the two functions cannot drift apart in what they accept).

    Returns ``(new_global, new_state, digest)``. Unlike upstream's pre-fix self-check (which used a
    fresh zero-velocity optimiser), both evaluations use the real velocity, so the committed
    momentum step is the one verified. Raises NonDeterministicAggregation on a mismatch; the
    caller's state is untouched either way (the function is pure).
    """
    first, s1 = outer_step(global_params, deltas, state, **hyper)
    second, s2 = outer_step(global_params, deltas, state, **hyper)
    d1, d2 = params_digest(first), params_digest(second)
    if d1 != d2 or params_digest(s1.velocity) != params_digest(s2.velocity):
        raise NonDeterministicAggregation("outer step is not bitwise reproducible", expected_hash=d1, got_hash=d2)
    return first, s1, d1
