"""RFC-0003 §6 FED-027: every participant of round ``t`` trains with the round's sketch ``A_t``.

Which sketch an optimiser used is not visible in its result, so the check rests on two bitwise
comparisons of ``local_update`` with itself (the same determinism FED-004 already relies on):

* **the given sketch is the one trained with** — handed ``A_t`` and then another valid sketch
  (``A_{t+1}``), everything else equal, the deltas differ. A participant that ignores the
  ``sketch`` it is given (and builds its own) returns the same delta twice;
* **the sketch it builds itself is ``A_t``** — called without a sketch, the delta is bitwise the
  one it returns when handed ``A_t = build_sketch(round_sketch_seed(config.root_seed, t), d,
  SKETCH_DIRECTIONS)``. A participant that derives its sketch from another seed (its own
  participant seed, another round, a fixed seed) or with another generator differs.

Both need a ``local_update`` that declares the optional ``sketch`` parameter
(:func:`lensemble_spec.protocol.local_update_takes_sketch`); without it, which sketch a
participant trains with cannot be observed and the checks are skipped as such. The root seed,
participant seed and round index differ from each other (and from 0), so a sketch built from the
wrong one of them is caught.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lensemble_spec.metrics import build_sketch, round_sketch_seed
from lensemble_spec.protocol import local_update_takes_sketch

from . import _assertions as check
from . import bounds
from ._inputs import LOCAL_CONFIG

STEPS = 2
ROOT_SEED = 5
PARTICIPANT_SEED = 3
ROUND = 2
CONFIG = dataclasses.replace(LOCAL_CONFIG, root_seed=ROOT_SEED)


def _round_sketch(d: int, round_index: int) -> np.ndarray:
    return np.ascontiguousarray(
        build_sketch(round_sketch_seed(ROOT_SEED, round_index), d, bounds.SKETCH_DIRECTIONS), dtype=np.float32
    )


def _update(federation_part, params, silo, **sketch) -> dict[str, np.ndarray]:
    delta = federation_part.local_update(
        params, silo, steps=STEPS, seed=PARTICIPANT_SEED, round_index=ROUND, anchor=None, config=CONFIG, **sketch
    )
    return {k: check.as_array(v) for k, v in delta.items()}


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return set(a) == set(b) and all(check.bitwise_equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def takes_sketch(federation_part) -> None:
    if not local_update_takes_sketch(federation_part):
        pytest.skip(
            "local_update declares no `sketch` parameter (optional, RFC-0003 §8): the sketch it trains with is not "
            "observable"
        )


@pytest.fixture(scope="module")
def with_round_sketch(takes_sketch, federation_part, model_part, params0, world) -> dict[str, np.ndarray]:
    sketch = _round_sketch(int(model_part.latent_dim), ROUND)
    return _update(federation_part, params0, world.silos["silo1"], sketch=sketch)


@pytest.mark.requirement("FED-027")
def test_local_update_trains_with_the_sketch_it_is_given(
    federation_part, model_part, params0, world, with_round_sketch
):
    other = _round_sketch(int(model_part.latent_dim), ROUND + 1)
    with_other = _update(federation_part, params0, world.silos["silo1"], sketch=other)
    assert not _same(with_round_sketch, with_other), (
        "local_update returned bitwise the same delta when handed another sketch (A_{t+1} instead of A_t): "
        "it does not train with the sketch it is given"
    )


@pytest.mark.requirement("FED-027")
def test_local_update_builds_the_rounds_sketch_when_given_none(federation_part, params0, world, with_round_sketch):
    built = _update(federation_part, params0, world.silos["silo1"], sketch=None)
    differ = sorted(
        k for k in with_round_sketch if k not in built or not check.bitwise_equal(built[k], with_round_sketch[k])
    )
    assert not differ, (
        f"without a sketch, local_update's delta differs from the one it returns when handed "
        f"A_t = build_sketch(round_sketch_seed(root_seed={ROOT_SEED}, {ROUND}), d, {bounds.SKETCH_DIRECTIONS}) "
        f"({differ[:3]}…): the sketch it builds is not the round's (wrong seed or generator, RFC-0003 §6.2)"
    )
