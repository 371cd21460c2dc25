"""Frame drift: pairwise / to-reference / to-global reports with degenerate frames flagged."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lensemble_spec.errors import DegenerateProcrustes
from lensemble_spec.metrics import (
    ANGLE_NOISE_FLOOR_DEG,
    drift_angle_deg,
    drift_to_reference_deg,
    frame_drift,
    procrustes_align,
)
from lensemble_spec.strategies import embeddings, haar_orthogonal, orthogonal_matrices, plane_rotation


def _silos(angles_deg, *, k=48, d=8, seed=0):
    """Participants = one base frame rotated by θ_c in a shared random plane."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((k, d))
    basis = haar_orthogonal(rng, d)
    emb = {f"silo{c}": base @ plane_rotation(d, math.radians(a), basis=basis) for c, a in enumerate(angles_deg)}
    return base, emb


# Catches: pairs solved in the wrong direction, ids not sorted, the headline being a to-global
# number, and the 180° saturation (all readings here are exact single-plane angles).
def test_known_answers_single_plane_participants():
    angles = [0.0, 10.0, 35.0, 170.0]
    base, emb = _silos(angles)
    glob = base @ plane_rotation(8, math.radians(5.0), basis=haar_orthogonal(np.random.default_rng(0), 8))
    res = frame_drift(emb, reference=base, global_embedding=base)
    assert [(p.source, p.target) for p in res.pairs] == [
        ("silo0", "silo1"), ("silo0", "silo2"), ("silo0", "silo3"),
        ("silo1", "silo2"), ("silo1", "silo3"), ("silo2", "silo3"),
    ]
    for p in res.pairs:
        a, b = angles[int(p.source[-1])], angles[int(p.target[-1])]
        assert p.angle_deg == pytest.approx(abs(b - a), abs=1e-3)
        assert p.residual < 1e-6 and not p.degenerate and not p.reflection
    for c, a in enumerate(angles):
        assert res.to_reference[f"silo{c}"].angle_deg == pytest.approx(a, abs=1e-3)
        assert res.to_global[f"silo{c}"].target == "global"
    assert res.pairwise_max_deg == pytest.approx(170.0, abs=1e-3)
    assert res.pairwise_mean_deg == pytest.approx(np.mean([10, 35, 170, 25, 160, 135]), abs=1e-3)
    assert res.summary()["drift_to_reference_deg"] == pytest.approx(np.mean(angles), abs=1e-3)
    assert res.pair("silo3", "silo1").angle_deg == pytest.approx(160.0, abs=1e-3)
    other = frame_drift(emb, global_embedding=glob)
    assert other.to_global["silo0"].angle_deg == pytest.approx(5.0, abs=1e-3)
    assert other.to_reference == {}


# Catches: the batched path disagreeing with the one-pair definition (wrong block of the Gram
# product, a transposed cross-covariance, or the trace-identity residual going wrong).
@settings(max_examples=15, deadline=None, derandomize=True)
@given(st.integers(2, 12).flatmap(lambda d: st.tuples(
    st.lists(embeddings(3 * d, d), min_size=2, max_size=5), embeddings(3 * d, d), st.booleans())))
def test_batched_report_equals_pairwise_procrustes(data):
    frames, ref, proper = data
    emb = {f"p{i}": f + 0.05 * np.cos(3 * f) for i, f in enumerate(frames)}
    res = frame_drift(emb, reference=ref, proper=proper)
    for p in res.pairs:
        one = procrustes_align(emb[p.source], emb[p.target], proper=proper)
        assert p.angle_deg == pytest.approx(drift_angle_deg(one.q), abs=ANGLE_NOISE_FLOOR_DEG)
        assert p.residual == pytest.approx(one.residual, rel=1e-6, abs=1e-7)
        assert p.condition == pytest.approx(one.condition, rel=1e-8)
        assert p.reflection == (np.linalg.det(one.q) < 0)
    for name, e in res.to_reference.items():
        one = procrustes_align(emb[name], ref, proper=proper)
        assert e.angle_deg == pytest.approx(drift_angle_deg(one.q), abs=ANGLE_NOISE_FLOOR_DEG)


# Catches: the upstream wrong rationale that identical frames are "degenerate" — identical
# full-rank frames are perfectly aligned and must read 0°, not be flagged.
def test_identical_full_rank_frames_read_zero():
    base, emb = _silos([0.0, 0.0])
    res = frame_drift(emb, reference=base)
    assert not res.degenerate
    assert res.pairs[0].angle_deg <= ANGLE_NOISE_FLOOR_DEG
    assert res.pairs[0].residual <= 1e-7


COLLAPSES = {
    "constant": lambda b: np.ones_like(b) * 0.3,
    "zero": lambda b: np.zeros_like(b),
    "rank-1": lambda b: np.outer(b[:, 0], np.linspace(1.0, 2.0, b.shape[1])),
    "dead-coordinate": lambda b: b * np.r_[np.ones(b.shape[1] - 1), 0.0],
}


# Catches upstream defect §9.2 (degenerate_safe → 0.0° and residual 0.0): a collapsed participant
# must be flagged and must never read as 0° or as aligned, in entries, aggregates and JSON.
@pytest.mark.parametrize("kind", sorted(COLLAPSES))
def test_collapsed_participant_is_flagged_never_zero(kind):
    base, emb = _silos([0.0, 20.0, 40.0])
    emb["silo9"] = COLLAPSES[kind](base)
    res = frame_drift(emb, reference=base, global_embedding=base)
    bad = [p for p in res.pairs if "silo9" in (p.source, p.target)]
    assert len(bad) == 3
    for e in bad + [res.to_reference["silo9"], res.to_global["silo9"]]:
        assert e.degenerate
        assert math.isnan(e.angle_deg) and math.isnan(e.residual)
    healthy = [p for p in res.pairs if "silo9" not in (p.source, p.target)]
    assert all(not p.degenerate and p.angle_deg > 1.0 for p in healthy)
    assert res.degenerate
    assert math.isnan(res.pairwise_mean_deg) and math.isnan(res.pairwise_max_deg)
    summary = res.summary()
    assert summary["drift_degenerate"] is True
    assert summary["drift_pairwise_mean_deg"] is None and summary["drift_to_reference_deg"] is None
    blob = json.dumps(res.to_dict(), allow_nan=False)  # NaN never leaks into JSON
    assert '"degenerate": true' in blob


# Catches: two identically-collapsed frames reading as perfectly aligned (residual 0, angle 0).
def test_two_identical_collapsed_frames_are_degenerate_not_aligned():
    z = np.outer(np.arange(10.0), np.ones(4))
    res = frame_drift({"a": z, "b": z.copy()})
    assert res.pairs[0].degenerate and math.isnan(res.pairs[0].angle_deg)
    with pytest.raises(DegenerateProcrustes):
        drift_to_reference_deg(z, z)


def test_fewer_probe_points_than_dimensions_flags_every_entry():
    rng = np.random.default_rng(0)
    emb = {"a": rng.standard_normal((4, 8)), "b": rng.standard_normal((4, 8))}
    res = frame_drift(emb)
    assert res.pairs[0].degenerate


def test_drift_to_reference_deg_known_answer_and_degenerate_raise():
    base, emb = _silos([0.0, 25.0])
    assert drift_to_reference_deg(emb["silo1"], base) == pytest.approx(25.0, abs=1e-3)
    with pytest.raises(DegenerateProcrustes):
        drift_to_reference_deg(np.zeros_like(base), base)


# Catches: a reflected participant silently reported as a small rotation.
def test_reflected_participant_is_reported_as_reflection():
    rng = np.random.default_rng(7)
    base = rng.standard_normal((40, 6))
    refl = np.diag([-1.0, 1, 1, 1, 1, 1])
    res = frame_drift({"a": base, "b": base @ refl})
    assert res.pairs[0].reflection
    assert res.pairs[0].angle_deg == pytest.approx(180.0 / math.sqrt(2.0), abs=1e-3)
    res_so = frame_drift({"a": base, "b": base @ refl}, proper=True)
    assert not res_so.pairs[0].reflection
    assert res_so.pairs[0].residual > 0.1  # SO(d) cannot undo a reflection


@settings(max_examples=10, deadline=None, derandomize=True)
@given(orthogonal_matrices(6, proper=True))
def test_report_is_invariant_to_a_common_gauge(q):
    # Catches: drift that depends on the shared frame rather than the relative one.
    base, emb = _silos([0.0, 12.0, 30.0], d=6)
    a = frame_drift(emb, reference=base)
    b = frame_drift({k: v @ q for k, v in emb.items()}, reference=base @ q)
    for x, y in zip(a.entries(), b.entries()):
        assert x.angle_deg == pytest.approx(y.angle_deg, abs=ANGLE_NOISE_FLOOR_DEG)


def test_single_participant_and_json_shape():
    base, emb = _silos([15.0])
    res = frame_drift(emb, reference=base)
    assert res.pairs == ()
    d = res.to_dict()
    assert d["summary"]["drift_pairwise_mean_deg"] is None  # nothing to average, not 0
    assert d["to_reference"]["silo0"]["angle_deg"] == pytest.approx(15.0, abs=1e-3)
    assert set(d) == {"participants", "n_points", "latent_dim", "group", "rcond", "pairs",
                      "to_reference", "to_global", "summary"}
    json.dumps(d, allow_nan=False)
