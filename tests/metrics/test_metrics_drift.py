"""Frame drift: pairwise / to-reference / to-global reports with degenerate frames flagged."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lensemble_spec.errors import ConfigError, DegenerateProcrustes
from lensemble_spec.metrics import (
    ANGLE_ATOL_DEG,
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
    # RFC-0002 §6 / RFC-0005 §4.2: the maximum over participants, not their mean
    assert res.summary()["drift_to_reference_deg"] == pytest.approx(max(angles), abs=1e-3)
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
        assert p.angle_deg == pytest.approx(drift_angle_deg(one.q), abs=ANGLE_ATOL_DEG)
        assert p.residual == pytest.approx(one.residual, rel=1e-6, abs=1e-7)
        assert p.condition == pytest.approx(one.condition, rel=1e-8)
        assert p.reflection == (np.linalg.det(one.q) < 0)
    for name, e in res.to_reference.items():
        one = procrustes_align(emb[name], ref, proper=proper)
        assert e.angle_deg == pytest.approx(drift_angle_deg(one.q), abs=ANGLE_ATOL_DEG)


# Catches: the upstream wrong rationale that identical frames are "degenerate" — identical
# full-rank frames are perfectly aligned and must read 0°, not be flagged.
def test_identical_full_rank_frames_read_zero():
    base, emb = _silos([0.0, 0.0])
    res = frame_drift(emb, reference=base)
    assert not res.degenerate
    assert res.pairs[0].angle_deg <= ANGLE_ATOL_DEG
    assert res.pairs[0].residual <= 1e-7


COLLAPSES = {
    "constant": lambda b: np.ones_like(b) * 0.3,
    "zero": lambda b: np.zeros_like(b),
    "rank-1": lambda b: np.outer(b[:, 0], np.linspace(1.0, 2.0, b.shape[1])),
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


def test_fewer_probe_points_than_the_rank_floor_flags_every_entry():
    rng = np.random.default_rng(0)
    emb = {"a": rng.standard_normal((3, 16)), "b": rng.standard_normal((3, 16))}  # rank 3 < floor 4
    res = frame_drift(emb)
    assert res.pairs[0].degenerate and res.pairs[0].rank == 3


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
        assert x.angle_deg == pytest.approx(y.angle_deg, abs=ANGLE_ATOL_DEG)


def test_single_participant_and_json_shape():
    base, emb = _silos([15.0])
    res = frame_drift(emb, reference=base)
    assert res.pairs == ()
    d = res.to_dict()
    assert d["summary"]["drift_pairwise_mean_deg"] is None  # nothing to average, not 0
    assert d["to_reference"]["silo0"]["angle_deg"] == pytest.approx(15.0, abs=1e-3)
    assert set(d) == {"participants", "n_points", "latent_dim", "group", "rtol", "rank_floor", "pairs",
                      "to_reference", "to_global", "summary"}
    json.dumps(d, allow_nan=False)


# ---------------------------------------------------------------------------------------------
# Fast batched solver (eigh of MᵀM, SVD fallback, torch workers) against the SVD definition.
# ---------------------------------------------------------------------------------------------

from scipy.linalg import expm  # noqa: E402

from lensemble_spec.metrics import drift as drift_module  # noqa: E402
from lensemble_spec.metrics import drift_blocks  # noqa: E402
from lensemble_spec.metrics.angles import drift_from_orthogonal  # noqa: E402
from lensemble_spec.metrics.procrustes import (  # noqa: E402
    DEGENERATE_RTOL,
    EIGH_POLAR_MIN_RATIO,
    polar_batch,
    polar_from_cross,
)


@pytest.fixture(params=["numpy", "torch"])
def backend(request, monkeypatch):
    """frame_drift's batched solve forced onto numpy, then onto torch (skipped without torch)."""
    if request.param == "torch":
        pytest.importorskip("torch")
    monkeypatch.setattr(drift_module, "BACKEND", request.param)
    return request.param



def _drift_frames(seed, c=6, k=96, d=32, spread=0.05, noise=0.05):
    """Benchmark-like ``(base, {participant: (k, d)})``: base rotated by exp(skew) plus noise.

    Drift angles land around 15–30°, away from the arccos ends (eigen-angles at 0 or π), where any
    two backward-stable solvers differ by up to ANGLE_ATOL_DEG — so 1e-6° is a real test.
    """
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((k, d)) * np.geomspace(1.0, 0.2, d)
    out = {}
    for i in range(c):
        g = rng.standard_normal((d, d))
        rot = expm(spread * (g - g.T) / math.sqrt(d))
        out[f"p{i}"] = base @ rot + noise * rng.standard_normal((k, d))
    return base, out


def _svd_reference(m, proper):
    q, sv, flipped, _ = polar_from_cross(m, proper=proper)
    nuclear = sv.sum(-1) - 2.0 * np.where(flipped, sv[:, -1], 0.0)
    return q, sv, nuclear


def _weak_pairs(seed, d, ratio):
    """Cross-covariances with σ_min/σ_max = ratio: one weak direction, and a geometric spectrum."""
    rng = np.random.default_rng(seed)
    out = []
    for spectrum in (np.r_[np.ones(d - 1), ratio], np.geomspace(1.0, ratio, d)):
        u, w = haar_orthogonal(rng, d, proper=True), haar_orthogonal(rng, d, proper=True)
        out.append(3.0 * (u * spectrum) @ w.T)
    return np.stack(out)


# Catches: a wrong eigh-route formula (missing Vᵀ, Λ^{+1/2} for Λ^{-1/2}, the Kabsch flip on the
# largest instead of the smallest direction, nuclear norm without the flip) — on well-conditioned
# pairs, which must NOT fall back (or the fast route would be dead code).
@pytest.mark.parametrize("proper", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eigh_route_equals_svd_route_on_drifted_frames(seed, proper):
    _, emb = _drift_frames(seed)
    ids = sorted(emb)
    m = np.stack([emb[a].T @ emb[b] for i, a in enumerate(ids) for b in ids[i + 1:]])
    fast = polar_batch(m, proper=proper)
    q, sv, nuclear = _svd_reference(m, proper)
    assert not fast.via_svd.any()
    assert np.all(sv[:, -1] / sv[:, 0] > EIGH_POLAR_MIN_RATIO)
    angles = drift_from_orthogonal(q)
    assert np.all((angles > 5.0) & (angles < 60.0))
    assert np.max(np.abs(drift_from_orthogonal(fast.q) - angles)) < 1e-6
    assert np.max(np.abs(fast.q - q)) < 1e-10
    assert np.allclose(fast.nuclear, nuclear, rtol=1e-12, atol=0)
    assert np.allclose(fast.s_max, sv[:, 0], rtol=1e-12, atol=0)
    assert np.allclose(fast.s_min, sv[:, -1], rtol=1e-10, atol=0)
    if proper:
        assert np.all(np.linalg.det(fast.q) > 0)
        assert np.array_equal(fast.flipped, np.linalg.det(polar_from_cross(m, proper=False)[0]) < 0)
    else:
        assert np.array_equal(fast.reflection, np.linalg.det(q) < 0)


# Catches: frame_drift's batched numbers drifting from the per-pair SVD definition by more than
# 1e-6° / 1e-9 (the end-to-end version of the test above, through the Gram blocks and residuals).
def test_frame_drift_equals_per_pair_svd_definition(backend, monkeypatch):
    ref, emb = _drift_frames(4, c=5)
    res = frame_drift(emb, reference=ref)
    assert not res.degenerate
    for e in [*res.pairs, *res.to_reference.values()]:
        one = procrustes_align(emb[e.source], emb[e.target] if e.target != "reference" else ref)
        assert abs(e.angle_deg - drift_angle_deg(one.q)) < 1e-6
        assert abs(e.residual - one.residual) < 1e-9
        assert e.condition == pytest.approx(one.condition, rel=1e-9)


# Catches: a fallback threshold set too low (or none): the unguarded eigh route visibly loses
# accuracy on these pairs (κ² amplification), the guarded one must route them to the SVD and so
# reproduce it exactly — while they are NOT degenerate (σ_min/σ_max ≫ DEGENERATE_RTOL).
@pytest.mark.parametrize("ratio", [1e-4, 1e-5])
def test_ill_conditioned_pairs_take_the_svd_fallback(ratio):
    m = _weak_pairs(7, 32, ratio)
    q, sv, nuclear = _svd_reference(m, False)
    assert ratio > 10 * DEGENERATE_RTOL and ratio < EIGH_POLAR_MIN_RATIO
    guarded = polar_batch(m, proper=False)
    assert guarded.via_svd.all()
    assert np.max(np.abs(drift_from_orthogonal(guarded.q) - drift_from_orthogonal(q))) < 1e-6
    assert np.array_equal(guarded.q, q) and np.allclose(guarded.nuclear, nuclear, rtol=1e-12, atol=0)
    if ratio <= 1e-5:
        unguarded = polar_batch(m, proper=False, min_ratio=0.0)
        assert not unguarded.via_svd.any()
        assert np.max(np.abs(unguarded.q - q)) > 1e-9  # what the fallback protects against


# Catches: ill-conditioned-but-healthy frames being flagged, or taking a path whose residual or
# angle differs from the SVD definition (end to end, through frame_drift).
def test_ill_conditioned_participant_end_to_end_matches_svd():
    _, emb = _drift_frames(8, c=3, k=80, d=16)
    weak = emb["p2"].copy()
    u, s, vt = np.linalg.svd(weak, full_matrices=False)
    s[-1] = s[0] * 3e-5  # σ_min/σ_max of the cross-covariances ~1e-5: fallback, not degenerate
    emb["p2"] = (u * s) @ vt
    res = frame_drift(emb)
    weak_pairs = [p for p in res.pairs if "p2" in (p.source, p.target)]
    assert all(not p.degenerate and p.condition > 1 / EIGH_POLAR_MIN_RATIO for p in weak_pairs)
    for p in res.pairs:
        one = procrustes_align(emb[p.source], emb[p.target])
        assert abs(p.angle_deg - drift_angle_deg(one.q)) < 1e-6
        assert abs(p.residual - one.residual) < 1e-9


# Catches: the fast route deciding degeneracy itself (from eigenvalues squared into round-off)
# instead of handing rank-deficient items to the SVD, and a collapsed frame reading as aligned.
def test_degenerate_items_go_through_svd_and_stay_flagged():
    rng = np.random.default_rng(9)
    good = _weak_pairs(9, 12, 0.5)
    collapsed = good[:1].copy()
    collapsed[0] = collapsed[0] @ np.diag(np.r_[np.ones(2), np.zeros(10)])  # rank 2 < floor 3
    tiny = _weak_pairs(10, 12, DEGENERATE_RTOL / 10)[:1]  # rank 11: a subspace frame, not collapsed
    m = np.concatenate([good, collapsed, np.zeros((1, 12, 12)), tiny, rng.standard_normal((1, 12, 12))])
    pb = polar_batch(m, proper=False)
    assert list(pb.via_svd[2:5]) == [True, True, True]
    assert not pb.via_svd[:2].any()
    assert list(np.asarray(pb.rank)) == [12, 12, 2, 0, 11, 12]
    flagged = degenerate_flags(pb, 12)
    assert list(flagged) == [False, False, True, True, False, False]


def degenerate_flags(pb, d):
    from lensemble_spec.metrics.procrustes import degenerate_mask

    return degenerate_mask(pb.s_max, pb.rank, d)


# Catches: MᵀM under/overflowing for latents at extreme (but finite, valid) scales — without the
# exact power-of-two rescaling, 1e-154 latents make MᵀM subnormal and the eigh route inaccurate.
@pytest.mark.parametrize("scale", [1e-154, 1e-100, 1e100])
def test_extreme_latent_scales_read_the_same_drift(scale):
    _, emb = _drift_frames(11, c=3, k=64, d=16)
    base = frame_drift(emb)
    scaled = frame_drift({k: scale * v for k, v in emb.items()})
    for a, b in zip(base.pairs, scaled.pairs):
        assert not b.degenerate
        assert abs(a.angle_deg - b.angle_deg) < 1e-6
        assert a.residual == pytest.approx(b.residual, rel=1e-6)
        assert a.condition == pytest.approx(b.condition, rel=1e-8)


# Catches: the torch backend / worker threads disagreeing with numpy, results depending on the
# number of workers, a collapsed participant unflagged on the torch path, and frame_drift leaving
# the caller's torch thread count changed.
def test_torch_workers_match_numpy_and_restore_threads(monkeypatch):
    torch = pytest.importorskip("torch")
    ref, emb = _drift_frames(12, c=7, k=72, d=24)
    emb["p9"] = np.outer(emb["p0"][:, 0], np.ones(24))  # collapsed
    ref = np.ascontiguousarray(ref[::-1])[::-1]  # negative strides, read-only: must not trip torch
    ref.flags.writeable = False
    monkeypatch.setattr(drift_module, "BACKEND", "numpy")
    want = frame_drift(emb, reference=ref, proper=True)
    monkeypatch.setattr(drift_module, "BACKEND", "torch")
    inner_threads = []

    def recording_polar_batch(m, **kw):  # the LAPACK calls must run single-threaded per worker
        inner_threads.append(torch.get_num_threads())
        return polar_batch(m, **kw)

    monkeypatch.setattr(drift_blocks, "polar_batch", recording_polar_batch)
    before = torch.get_num_threads()
    try:
        got = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            got[threads] = frame_drift(emb, reference=ref, proper=True)
            assert torch.get_num_threads() == threads
            seen = []  # a thread started afterwards inherits the caller's count, not the workers' 1
            probe = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))  # noqa: B023 (joined below)
            probe.start()
            probe.join()
            assert seen == [threads]
            assert drift_module.batch_plan(8, 1, 24)["workers"] == min(threads, len(os.sched_getaffinity(0)))
    finally:
        torch.set_num_threads(before)
    assert inner_threads and set(inner_threads) == {1}
    assert [e.to_dict() for e in got[1].entries()] == [e.to_dict() for e in got[2].entries()]  # bitwise
    for x, y in zip(want.entries(), got[2].entries()):
        assert (x.source, x.target, x.degenerate, x.reflection) == (y.source, y.target, y.degenerate, y.reflection)
        if x.degenerate:
            assert math.isnan(y.angle_deg) and math.isnan(y.residual)
        else:
            assert abs(x.angle_deg - y.angle_deg) < 1e-9
            assert abs(x.residual - y.residual) < 1e-12
            assert x.condition == pytest.approx(y.condition, rel=1e-12)
    assert sum(e.degenerate for e in got[2].entries()) == 8  # 7 pairs + the reference entry


# Catches: the worker pool kept across calls being reused in a forked child (its threads do not
# exist there: the first multi-threaded frame_drift in the child would wait forever), and a
# second call in the same process not reusing the pool.
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_worker_pool_is_reused_and_survives_fork():
    pytest.importorskip("torch")
    code = (
        "import os, signal, sys, numpy as np, torch\n"
        "from lensemble_spec.metrics import drift, drift_blocks\n"
        "drift.BACKEND = 'torch'\n"
        "torch.set_num_threads(2)\n"
        "rng = np.random.default_rng(0)\n"
        "emb = {f'p{i}': rng.standard_normal((40, 8)) for i in range(4)}\n"
        "want = [p.angle_deg for p in drift.frame_drift(emb).pairs]\n"
        "pools = dict(drift_blocks._POOLS)\n"
        "assert len(pools) == 1, pools\n"
        "drift.frame_drift(emb)\n"
        "assert drift_blocks._POOLS == pools, 'second call made a new pool'\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    signal.alarm(20)  # a hung child ends itself (the test fails, nothing is left running)\n"
        "    ok = [p.angle_deg for p in drift.frame_drift(emb).pairs] == want\n"
        "    os._exit(0 if ok and len(drift_blocks._POOLS) == 2 else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"exit {done.returncode} (child hung on the parent's pool?) {done.stderr}"


# Catches: a row of the pair triangle cut into several blocks solving the wrong partners (the
# block's first target ignored) or writing to the wrong output slots.
def test_rows_cut_into_blocks_give_the_same_report(backend, monkeypatch):
    ref, emb = _drift_frames(5, c=7, k=40, d=6)
    monkeypatch.setattr(drift_blocks, "BLOCK_ITEMS", 100)
    whole = frame_drift(emb, reference=ref, global_embedding=ref[::-1].copy())
    monkeypatch.setattr(drift_blocks, "BLOCK_ITEMS", 2)
    assert len(drift_blocks._plan_blocks(7, 2)) == 3 + 3 + 2 + 2 + 1 + 1 + 2 * 4  # rows of 6 … 1 pairs, 7 per reference
    cut = frame_drift(emb, reference=ref, global_embedding=ref[::-1].copy())
    for x, y in zip(whole.entries(), cut.entries(), strict=True):
        assert (x.source, x.target, x.rank) == (y.source, y.target, y.rank)
        assert abs(x.angle_deg - y.angle_deg) < 1e-9 and abs(x.residual - y.residual) < 1e-12


def test_auto_backend_choice_and_unknown_backend(monkeypatch):
    # Catches: worker threads for tiny batches, d = 128 batches left on numpy's multi-threaded
    # OpenBLAS although torch is loaded, and a typo'd BACKEND silently meaning "auto".
    pytest.importorskip("torch")
    assert drift_module.batch_plan(4, 2, 8)["backend"] == "numpy"
    assert drift_module.batch_plan(4, 2, 128)["backend"] == "torch"  # torch already imported here
    monkeypatch.setattr(drift_module, "BACKEND", "cupy")
    with pytest.raises(ConfigError):
        frame_drift(_drift_frames(0, c=2, k=20, d=4)[1])


# Catches: the metrics package (or a mid-sized frame_drift call) importing torch — a second of
# start-up for every CLI command that only reads embeddings; large batches may import it.
def test_metrics_do_not_import_torch_for_mid_sized_batches():
    code = (
        "import sys, numpy as np\n"
        "import lensemble_spec.metrics as m\n"
        "assert 'torch' not in sys.modules, 'imported at module import'\n"
        "rng = np.random.default_rng(0)\n"
        "m.frame_drift({f'p{i}': rng.standard_normal((130, 64)) for i in range(5)})\n"
        "assert 'torch' not in sys.modules, 'imported for a mid-sized batch'\n"
        "m.frame_drift({f'p{i}': rng.standard_normal((300, 128)) for i in range(9)})\n"
        "import importlib.util\n"
        "no_torch = importlib.util.find_spec('torch') is None  # a numpy-only install stays on numpy\n"
        "assert no_torch or 'torch' in sys.modules, 'large batch did not use torch'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# Catches: the float32-GEMM route (float32 embeddings) drifting from the float64 definition, or
# ill-conditioned float32 pairs not being recomputed from float64 products.
def test_float32_embeddings_match_the_float64_route(backend, monkeypatch):
    ref, emb = _drift_frames(21, c=5, k=96, d=24)
    weak = emb["p4"].copy()
    u, s, vt = np.linalg.svd(weak, full_matrices=False)
    s[-1] = s[0] * 1e-3  # κ(M) ~ 1e3 > FP32_CROSS_MAX_COND: these pairs take the float64 redo
    emb["p4"] = (u * s) @ vt
    e32 = {k: v.astype(np.float32) for k, v in emb.items()}
    e64 = {k: v.astype(np.float64) for k, v in e32.items()}
    r32 = ref.astype(np.float32)
    a, b = frame_drift(e32, reference=r32), frame_drift(e64, reference=r32.astype(np.float64))
    for x, y in zip(a.entries(), b.entries()):
        assert abs(x.angle_deg - y.angle_deg) < 1e-4
        assert abs(x.residual - y.residual) < 1e-4
        if "p4" in (x.source, x.target) and x.condition > drift_module.FP32_CROSS_MAX_COND:
            assert abs(x.angle_deg - y.angle_deg) < 1e-9  # recomputed in float64: the same route
