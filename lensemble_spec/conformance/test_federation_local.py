"""RFC-0003 §2 and §3: the participant's local update, ``local_update(global, silo, …) → Δ``.

The harness calls ``local_update`` on its own silos from ``model_part.init(0)`` and checks what
comes back: the delta's layout (FED-001), that it is exactly zero for no steps (FED-007), that it
points *towards* the trained model (FED-008: the objective is lower at ``global + Δ``), that the
ground-truth states are never read (FED-004: replacing them changes no bit) and that nothing it
was given is modified (FED-006).
"""

from __future__ import annotations

import numpy as np
import pytest

from lensemble_spec.metrics import build_sketch, round_sketch_seed
from lensemble_spec.protocol import Batch, FrameAnchor, Silo
from lensemble_spec.worlds import windows

from . import _assertions as check
from . import bounds
from ._inputs import LOCAL_CONFIG, WEIGHTS

STEPS = 2  # enough to move every trainable parameter; cheap


def _update(federation_part, params, silo, *, steps=STEPS, seed=0, round_index=1, anchor=None):
    delta = federation_part.local_update(
        params, silo, steps=steps, seed=seed, round_index=round_index, anchor=anchor, config=LOCAL_CONFIG
    )
    return {k: check.as_array(v) for k, v in delta.items()}


@pytest.fixture(scope="module")
def delta0(federation_part, params0, world):
    return _update(federation_part, params0, world.silos["silo0"])


@pytest.mark.requirement("FED-001")
def test_delta_has_the_global_layout(params0, delta0):
    assert set(delta0) == set(params0), f"delta names differ: {sorted(set(delta0) ^ set(params0))[:5]}"
    for name, value in params0.items():
        want = check.as_array(value)
        assert delta0[name].shape == want.shape and delta0[name].dtype == want.dtype, (
            f"{name}: {delta0[name].dtype}{delta0[name].shape} != {want.dtype}{want.shape}"
        )


@pytest.mark.requirement("FED-004")
def test_local_update_does_not_read_ground_truth_states(federation_part, params0, world, delta0):
    silo = world.silos["silo0"]
    rng = np.random.default_rng(4)
    scrambled = Silo(
        name=silo.name,
        obs=silo.obs,
        actions=silo.actions,
        states=rng.standard_normal(silo.states.shape).astype(silo.states.dtype),
    )
    again = _update(federation_part, params0, scrambled)
    changed = sorted(k for k in delta0 if not check.bitwise_equal(delta0[k], again[k]))
    assert not changed, f"replacing silo.states changed the delta ({changed[:3]}…): the update read ground truth"


@pytest.mark.requirement("FED-006")
def test_local_update_leaves_its_inputs_alone(federation_part, model_part, params0, world):
    silo = world.silos["silo1"]
    points = np.ascontiguousarray(world.probe.points, dtype=np.float32)
    anchor = FrameAnchor(
        points=points, targets=np.ones((len(points), int(model_part.latent_dim)), dtype=np.float32), weight=1.0
    )
    snap = (
        check.as_params(params0),
        silo.obs.copy(),
        silo.actions.copy(),
        silo.states.copy(),
        anchor.points.copy(),
        anchor.targets.copy(),
    )
    _update(federation_part, params0, silo, anchor=anchor)
    assert check.params_bitwise_equal(params0, snap[0]), "local_update modified the global parameters"
    for arr, before, what in (
        (silo.obs, snap[1], "obs"),
        (silo.actions, snap[2], "actions"),
        (silo.states, snap[3], "states"),
    ):
        assert check.bitwise_equal(arr, before), f"local_update modified silo.{what}"
    assert check.bitwise_equal(anchor.points, snap[4]) and check.bitwise_equal(anchor.targets, snap[5]), (
        "local_update modified the anchor"
    )


@pytest.mark.requirement("FED-007")
def test_zero_steps_give_an_exactly_zero_delta(federation_part, params0, world):
    delta = _update(federation_part, params0, world.silos["silo2"], steps=0)
    nonzero = sorted(k for k, v in delta.items() if np.any(v != 0))
    assert not nonzero, f"steps=0 returned a non-zero delta for {nonzero[:3]}"


@pytest.mark.requirement("FED-008")
def test_delta_points_towards_the_trained_model(federation_part, model_part, params0, world):
    silo = world.silos["silo3"]
    obs, actions, _states = windows(silo, bounds.WINDOW, stride=3)
    batch = Batch(
        obs=np.ascontiguousarray(obs, dtype=np.float32), actions=np.ascontiguousarray(actions, dtype=np.float32)
    )
    d = int(model_part.latent_dim)
    sketch = np.asarray(build_sketch(round_sketch_seed(0, 1), d, bounds.SKETCH_DIRECTIONS), dtype=np.float32)
    delta = _update(federation_part, params0, silo, steps=bounds.DEFAULT_INNER_STEPS, seed=3, round_index=1)
    moved = {
        k: (check.as_array(v).astype(np.float64) + delta[k]).astype(check.as_array(v).dtype) for k, v in params0.items()
    }
    backwards = {
        k: (check.as_array(v).astype(np.float64) - delta[k]).astype(check.as_array(v).dtype) for k, v in params0.items()
    }
    at_global = float(model_part.loss_terms(params0, batch, sketch=sketch, weights=WEIGHTS)["total"])
    at_local = float(model_part.loss_terms(moved, batch, sketch=sketch, weights=WEIGHTS)["total"])
    at_mirror = float(model_part.loss_terms(backwards, batch, sketch=sketch, weights=WEIGHTS)["total"])
    assert at_local < at_global, (
        f"objective at global + delta ({at_local:.6g}) is not below the global's ({at_global:.6g}); "
        f"at global − delta it is {at_mirror:.6g}: the delta points away from the trained model"
    )
