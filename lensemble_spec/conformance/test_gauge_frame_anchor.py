"""RFC-0002 §8.1: the optional frame-only anchor, ``weight · ‖Q* − I‖_F²``.

``Q*`` is the library's Procrustes rotation of the model's probe embedding onto the targets
(``lensemble_spec.metrics.procrustes_align``, over O(d)). The checks compare numbers only:

* GAUGE-043 — the term equals ``weight · ‖Q* − I‖_F²`` for targets in another model's frame, for
  targets that are an exact rotation (``Q* = R``) and it is included in ``total``;
* GAUGE-044 — it depends on the targets only through their frame: unchanged when the targets are
  scaled, (near) zero when the targets are the model's own embedding at another scale — where a
  landmark term would be large.

The variant is optional: an implementation whose model part does not list ``"frame"`` in
``anchor_variants`` declares that it does not offer it, and these ids read *not applicable* for it
(RFC-0002 §8.1: "not checked"; left out of the verdict, never passed). One that lists it is
checked in full: a wrong term fails, and a ``loss_terms`` that raises ``NotImplementedError`` for
it reads *not implemented* (a declared feature that is missing), never not applicable.
"""

from __future__ import annotations

import numpy as np
import pytest

from lensemble_spec.metrics import procrustes_align
from lensemble_spec.plugin import skip_not_applicable
from lensemble_spec.protocol import FrameAnchor
from lensemble_spec.strategies import haar_orthogonal

from . import _assertions as check
from . import bounds


@pytest.fixture
def frame_model(model_part):
    if "frame" not in tuple(getattr(model_part, "anchor_variants", ()) or ()):
        skip_not_applicable(
            "the model part does not list 'frame' in anchor_variants: it does not offer the optional frame-only anchor "
            "(RFC-0002 §8.1)"
        )
    return model_part


def _enc(model_part, params, points) -> np.ndarray:
    return np.asarray(check.as_array(model_part.encode(params, points)), dtype=np.float64)


def _anchor_term(model_part, params, batch, sketch, targets, weight) -> tuple[float, float]:
    """(anchor term, total − total without anchor) of a frame-only anchor."""
    points = np.asarray(targets[0], dtype=np.float32)
    anchor = FrameAnchor(
        points=points, targets=np.asarray(targets[1], dtype=np.float32), weight=weight, variant="frame"
    )
    sk = np.asarray(sketch, dtype=np.float32)
    with_anchor = {
        k: float(check.as_array(v)) for k, v in model_part.loss_terms(params, batch, sketch=sk, anchor=anchor).items()
    }
    without = {
        k: float(check.as_array(v)) for k, v in model_part.loss_terms(params, batch, sketch=sk, anchor=None).items()
    }
    return with_anchor["anchor"], with_anchor["total"] - without["total"]


def _expected(z: np.ndarray, targets: np.ndarray, weight: float) -> float:
    q = np.asarray(procrustes_align(z, np.asarray(targets, dtype=np.float64)).q, dtype=np.float64)
    return weight * float(np.sum((q - np.eye(q.shape[0])) ** 2))


@pytest.mark.requirement("GAUGE-043")
@pytest.mark.parametrize("weight", [1.0, 3.0])
def test_frame_anchor_term_is_weighted_rotation_distance_and_in_total(
    frame_model, params0, params1, world, batch, sketch, weight
):
    points = np.asarray(world.probe.points, dtype=np.float32)
    z = _enc(frame_model, params0, points)
    targets = _enc(frame_model, params1, points)  # another model's frame and content
    term, in_total = _anchor_term(frame_model, params0, batch, sketch, (points, targets), weight)
    expected = _expected(z, targets, weight)
    assert expected > 1e-2, "harness precondition: two independent initialisations should be in different frames"
    atol = bounds.ATOL_LOSS * weight
    assert check.close_scalar(term, expected, rtol=bounds.RTOL_LOSS, atol=atol), (
        f"frame anchor {term} != weight·‖Q*−I‖² = {expected}"
    )
    assert check.close_scalar(in_total, term, rtol=bounds.RTOL_LOSS, atol=atol), (
        "the frame anchor term is not included in total"
    )


@pytest.mark.requirement("GAUGE-043")
@pytest.mark.parametrize("seed", [3, 11])
def test_frame_anchor_reads_an_exact_rotation(frame_model, params0, world, batch, sketch, seed):
    """Targets = own embedding · R: ``Q* = R``, so the term is ``‖R − I‖²`` (≈ 2·Σ(1 − cos θ_j)·2)."""
    points = np.asarray(world.probe.points, dtype=np.float32)
    z = _enc(frame_model, params0, points)
    r = haar_orthogonal(np.random.default_rng(seed), z.shape[1])
    term, _ = _anchor_term(frame_model, params0, batch, sketch, (points, z @ r), 1.0)
    expected = float(np.sum((r - np.eye(r.shape[0])) ** 2))
    assert check.close_scalar(term, expected, rtol=bounds.RTOL_LOSS, atol=bounds.ATOL_LOSS * 10), (
        f"frame anchor {term} != ‖R − I‖² = {expected}"
    )


@pytest.mark.requirement("GAUGE-044")
@pytest.mark.parametrize("scale", [0.25, 4.0])
def test_frame_anchor_ignores_target_scale(frame_model, params0, params1, world, batch, sketch, scale):
    points = np.asarray(world.probe.points, dtype=np.float32)
    targets = _enc(frame_model, params1, points)
    base, _ = _anchor_term(frame_model, params0, batch, sketch, (points, targets), 1.0)
    scaled, _ = _anchor_term(frame_model, params0, batch, sketch, (points, targets * scale), 1.0)
    assert check.close_scalar(scaled, base, rtol=bounds.RTOL_LOSS, atol=bounds.ATOL_LOSS), (
        f"scaling the targets by {scale} changed the frame anchor from {base} to {scaled}: it depends on content, not "
        f"only the frame"
    )


@pytest.mark.requirement("GAUGE-044")
@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_frame_anchor_is_zero_in_the_reference_frame_at_any_scale(frame_model, params0, world, batch, sketch, scale):
    points = np.asarray(world.probe.points, dtype=np.float32)
    z = _enc(frame_model, params0, points)
    term, _ = _anchor_term(frame_model, params0, batch, sketch, (points, z * scale), 1.0)
    landmark = float(np.mean(np.sum((z - z * scale) ** 2, axis=1)))
    assert abs(term) <= bounds.ATOL_LOSS, (
        f"frame anchor {term} for targets in the model's own frame (scale {scale}; a landmark term would read "
        f"{landmark:.4g})"
    )
