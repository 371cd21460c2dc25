"""RFC-0003 §2 and §5: the outer step, against an independent float64 evaluation of §5.1.

Parameters here are synthetic (``encoder.*`` / ``predictor.*`` arrays the harness makes up): the
outer step must not care what the arrays mean. The defects: the flipped sign of upstream's
pre-fix step (moving *away* from the participants), plain momentum where Nesterov is declared, a
velocity that is not carried (or advances before a failed commit), a reduction whose bits depend on
the order updates arrived in, and inputs mutated in place.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from lensemble_spec.errors import AggregationError, QuorumNotMet, ResidencyViolation
from lensemble_spec.protocol import OuterConfig

from . import _assertions as check
from . import _oracle as oracle
from . import bounds
from ._expect import raises

SHAPES = {
    "encoder.conv.weight": (4, 3, 2),
    "encoder.fc.bias": (6,),
    "predictor.out.weight": (5, 6),
    "predictor.out.bias": (5,),
}


def make_params(seed: int, scale: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: (scale * rng.standard_normal(s)).astype(np.float32) for k, s in SHAPES.items()}


def make_deltas(seed: int, ids: list[str], scale: float = 0.05) -> dict[str, dict[str, np.ndarray]]:
    return {pid: make_params(seed * 101 + i, scale) for i, pid in enumerate(ids)}


def snapshot(obj: Any) -> Any:
    """A comparable, bitwise image of an opaque state (arrays by dtype, shape and bytes)."""
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):
        obj = check.as_array(obj)
    if isinstance(obj, np.ndarray) or np.isscalar(obj) and isinstance(obj, np.generic):
        arr = np.ascontiguousarray(obj)
        return ("array", str(arr.dtype), arr.shape, arr.tobytes())
    if isinstance(obj, Mapping):
        return ("map", tuple(sorted((str(k), snapshot(v)) for k, v in obj.items())))
    if isinstance(obj, (list, tuple)):
        return ("seq", tuple(snapshot(v) for v in obj))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return (
            "dc",
            type(obj).__name__,
            tuple((f.name, snapshot(getattr(obj, f.name))) for f in dataclasses.fields(obj)),
        )
    if isinstance(obj, (int, float, str, bool, bytes)) or obj is None:
        return obj
    if hasattr(obj, "__dict__"):
        return ("obj", type(obj).__name__, snapshot(vars(obj)))
    return ("repr", repr(obj))


def step(federation_part, theta, deltas, state, config: OuterConfig):
    new, new_state = federation_part.outer_step(theta, deltas, state, config)
    return {k: check.as_array(v) for k, v in new.items()}, new_state


def first_step(federation_part, theta, deltas, config: OuterConfig):
    """:func:`step` from a fresh outer state, ``outer_init(theta)``."""
    return step(federation_part, theta, deltas, federation_part.outer_init(theta), config)


def assert_matches_reference(got: Mapping[str, Any], expected: Mapping[str, np.ndarray], what: str) -> None:
    assert set(got) == set(expected), f"{what}: names {sorted(got)} != {sorted(expected)}"
    for name in expected:
        err = check.max_rel_error(got[name], expected[name])
        assert err <= bounds.AGG_RTOL, (
            f"{what}: {name} differs from the §5.1 evaluation by {err:.3g} (AGG_RTOL {bounds.AGG_RTOL})"
        )


# --- §5.1 the step ---------------------------------------------------------------------------------
@pytest.mark.requirement("FED-015")
@pytest.mark.parametrize("n", [1, 3])
def test_lr_one_without_momentum_lands_on_the_mean_local_model(federation_part, n):
    theta = make_params(1)
    deltas = make_deltas(2, [f"p{i}" for i in range(n)])
    new, _ = first_step(federation_part, theta, deltas, OuterConfig(lr=1.0, momentum=0.0, nesterov=True))
    mean_local = {k: np.mean([theta[k].astype(np.float64) + d[k] for d in deltas.values()], axis=0) for k in theta}
    assert_matches_reference(new, mean_local, "lr=1, momentum=0 (the update must be ADDED)")


@pytest.mark.requirement("FED-015")
def test_fractional_step_moves_toward_the_participants(federation_part):
    theta = make_params(3)
    deltas = make_deltas(4, ["a", "b"])
    new, _ = first_step(federation_part, theta, deltas, OuterConfig(lr=0.5, momentum=0.0, nesterov=True))
    expected, _ = oracle.outer_step(theta, deltas, None, lr=0.5, momentum=0.0, nesterov=True)
    assert_matches_reference(new, expected, "θ + 0.5·mean Δ")


@pytest.mark.requirement("FED-016")
@pytest.mark.parametrize("nesterov", [True, False], ids=["nesterov", "heavy-ball"])
def test_multi_round_momentum_matches_the_definition(federation_part, nesterov):
    config = OuterConfig(lr=0.7, momentum=0.9, nesterov=nesterov)
    theta = make_params(5)
    state = federation_part.outer_init(theta)
    ref_theta: dict[str, np.ndarray] = {k: v.astype(np.float64) for k, v in theta.items()}
    ref_v = None
    pool = ["silo0", "silo1", "silo2", "silo3", "silo4"]
    for r, count in enumerate([3, 1, 5, 2, 4]):
        ids = pool[r % 2 : r % 2 + count] if r % 2 + count <= len(pool) else pool[:count]
        deltas = make_deltas(10 + r, ids)
        theta, state = step(federation_part, theta, deltas, state, config)
        ref_theta, ref_v = oracle.outer_step(
            ref_theta, deltas, ref_v, lr=config.lr, momentum=config.momentum, nesterov=nesterov
        )
        assert_matches_reference(theta, ref_theta, f"round {r + 1} ({count} participants, nesterov={nesterov})")


@pytest.mark.requirement("FED-017")
def test_fresh_state_is_zero_velocity_and_the_state_carries_it(federation_part):
    config = OuterConfig(lr=0.5, momentum=0.9, nesterov=True)
    theta = make_params(6)
    d1, d2 = make_deltas(7, ["a", "b"]), make_deltas(8, ["a", "b", "c"])
    fresh = federation_part.outer_init(theta)
    theta1, state1 = step(federation_part, theta, d1, fresh, config)
    ref1, v1 = oracle.outer_step(theta, d1, None, lr=0.5, momentum=0.9, nesterov=True)
    assert_matches_reference(theta1, ref1, "first step from outer_init (zero velocity)")
    theta2, _ = step(federation_part, theta1, d2, state1, config)
    ref2, _ = oracle.outer_step(theta1, d2, v1, lr=0.5, momentum=0.9, nesterov=True)
    assert_matches_reference(theta2, ref2, "second step with the returned state (velocity carried)")
    without, _ = oracle.outer_step(theta1, d2, None, lr=0.5, momentum=0.9, nesterov=True)
    assert max(check.max_rel_error(theta2[k], without[k]) for k in theta2) > 100 * bounds.AGG_RTOL, (
        "the returned state behaved like a fresh one: the velocity was not carried"
    )


# --- §5.2 purity ------------------------------------------------------------------------------------
@pytest.mark.requirement("FED-018")
def test_outer_step_does_not_modify_its_inputs(federation_part):
    config = OuterConfig(lr=0.5, momentum=0.9, nesterov=True)
    theta = make_params(9)
    _, state = first_step(federation_part, theta, make_deltas(10, ["a"]), config)
    deltas = make_deltas(11, ["a", "b", "c"])
    before = (check.as_params(theta), {p: check.as_params(d) for p, d in deltas.items()}, snapshot(state))
    pristine = copy.deepcopy(state)
    first, _ = step(federation_part, theta, deltas, state, config)
    assert check.params_bitwise_equal(theta, before[0]), "outer_step modified the global parameters"
    assert all(check.params_bitwise_equal(deltas[p], before[1][p]) for p in deltas), "outer_step modified a delta"
    assert snapshot(state) == before[2], "outer_step modified the state it was given"
    again, _ = step(federation_part, theta, deltas, state, config)
    from_copy, _ = step(federation_part, theta, deltas, pristine, config)
    assert check.params_bitwise_equal(again, from_copy) and check.params_bitwise_equal(first, again), (
        "reusing the state gave a different step: it was changed by the previous call"
    )


# --- §5.3 determinism ---------------------------------------------------------------------------------
@pytest.mark.requirement("FED-019")
def test_outer_step_is_bitwise_deterministic(federation_part):
    config = OuterConfig(lr=0.7, momentum=0.9, nesterov=True)
    theta = make_params(12)
    seq = [make_deltas(13, ["a", "b", "c"]), make_deltas(14, ["b", "d"]), make_deltas(15, ["a", "c", "d", "e"])]

    def chain():
        t, s = copy.deepcopy(theta), federation_part.outer_init(copy.deepcopy(theta))
        for deltas in seq:
            t, s = step(federation_part, t, copy.deepcopy(deltas), s, config)
        return t, s

    (t1, s1), (t2, s2) = chain(), chain()
    assert check.params_bitwise_equal(t1, t2), "two evaluations from equal inputs gave different globals"
    assert snapshot(s1) == snapshot(s2), "two evaluations from equal inputs gave different states"
    probe = make_deltas(16, ["a", "b"])
    n1, _ = step(federation_part, t1, probe, s1, config)
    n2, _ = step(federation_part, t2, probe, s2, config)
    assert check.params_bitwise_equal(n1, n2), "the two states led to different next steps"


def _adversarial_deltas(ids: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Updates of mixed magnitude and sign, so a float sum's bits depend on its order."""
    rng = np.random.default_rng(17)
    mags = [1e3, 1e-3, -1e3 + 1e-2, 3.7, -2.2e-2, 7e2]
    out = {}
    for i, pid in enumerate(ids):
        out[pid] = {k: (mags[i % len(mags)] * (1 + rng.random(s))).astype(np.float32) for k, s in SHAPES.items()}
    return out


@pytest.mark.requirement("FED-020")
def test_outer_step_ignores_arrival_order(federation_part):
    config = OuterConfig(lr=0.5, momentum=0.9, nesterov=True)
    theta = make_params(18)
    ids = ["silo3", "silo0", "silo5", "silo1", "silo4"]
    deltas = _adversarial_deltas(ids)
    results = []
    for order in itertools.islice(itertools.permutations(ids), 0, None, 17):
        shuffled = {pid: deltas[pid] for pid in order}
        t, s = first_step(federation_part, theta, shuffled, config)
        nxt, _ = step(federation_part, t, {pid: deltas[pid] for pid in reversed(order)}, s, config)
        results.append((order, t, nxt))
    first = results[0]
    for order, t, nxt in results[1:]:
        assert check.params_bitwise_equal(t, first[1]), f"arrival order {order} changed the new global's bits"
        assert check.params_bitwise_equal(nxt, first[2]), f"arrival order {order} changed the carried state"


@pytest.mark.requirement("FED-021")
def test_new_global_keeps_names_shapes_and_dtypes(federation_part):
    theta = make_params(19)
    new, _ = first_step(federation_part, theta, make_deltas(20, ["a", "b"]), OuterConfig())
    assert set(new) == set(theta)
    for name, value in theta.items():
        assert new[name].shape == value.shape and new[name].dtype == value.dtype, (
            f"{name}: {new[name].dtype}{new[name].shape}"
        )


# --- validation ---------------------------------------------------------------------------------------
@pytest.mark.requirement("FED-022")
def test_no_deltas_is_quorum_not_met(federation_part):
    theta = make_params(21)
    with raises(QuorumNotMet):
        federation_part.outer_step(theta, {}, federation_part.outer_init(theta), OuterConfig())


def _mismatches(theta: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    good = make_params(22, 0.05)
    missing = {k: v for k, v in good.items() if k != "predictor.out.bias"}
    extra = dict(good, **{"encoder.extra.weight": np.zeros(3, dtype=np.float32)})
    shape = dict(good, **{"encoder.fc.bias": np.zeros(7, dtype=np.float32)})
    # Same number of elements, another shape: an implementation that flattens parameters into
    # one vector must still compare shapes, not sizes.
    transposed = dict(good, **{"predictor.out.weight": np.ascontiguousarray(good["predictor.out.weight"].T)})
    return {"missing": missing, "extra": extra, "shape": shape, "same-size-transposed": transposed}


@pytest.mark.requirement("FED-023")
@pytest.mark.parametrize("kind", ["missing", "extra", "shape", "same-size-transposed"])
def test_mismatched_delta_is_an_aggregation_error(federation_part, kind):
    theta = make_params(23)
    bad = _mismatches(theta)[kind]
    deltas = {"a": make_params(24, 0.05), "b": bad}
    try:
        federation_part.outer_step(theta, deltas, federation_part.outer_init(theta), OuterConfig())
    except ResidencyViolation as exc:
        pytest.fail(
            f"expected AggregationError (not ResidencyViolation: every name is encoder.*/predictor.*) for a {kind} "
            f"delta; got {exc}"
        )
    except AggregationError:
        return
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"expected AggregationError for a {kind} delta; got {type(exc).__name__}: {exc}")
    pytest.fail(f"expected AggregationError for a {kind} delta; outer_step returned normally")


@pytest.mark.requirement("FED-024")
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_delta_is_an_aggregation_error(federation_part, value):
    theta = make_params(25)
    bad = make_params(26, 0.05)
    bad["encoder.fc.bias"][2] = value
    with raises(AggregationError):
        federation_part.outer_step(
            theta, {"a": make_params(27, 0.05), "b": bad}, federation_part.outer_init(theta), OuterConfig()
        )


@pytest.mark.requirement("FED-003")
@pytest.mark.parametrize("foreign", ["action_head.weight", "head.bias", "encoder_extra"])
def test_foreign_parameter_in_a_delta_is_a_residency_violation(federation_part, foreign):
    theta = make_params(28)
    bad = dict(make_params(29, 0.05), **{foreign: np.zeros(2, dtype=np.float32)})
    with raises(ResidencyViolation):
        federation_part.outer_step(
            theta, {"a": make_params(30, 0.05), "b": bad}, federation_part.outer_init(theta), OuterConfig()
        )


# --- §4: a failed step leaves the state alone ------------------------------------------------------------
@pytest.mark.requirement("FED-014")
@pytest.mark.parametrize("failure", ["non-finite", "shape", "foreign", "empty"])
def test_failed_outer_step_leaves_the_state_unchanged(federation_part, failure):
    config = OuterConfig(lr=0.5, momentum=0.9, nesterov=True)
    theta = make_params(31)
    theta, state = first_step(federation_part, theta, make_deltas(32, ["a", "b"]), config)
    before, pristine = snapshot(state), copy.deepcopy(state)
    good = make_deltas(33, ["a", "b"])
    bad = copy.deepcopy(good)
    if failure == "non-finite":
        bad["b"]["predictor.out.weight"][0, 0] = np.nan
    elif failure == "shape":
        bad["b"]["encoder.fc.bias"] = np.zeros(9, dtype=np.float32)
    elif failure == "foreign":
        bad["b"]["action_head.weight"] = np.zeros(2, dtype=np.float32)
    else:
        bad = {}
    with raises(Exception):
        federation_part.outer_step(theta, bad, state, config)
    assert snapshot(state) == before, "a failed outer_step changed the state it was given"
    after, _ = step(federation_part, theta, good, state, config)
    expected, _ = step(federation_part, theta, good, pristine, config)
    assert check.params_bitwise_equal(after, expected), (
        "after a failed call the state no longer gives the committed step"
    )
