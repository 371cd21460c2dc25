"""Hypothesis properties of the renderer and the dynamics (modest, derandomised).

Catches: cross-frame leakage in the vectorised rasteriser (a frame depending on its batch
neighbours or its position in a chunk), out-of-range pixels, a step that leaves the joint limits.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lensemble_spec.worlds import (
    ACTION_LIMIT,
    LIMITS_HI,
    LIMITS_LO,
    PUBLIC_STYLE,
    STATE_DIM,
    arm,
    render_states,
)

_unit = st.floats(0.0, 1.0, allow_nan=False, width=32)
_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


def _states(n: int):
    return arrays(np.float32, (n, STATE_DIM), elements=_unit).map(lambda u: LIMITS_LO + u * (LIMITS_HI - LIMITS_LO))


@_SETTINGS
@given(states=_states(5), cube_u=arrays(np.float64, (5, 2), elements=st.floats(0.0, 1.0)))
def test_batch_rendering_equals_single_frames(states, cube_u):
    cubes = np.stack([-0.7 + 1.4 * cube_u[:, 0], 0.5 * cube_u[:, 1]], axis=1)
    batch = render_states(states, cubes, PUBLIC_STYLE, 16)
    assert batch.dtype == np.float32 and batch.shape == (5, 3, 16, 16)
    assert np.isfinite(batch).all() and batch.min() >= 0.0 and batch.max() <= 1.0
    for i in range(5):
        single = render_states(states[i : i + 1], cubes[i : i + 1], PUBLIC_STYLE, 16)
        assert np.array_equal(single[0], batch[i])
    reversed_batch = render_states(states[::-1].copy(), cubes[::-1].copy(), PUBLIC_STYLE, 16)
    assert np.array_equal(reversed_batch[::-1], batch)


@_SETTINGS
@given(
    states=_states(8),
    actions=arrays(np.float32, (8, STATE_DIM), elements=st.floats(-10.0, 10.0, width=32)),
)
def test_step_stays_within_limits_and_is_monotone(states, actions):
    nxt = arm.step(states, actions)
    assert nxt.dtype == np.float32
    assert (nxt >= LIMITS_LO).all() and (nxt <= LIMITS_HI).all()
    assert (np.abs(nxt - states) <= arm.DT * ACTION_LIMIT + 1e-6).all()
    # a larger command never moves a joint less far in its direction
    more = arm.step(states, actions + np.float32(0.5))
    assert (more >= nxt).all()
