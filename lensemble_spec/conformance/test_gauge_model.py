"""RFC-0002 §2 and §4: the model part under the gauge action, and the objective's terms.

The harness feeds the model part frames and short windows from its own synthetic world and
compares functions, never weights: ``encode(rotate(p, Q)) = encode(p)·Q`` (GAUGE-002), the
predictor is conjugated (GAUGE-003), the prediction and co-rotated SIGReg terms are invariant
(GAUGE-006/007/009) and the anchor term is not (GAUGE-021: it is zero in the reference frame and
positive in any other). Orthogonal matrices are Haar-random on O(d), reflections included.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from lensemble_spec.errors import ProbeError
from lensemble_spec.protocol import Batch, FrameAnchor, ObjectiveWeights

from . import _assertions as check
from . import bounds
from ._expect import raises
from ._inputs import WEIGHTS
from ._inputs import orthogonal as _orthogonal

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
#: Each example encodes a few dozen frames; a handful of Haar draws per property is enough to
#: catch a wrong transpose or a missing conjugation (they fail for almost every Q). No shrinking:
#: the inputs are a seed and a flag, so a shrunk example explains nothing more than the first one
#: and shrinking would cost minutes of model evaluations.
MODEL_EXAMPLES = settings(max_examples=6, phases=(Phase.explicit, Phase.reuse, Phase.generate))


def _terms(model_part, params, batch, sketch, anchor=None, weights: ObjectiveWeights = WEIGHTS) -> dict[str, float]:
    terms = model_part.loss_terms(
        params, batch, sketch=np.asarray(sketch, dtype=np.float32), anchor=anchor, weights=weights
    )
    return {k: float(check.as_array(v)) for k, v in terms.items()}


def _flat_actions(batch: Batch) -> np.ndarray:
    return np.asarray(batch.actions[:, 0], dtype=np.float32)


# --- §2.1 -------------------------------------------------------------------------------------------
@pytest.mark.requirement("GAUGE-001")
def test_encode_and_predict_are_deterministic_finite_and_shaped(model_part, params0, frames, batch):
    d = int(model_part.latent_dim)
    z1 = check.as_array(model_part.encode(params0, frames))
    z2 = check.as_array(model_part.encode(params0, frames.copy()))
    assert z1.shape == (len(frames), d) and np.issubdtype(z1.dtype, np.floating)
    assert np.all(np.isfinite(z1))
    assert check.bitwise_equal(z1, z2), "encode returned different values for identical arguments"
    a = _flat_actions(batch)
    z = np.asarray(z1[: len(a)], dtype=np.float32)
    p1 = check.as_array(model_part.predict(params0, z, a))
    p2 = check.as_array(model_part.predict(params0, z.copy(), a.copy()))
    assert p1.shape == (len(a), d) and np.issubdtype(p1.dtype, np.floating)
    assert np.all(np.isfinite(p1))
    assert check.bitwise_equal(p1, p2), "predict returned different values for identical arguments"


# --- §2.2 gauge action --------------------------------------------------------------------------------
@pytest.mark.requirement("GAUGE-002")
@MODEL_EXAMPLES
@given(seed=SEEDS, reflect=st.booleans())
def test_rotated_encoder_emits_rotated_latents(model_part, params0, frames, seed, reflect):
    q = _orthogonal(seed, int(model_part.latent_dim), reflect=reflect)
    rotated = model_part.rotate(params0, q)
    check.assert_close(
        check.encoded(model_part, rotated, frames), check.encoded(model_part, params0, frames) @ q,
        rtol=bounds.EQUIV_RTOL, atol=bounds.EQUIV_ATOL, what="encode(rotate(p, Q)) vs encode(p) @ Q",
    )  # fmt: skip


@pytest.mark.requirement("GAUGE-003")
@MODEL_EXAMPLES
@given(seed=SEEDS, reflect=st.booleans())
def test_rotated_predictor_is_conjugated(model_part, params0, frames, batch, seed, reflect):
    d = int(model_part.latent_dim)
    q = _orthogonal(seed, d, reflect=reflect)
    a = _flat_actions(batch)
    z = check.encoded(model_part, params0, frames[: len(a)]) + 0.1 * np.random.default_rng(seed).standard_normal(
        (len(a), d)
    )
    rotated = model_part.rotate(params0, q)
    check.assert_close(
        check.predicted(model_part, rotated, z, a), check.predicted(model_part, params0, z @ q.T, a) @ q,
        rtol=bounds.EQUIV_RTOL, atol=bounds.EQUIV_ATOL, what="predict(rotate(p, Q), z, a) vs predict(p, z Qᵀ, a) Q",
    )  # fmt: skip


@pytest.mark.requirement("GAUGE-004")
def test_rotate_keeps_names_shapes_dtypes_and_leaves_inputs_alone(model_part, params0):
    d = int(model_part.latent_dim)
    q = _orthogonal(7, d, reflect=True)
    before = check.as_params(params0)
    q_before = q.copy()
    rotated = model_part.rotate(params0, q)
    assert set(rotated) == set(params0)
    for name, value in rotated.items():
        got, want = check.as_array(value), check.as_array(params0[name])
        assert got.shape == want.shape and got.dtype == want.dtype, (
            f"{name}: {got.dtype}{got.shape} != {want.dtype}{want.shape}"
        )
    assert check.params_bitwise_equal(params0, before), "rotate modified the parameters it was given"
    assert np.array_equal(q, q_before), "rotate modified Q"


# --- §2.3 objective ------------------------------------------------------------------------------------
@pytest.mark.requirement("GAUGE-005")
def test_pred_term_is_the_teacher_forced_prediction_error(model_part, params0, batch, sketch):
    obs, act = batch.obs, batch.actions
    t1 = obs.shape[1]
    z = np.stack([check.encoded(model_part, params0, obs[:, t]) for t in range(t1)], axis=1)  # (B, T+1, d)
    errors = [
        (check.predicted(model_part, params0, z[:, t], np.asarray(act[:, t], dtype=np.float32)) - z[:, t + 1]) ** 2
        for t in range(t1 - 1)
    ]
    expected = float(np.mean(np.stack(errors)))
    got = _terms(model_part, params0, batch, sketch)["pred"]
    assert check.close_scalar(got, expected, rtol=bounds.RTOL_LOSS, atol=bounds.ATOL_LOSS), f"pred {got} != {expected}"


@pytest.mark.requirement("GAUGE-006")
@MODEL_EXAMPLES
@given(seed=SEEDS)
def test_pred_term_is_gauge_invariant_for_any_sketch(model_part, params0, batch, seed):
    d = int(model_part.latent_dim)
    rng = np.random.default_rng(seed)
    q = _orthogonal(seed, d)
    a = rng.standard_normal((d, bounds.SKETCH_DIRECTIONS))
    b = rng.standard_normal((d, bounds.SKETCH_DIRECTIONS))
    a, b = a / np.linalg.norm(a, axis=0), b / np.linalg.norm(b, axis=0)
    base = _terms(model_part, params0, batch, a)["pred"]
    turned = _terms(model_part, model_part.rotate(params0, q), batch, b)["pred"]
    assert check.close_scalar(turned, base, rtol=bounds.RTOL_LOSS, atol=bounds.ATOL_LOSS), f"pred {turned} != {base}"


@pytest.mark.requirement("GAUGE-007")
@MODEL_EXAMPLES
@given(seed=SEEDS, reflect=st.booleans())
def test_sigreg_term_is_invariant_with_a_co_rotated_sketch(model_part, params0, batch, sketch, seed, reflect):
    q = _orthogonal(seed, int(model_part.latent_dim), reflect=reflect)
    base = _terms(model_part, params0, batch, sketch)["sigreg"]
    turned = _terms(model_part, model_part.rotate(params0, q), batch, q.T @ sketch)["sigreg"]
    assert check.close_scalar(turned, base, rtol=bounds.RTOL_LOSS, atol=bounds.ATOL_LOSS), f"sigreg {turned} != {base}"


#: GAUGE-008 is a SHOULD with one acceptable alternative: the same Epps–Pulley statistic
#: (centred projections, squared characteristic-function error against e^{−t²/2}, Gaussian
#: window weights normalised to 1, mean over directions, no sample-count factor) evaluated with
#: another quadrature — other knots or rule on at least [0, 3]. Such quadratures agree with the
#: library's 17-knot trapezoid within a few percent; a sum over directions (×m), a factor of the
#: sample count, standardised projections or no window differ by far more.
SIGREG_QUADRATURE_RTOL = 0.05


@pytest.mark.requirement("GAUGE-008")
def test_sigreg_term_is_the_library_statistic(model_part, params0, batch, sketch):
    from lensemble_spec.metrics import sigreg_statistic

    obs = batch.obs
    z = check.encoded(model_part, params0, obs.reshape(-1, *obs.shape[2:]))
    expected = float(sigreg_statistic(z, sketch))
    got = _terms(model_part, params0, batch, sketch)["sigreg"]
    if check.close_scalar(got, expected, rtol=bounds.RTOL_LOSS, atol=bounds.ATOL_LOSS):
        return
    assert check.close_scalar(got, expected, rtol=SIGREG_QUADRATURE_RTOL, atol=bounds.ATOL_LOSS), (
        f"expected sigreg = lensemble_spec.metrics.sigreg_statistic of the batch's encoded frames = {expected:.6g} "
        f"(RTOL_LOSS {bounds.RTOL_LOSS}; another quadrature of the same integral within "
        f"{SIGREG_QUADRATURE_RTOL:.0%}); got {got:.6g}"
    )


@pytest.mark.requirement("GAUGE-009")
@MODEL_EXAMPLES
@given(seed=SEEDS, reflect=st.booleans())
def test_objective_without_anchor_is_gauge_invariant(model_part, params0, batch, sketch, seed, reflect):
    q = _orthogonal(seed, int(model_part.latent_dim), reflect=reflect)
    base = _terms(model_part, params0, batch, sketch)
    turned = _terms(model_part, model_part.rotate(params0, q), batch, q.T @ sketch)
    assert base["anchor"] == 0.0 and turned["anchor"] == 0.0, "the anchor term without an anchor must be exactly 0.0"
    assert check.close_scalar(turned["total"], base["total"], rtol=bounds.RTOL_LOSS, atol=bounds.ATOL_LOSS), (
        f"total {turned['total']} != {base['total']}"
    )


# --- §4 frame anchor ------------------------------------------------------------------------------------
def _anchor(model_part, params, points, weight: float) -> FrameAnchor:
    targets = np.asarray(check.encoded(model_part, params, points), dtype=np.float32)
    return FrameAnchor(points=points, targets=targets, weight=weight)


@pytest.mark.requirement("GAUGE-021")
@pytest.mark.parametrize("weight", [1.0, 2.5])
def test_anchor_term_is_weighted_mean_squared_distance_and_in_total(
    model_part, params0, params1, world, batch, sketch, weight
):
    points = np.asarray(world.probe.points, dtype=np.float32)
    anchor = _anchor(model_part, params1, points, weight)  # targets of another model: a non-zero term
    z = check.encoded(model_part, params0, points)
    expected = weight * float(np.mean(np.sum((z - anchor.targets) ** 2, axis=1)))
    with_anchor = _terms(model_part, params0, batch, sketch, anchor)
    without = _terms(model_part, params0, batch, sketch)
    assert check.close_scalar(with_anchor["anchor"], expected, rtol=bounds.RTOL_LOSS, atol=bounds.ATOL_LOSS), (
        f"anchor {with_anchor['anchor']} != {expected}"
    )
    assert check.close_scalar(
        with_anchor["total"] - without["total"], with_anchor["anchor"], rtol=bounds.RTOL_LOSS, atol=bounds.ATOL_LOSS
    ), "the anchor term is not included in total"
    other = ObjectiveWeights(lambda_pred=2.0, lambda_sigreg=0.5)
    weighted = _terms(model_part, params0, batch, sketch, anchor, weights=other)
    expected_total = (
        other.lambda_pred * weighted["pred"] + other.lambda_sigreg * weighted["sigreg"] + weighted["anchor"]
    )
    assert check.close_scalar(weighted["total"], expected_total, rtol=bounds.RTOL_LOSS, atol=bounds.ATOL_LOSS), (
        f"expected total = lambda_pred·pred + lambda_sigreg·sigreg + anchor = {expected_total:.6g} with weights "
        f"{other}; got {weighted['total']:.6g}"
    )


@pytest.mark.requirement("GAUGE-021")
@MODEL_EXAMPLES
@given(seed=SEEDS)
def test_anchor_breaks_the_gauge_symmetry(model_part, params0, world, batch, sketch, seed):
    """Targets from the reference frame: zero there, positive after any non-trivial rotation."""
    points = np.asarray(world.probe.points, dtype=np.float32)
    anchor = _anchor(model_part, params0, points, 1.0)
    q = _orthogonal(seed, int(model_part.latent_dim))
    at_reference = _terms(model_part, params0, batch, sketch, anchor)["anchor"]
    rotated = _terms(model_part, model_part.rotate(params0, q), batch, q.T @ sketch, anchor)["anchor"]
    z = check.encoded(model_part, params0, points)
    expected = float(np.mean(np.sum((z @ q - anchor.targets) ** 2, axis=1)))
    assert at_reference <= bounds.ATOL_LOSS + bounds.RTOL_LOSS * expected, (
        f"anchor term {at_reference} in the reference frame"
    )
    assert check.close_scalar(rotated, expected, rtol=bounds.RTOL_LOSS, atol=bounds.ATOL_LOSS), (
        f"anchor term {rotated} after a rotation, expected {expected}: the anchored objective must not be gauge "
        f"invariant"
    )


@pytest.mark.requirement("GAUGE-022")
def test_loss_terms_rejects_an_anchor_with_fewer_points_than_dimensions(model_part, params0, world, batch, sketch):
    d = int(model_part.latent_dim)
    points = np.asarray(world.probe.points[: d - 1], dtype=np.float32)
    anchor = FrameAnchor(points=points, targets=np.zeros((d - 1, d), dtype=np.float32), weight=1.0)
    before = copy.deepcopy(anchor)
    with raises(ProbeError, f"for an anchor of {d - 1} points in d={d}"):
        model_part.loss_terms(params0, batch, sketch=sketch, anchor=anchor, weights=WEIGHTS)
    assert check.bitwise_equal(anchor.points, before.points)
