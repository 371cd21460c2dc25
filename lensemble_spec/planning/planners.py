"""Seeded, batched sampling planners over action sequences: CEM and MPPI (numpy only).

Both optimise ``B`` independent problems at once (one per episode): a cost function maps
candidate action sequences ``(B, N, H, A)`` to costs ``(B, N)`` and the planner returns one
sequence ``(B, H, A)`` per problem. Every random draw comes from the ``numpy.random.Generator``
passed in, so the same generator state and the same costs give bit-identical plans.

* **CEM** (cross-entropy method): sample ``N`` sequences from a diagonal Gaussian (clipped to the
  action box), keep the ``elites`` cheapest, refit mean and standard deviation to them; after
  ``iterations`` rounds return the cheapest sequence ever sampled.
* **MPPI**: sample the same way, weight every sample by ``exp(−(c − min c)/(temperature·(median c − min c)))`` (a
  temperature relative to the batch's cost spread, so it needs no tuning to the cost's units), move
  the mean to the weighted average and the standard deviation to the weighted spread (covariance
  adaptation); return the final mean (clipped).

A warm start (``init_mean``) is the previous plan shifted by the executed steps (receding horizon).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, InputError

CostFn = Callable[[np.ndarray], np.ndarray]
PLANNERS = ("cem", "mppi")


def check_ints(obj: object, names: tuple[str, ...], *, minimum: int = 1) -> None:
    """ConfigError naming the first of ``names`` whose value on ``obj`` is not an int >= ``minimum``."""
    for name in names:
        v = getattr(obj, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
            raise ConfigError(
                f"{name} must be {what}, got {v!r}", remediation=f"Pass {name} as an integer >= {minimum}.", field=name
            )


def check_finite_numbers(obj: object, names: tuple[str, ...], *, positive: bool) -> None:
    """ConfigError naming the first of ``names`` whose value on ``obj`` is not a finite number
    ``> 0`` (``positive``) or ``>= 0``."""
    for name in names:
        v = getattr(obj, name)
        if not (isinstance(v, (int, float)) and np.isfinite(v) and (v > 0 if positive else v >= 0)):
            raise ConfigError(
                f"{name} must be a finite number {'>' if positive else '>='} 0, got {v!r}",
                remediation=f"Pass a {'positive' if positive else 'non-negative'} {name}.",
                field=name,
            )


@dataclass(frozen=True)
class PlannerConfig:
    """Planner settings: method, horizon, samples per iteration, iterations, elites, MPPI temperature,
    initial standard deviation as a fraction of the action limit."""

    method: str = "cem"
    horizon: int = 5
    samples: int = 64
    iterations: int = 4
    elites: int = 8
    temperature: float = 0.3
    init_std_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.method not in PLANNERS:
            raise ConfigError(
                f"unknown planner {self.method!r}", remediation=f"Use one of {', '.join(PLANNERS)}.", field="method"
            )
        check_ints(self, ("horizon", "samples", "iterations", "elites"))
        if self.elites > self.samples:
            raise ConfigError(
                f"elites ({self.elites}) exceed samples ({self.samples})",
                remediation="Keep elites <= samples.",
                field="elites",
            )
        check_finite_numbers(self, ("temperature", "init_std_fraction"), positive=True)


def _check_limits(limit: np.ndarray) -> np.ndarray:
    lim = np.asarray(limit, dtype=np.float64)
    if lim.ndim != 1 or not np.all(np.isfinite(lim)) or np.any(lim <= 0):
        raise InputError(
            f"action limits must be a 1-D array of positive numbers, got {lim!r}",
            remediation="Pass the per-dimension action bound, e.g. worlds.ACTION_LIMIT.",
        )
    return lim


def _costs(cost_fn: CostFn, actions: np.ndarray) -> np.ndarray:
    b, n = actions.shape[:2]
    c = np.asarray(cost_fn(actions), dtype=np.float64)
    if c.shape != (b, n):
        raise InputError(
            f"the cost function returned shape {c.shape}, expected {(b, n)}",
            remediation="Return one cost per candidate sequence.",
        )
    # a non-finite cost (a model that blew up) ranks last instead of poisoning the update
    return np.where(np.isfinite(c), c, np.inf)


def plan(
    cost_fn: CostFn,
    batch: int,
    action_limit: np.ndarray,
    config: PlannerConfig,
    rng: np.random.Generator,
    init_mean: np.ndarray | None = None,
) -> np.ndarray:
    """Optimise ``batch`` action sequences ``(batch, H, A)`` under ``cost_fn`` (module docstring)."""
    lim = _check_limits(action_limit)
    a_dim, h = lim.shape[0], config.horizon
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise InputError(
            f"batch must be a positive int, got {batch!r}",
            remediation="Pass the number of problems (episodes) to plan for.",
        )
    if init_mean is None:
        mean = np.zeros((batch, h, a_dim))
    else:
        mean = np.asarray(init_mean, dtype=np.float64)
        if mean.shape != (batch, h, a_dim) or not np.all(np.isfinite(mean)):
            raise InputError(
                f"init_mean must be finite with shape {(batch, h, a_dim)}, got {mean.shape}",
                remediation="Warm-start with the previous plan shifted by the executed steps.",
            )
        mean = np.clip(mean, -lim, lim)
    std = np.broadcast_to(config.init_std_fraction * lim, (batch, h, a_dim)).copy()
    best = mean.copy()
    best_cost = _costs(cost_fn, mean[:, None])[:, 0]
    rows = np.arange(batch)[:, None]
    for _ in range(config.iterations):
        noise = rng.standard_normal((batch, config.samples, h, a_dim))
        samples = np.clip(mean[:, None] + std[:, None] * noise, -lim, lim)
        samples[:, 0] = mean  # the current mean is always a candidate
        costs = _costs(cost_fn, samples)
        order = np.argsort(costs, axis=1, kind="stable")
        top = order[:, 0]
        improved = costs[np.arange(batch), top] < best_cost
        best[improved] = samples[np.arange(batch), top][improved]
        best_cost = np.where(improved, costs[np.arange(batch), top], best_cost)
        if config.method == "cem":
            elite = samples[rows, order[:, : config.elites]]  # (B, K, H, A)
            mean = elite.mean(axis=1)
            std = np.maximum(elite.std(axis=1), 1e-3 * lim)
        else:
            finite = np.isfinite(costs)
            safe = np.where(finite, costs, np.nan)
            low = np.nanmin(np.where(finite.any(axis=1, keepdims=True), safe, 0.0), axis=1, keepdims=True)
            spread = np.nanmedian(np.where(finite.any(axis=1, keepdims=True), safe, 1.0), axis=1, keepdims=True) - low
            scale = config.temperature * np.where(spread > 0, spread, 1.0)
            w = np.where(finite, np.exp(-(np.where(finite, costs, 0.0) - low) / scale), 0.0)
            total = w.sum(axis=1, keepdims=True)
            w = np.where(total > 0, w / np.where(total > 0, total, 1.0), 1.0 / config.samples)
            mean = np.einsum("bn,bnha->bha", w, samples)
            var = np.einsum("bn,bnha->bha", w, (samples - mean[:, None]) ** 2)
            std = np.maximum(np.sqrt(var), 1e-3 * lim)
    if config.method == "mppi":
        return np.clip(mean, -lim, lim)
    return best


def shift(plan_: np.ndarray, steps: int) -> np.ndarray:
    """Receding-horizon warm start: drop the first ``steps`` actions, pad with zeros."""
    out = np.zeros_like(plan_)
    keep = plan_.shape[1] - steps
    if keep > 0:
        out[:, :keep] = plan_[:, steps:]
    return out


__all__ = ["PLANNERS", "CostFn", "PlannerConfig", "plan", "shift"]
