"""The outer optimizer over one flattened parameter vector (RFC-0003 §5.1), with an explicit state.

The global model is laid out as one float64 vector (names in sorted order, each block C-order);
the state carries the velocity vector and the layout it belongs to. Pure: nothing given is
modified, and a failed call raises before anything is computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import MergeError, NoUpdates
from .train import check_shared

Layout = tuple[tuple[str, tuple[int, ...], str], ...]


@dataclass(frozen=True)
class Velocity:
    """Outer state: the velocity over the flattened layout (zeros when fresh)."""

    layout: Layout
    vector: np.ndarray


def layout_of(params) -> Layout:
    return tuple((name, tuple(np.shape(params[name])), str(np.asarray(params[name]).dtype)) for name in sorted(params))


def flatten(params, layout: Layout) -> np.ndarray:
    return (
        np.concatenate([np.asarray(params[name], dtype=np.float64).reshape(-1) for name, _s, _d in layout])
        if layout
        else np.zeros(0)
    )


def unflatten(vector: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
    out, at = {}, 0
    for name, shape, dtype in layout:
        size = int(np.prod(shape, dtype=np.int64))
        out[name] = vector[at : at + size].reshape(shape).astype(dtype)
        at += size
    return out


def fresh(params) -> Velocity:
    layout = layout_of(params)
    return Velocity(layout, np.zeros(sum(int(np.prod(s, dtype=np.int64)) for _n, s, _d in layout)))


def _validated(layout: Layout, updates) -> list[np.ndarray]:
    if not updates:
        raise NoUpdates("no participant updates to merge")
    names = {n for n, _s, _d in layout}
    vectors = []
    for who in sorted(updates):
        update = updates[who]
        check_shared(update, f"the update of {who}")
        if set(update) != names:
            raise MergeError(f"the update of {who} names {sorted(set(update) ^ names)[:3]} unlike the global model")
        for name, shape, dtype in layout:
            value = np.asarray(update[name])
            if tuple(value.shape) != shape or str(value.dtype) != dtype:
                raise MergeError(f"{who}:{name} is {value.dtype}{value.shape}, the global is {dtype}{shape}")
            if not np.isfinite(value).all():
                raise MergeError(f"{who}:{name} has non-finite values")
        vectors.append(flatten(update, layout))
    return vectors


def outer(
    params, updates, state: Velocity, *, lr: float, momentum: float, nesterov: bool
) -> tuple[dict[str, np.ndarray], Velocity]:
    layout = layout_of(params)
    check_shared(params, "the global model")
    if state.layout != layout:
        raise MergeError("the outer state belongs to a model of another layout")
    vectors = _validated(layout, updates)
    g = np.zeros_like(vectors[0])
    for v in vectors:  # sorted participant order: the bits do not depend on arrival order
        g = g + v
    g = g / len(vectors)
    velocity = momentum * state.vector + g
    direction = g + momentum * velocity if nesterov else velocity
    theta = flatten(params, layout) + lr * direction
    return unflatten(theta, layout), Velocity(layout, velocity)
