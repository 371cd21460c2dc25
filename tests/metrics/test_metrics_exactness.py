"""Issue #12 items 2–10 and issue #10 item 2: each test fails on the metrics as they were before.

The comment above each test names the defect it catches.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy.linalg import expm

from lensemble_spec import rfc_params
from lensemble_spec.errors import DegenerateProcrustes, EvaluationError, InputError
from lensemble_spec.metrics import (
    collapse_metrics,
    collapse_report,
    drift_angle_deg,
    drift_to_reference_deg,
    effective_dim,
    effective_rank,
    frame_drift,
    geodesic_distance,
    latent_std_mean,
    principal_angles,
    procrustes_align,
    rank_floor,
    rollout_error,
)
from lensemble_spec.strategies import haar_orthogonal


def _rotation(rng: np.random.Generator, d: int, max_angle_deg: float) -> np.ndarray:
    """exp(X), X skew with eigen-angles at most ``max_angle_deg`` (so u R uᵀ > 0 for every unit u)."""
    a = rng.standard_normal((d, d))
    x = a - a.T
    top = np.max(np.abs(np.linalg.eigvals(x).imag))
    return expm(x * math.radians(max_angle_deg) / top)


# --- item 2: collapse_report uses RFC-0002 §9's floors ---------------------------------------------
# Catches: the old private thresholds (mean variance < 1e-4, rank < 0.1·min(n, d)) instead of
# MIN_LATENT_STD = 1e-3 on latent_std_mean and MIN_RANK_FRACTION = 0.25 of min(d, n − 1).
def test_collapse_report_uses_the_rfc_floors():
    rng = np.random.default_rng(0)
    healthy = rng.standard_normal((512, 32))
    unit = (healthy - healthy.mean(0)) / healthy.std(0)
    assert collapse_report(5e-3 * unit)["reasons"] == []  # std 5e-3 ≥ MIN_LATENT_STD (var 2.5e-5 < 1e-4)
    assert collapse_report(9e-4 * unit)["reasons"] == ["magnitude"]
    five = rng.standard_normal((512, 5)) @ np.linalg.qr(rng.standard_normal((32, 5)))[0].T  # rank 5 of 32
    assert 4.5 < effective_rank(five) < 5.0 + 1e-9
    assert collapse_report(five)["reasons"] == ["rank"]  # 5 < 0.25·32 (old floor 3.2 let it pass)


# Catches: a rank floor taken on min(n, d) although a centred batch of n samples has rank ≤ n − 1.
def test_collapse_rank_floor_is_on_the_centred_rank():
    rng = np.random.default_rng(1)
    n = 9
    basis = np.linalg.qr(np.c_[np.ones(n), rng.standard_normal((n, 3))])[0][:, 1:]  # ⟂ 1: centred
    z = (basis * np.array([1.0, 1.0, 0.05])) @ np.linalg.qr(rng.standard_normal((32, 3)))[0].T
    er = effective_rank(z)
    assert 0.25 * (n - 1) < er < 0.25 * n  # between the two readings of the floor
    assert "rank" not in collapse_report(z)["reasons"]


# --- item 3: every scale ---------------------------------------------------------------------------
# Catches: an unscaled norm overflowing (1e155) or underflowing (1e-170) so healthy latents read
# 0.0 ("constant"), which GAUGE-038 ("at every scale") forbids.
@pytest.mark.parametrize("scale", [1e155, 1e-170, 1e300, 1e-300])
def test_spectrum_metrics_at_extreme_scales(scale):
    z = np.random.default_rng(2).standard_normal((200, 12))
    for fn in (effective_rank, effective_dim):
        assert fn(scale * z) == pytest.approx(fn(z), rel=1e-12)
    assert latent_std_mean(scale * z) == pytest.approx(scale * latent_std_mean(z), rel=1e-12)
    assert collapse_metrics(scale * z)["latent_rms"] == pytest.approx(
        scale * collapse_metrics(z)["latent_rms"], rel=1e-12
    )


# Catches: the float32 fast paths (no scaling, or scaling in float32) overflowing, underflowing or
# losing subnormal inputs: float32 latents at the ends of the float32 range read as at scale 1.
@pytest.mark.parametrize("scale", [2.0**110, 2.0**-110, 2.0**-135])  # exact in float32 but the last
def test_float32_inputs_at_extreme_float32_scales(scale):
    rng = np.random.default_rng(4)
    z32 = rng.standard_normal((300, 10)).astype(np.float32)
    zs = z32 * np.float32(scale)
    rel = 1e-12 if scale > 1e-38 else 1e-2  # subnormal float32 keeps only a few bits
    assert effective_rank(zs) == pytest.approx(effective_rank(z32), rel=rel)
    s = rng.standard_normal((40, 6))
    t = s @ haar_orthogonal(rng, 6) + 0.01 * rng.standard_normal((40, 6))
    base = procrustes_align(s.astype(np.float32), t.astype(np.float32))
    got = procrustes_align(s.astype(np.float32) * np.float32(scale), t.astype(np.float32) * np.float32(scale))
    atol = 1e-5 if scale > 1e-38 else 1e-1
    assert np.allclose(got.q, base.q, atol=atol) and np.allclose(got.q.T @ got.q, np.eye(6), atol=1e-12)
    assert got.condition == pytest.approx(base.condition, rel=1e-4 if scale > 1e-38 else 1.0)


# Catches: SᵀT overflowing to inf (a bare LinAlgError at 1e200) or underflowing to 0 (a
# well-conditioned frame reported degenerate at 1e-200).
@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_procrustes_and_drift_at_extreme_scales(scale):
    rng = np.random.default_rng(3)
    s = rng.standard_normal((40, 6))
    r = haar_orthogonal(rng, 6)
    t = s @ r + 0.01 * rng.standard_normal((40, 6))
    base = procrustes_align(s, t)
    big = procrustes_align(scale * s, scale * t)
    assert np.allclose(big.q, base.q, atol=1e-12)
    assert big.residual == pytest.approx(base.residual, rel=1e-9)
    assert big.condition == pytest.approx(base.condition, rel=1e-9)
    res = frame_drift({"a": scale * s, "b": scale * t}, reference=scale * s)
    assert not res.degenerate
    assert res.pairs[0].angle_deg == pytest.approx(drift_angle_deg(base.q), abs=1e-9)
    assert res.pairs[0].residual == pytest.approx(base.residual, rel=1e-6)
    mixed = frame_drift({"a": s, "b": scale * t})  # frames at different scales: residual is huge, angle is not
    assert mixed.pairs[0].angle_deg == pytest.approx(drift_angle_deg(base.q), abs=1e-9)


# --- item 4 ----------------------------------------------------------------------------------------
# Catches: RolloutResult.skill_vs_identity guarding only identity_mean == 0 and returning ~1e13
# where skill_vs_identity() raises EvaluationError on the same data.
def test_rollout_skill_uses_the_same_zero_error_rule():
    rng = np.random.default_rng(4)
    targets = rng.standard_normal((8, 3, 4))
    z0 = targets[:, 0] + 1e-9  # a static latent: identity error 1e-18, round-off
    targets[:, 1:] = targets[:, :1]
    res = rollout_error(lambda z, a: z + 1e-3, z0, np.zeros((8, 3, 1)), targets)
    assert 0.0 < res.identity_mean < 1e-12 * float(np.mean(targets**2))
    with pytest.raises(EvaluationError):
        _ = res.skill_vs_identity


# --- item 5 ----------------------------------------------------------------------------------------
# Catches: frame_drift accepting d = 1 (127.28° for a sign flip) while the angle functions refuse it.
def test_drift_refuses_one_dimensional_latents():
    z = np.arange(1.0, 6.0)[:, None]
    with pytest.raises(InputError):
        frame_drift({"a": z, "b": -z})
    with pytest.raises(InputError):
        frame_drift({"a": z}, reference=-z)
    with pytest.raises(InputError):
        drift_to_reference_deg(z, -z)


# --- item 6 ----------------------------------------------------------------------------------------
# Catches: the angle functions accepting |QᵀQ − I| up to 1e-4 (silently reprojected) where
# RFC-0002 §9 says ATOL_ORTHO = 1e-5.
@pytest.mark.parametrize("fn", [drift_angle_deg, geodesic_distance, principal_angles])
def test_angle_functions_use_atol_ortho(fn):
    q = haar_orthogonal(np.random.default_rng(5), 5)
    fn(q * (1 + 4e-6))  # |QᵀQ − I| ≈ 8e-6 ≤ 1e-5: accepted
    with pytest.raises(InputError):
        fn(q * (1 + 2.5e-5))  # ≈ 5e-5: refused


# --- item 9: typed errors, nothing silently dropped -------------------------------------------------
# Catches: an empty batch raising a bare ValueError from np.max; numpy masked arrays silently
# unmasked (masked entries counted as data); torch meta / sparse tensors raising bare errors.
@pytest.mark.parametrize("fn", [drift_angle_deg, geodesic_distance, principal_angles])
def test_empty_batch_of_rotations_is_an_input_error(fn):
    with pytest.raises(InputError):
        fn(np.zeros((0, 3, 3)))


def test_masked_arrays_are_refused():
    z = np.ma.masked_array(np.random.default_rng(6).standard_normal((20, 4)), mask=False)
    z.mask[3, 1] = True
    for call in (lambda: effective_rank(z), lambda: latent_std_mean(z), lambda: procrustes_align(z, z.data)):
        with pytest.raises(InputError):
            call()


@pytest.mark.parametrize("kind", ["meta", "sparse"])
def test_torch_meta_and_sparse_tensors_are_input_errors(kind):
    torch = pytest.importorskip("torch")
    dense = torch.randn(20, 4)
    z = torch.empty(20, 4, device="meta") if kind == "meta" else dense.to_sparse()
    for call in (lambda: effective_rank(z), lambda: procrustes_align(z, dense), lambda: drift_angle_deg(
            torch.empty(3, 3, device="meta") if kind == "meta" else torch.eye(3).to_sparse())):
        with pytest.raises(InputError):
            call()


# --- item 10: one source for the RFC parameters -----------------------------------------------------
# Catches: library constants re-declared under other names or with other values than the RFC's.
def test_library_constants_equal_the_rfc_parameters():
    import lensemble_spec.metrics as m
    from lensemble_spec.metrics import angles, collapse, procrustes

    rfc = rfc_params.packaged()
    assert m.DEGENERATE_RTOL == procrustes.DEGENERATE_RTOL == rfc.DEGENERATE_RTOL
    assert m.ATOL_ORTHO == angles.ATOL_ORTHO == rfc.ATOL_ORTHO
    assert m.ANGLE_ATOL_DEG == rfc.ANGLE_ATOL_DEG
    assert m.CONSTANT_RTOL == collapse.CONSTANT_RTOL == rfc.CONSTANT_RTOL
    assert m.MIN_RANK_FRACTION == procrustes.MIN_RANK_FRACTION == rfc.MIN_RANK_FRACTION
    assert m.MIN_LATENT_STD == rfc.MIN_LATENT_STD
    for stale in ("PROCRUSTES_RCOND", "ORTHOGONALITY_ATOL", "COLLAPSE_VARIANCE_FLOOR", "COLLAPSE_RANK_FRACTION",
                  "PROBE_RIDGE", "ANGLE_NOISE_FLOOR_DEG"):
        assert not hasattr(m, stale), f"{stale} re-declares an RFC parameter under another name"


def test_every_rfc_parameter_is_typed_and_read_from_the_text():
    from lensemble_spec.requirements import load_catalog

    stated = load_catalog().parameters
    rfc = rfc_params.packaged()
    for name in rfc_params.RFCParameters.names():
        assert name in stated, f"{name} is not stated by any RFC"
        assert getattr(rfc, name) == stated[name].value
        assert type(getattr(rfc, name)) is (int if isinstance(stated[name].value, int) else float)


def _draft_rfcs(tmp_path, **changes):
    from lensemble_spec.requirements import default_rfc_dir

    for path in default_rfc_dir().glob("RFC-*.md"):
        text = path.read_text(encoding="utf-8")
        for name, value in changes.items():
            text = text.replace(f"- `{name}` = `", f"- `{name}` = `{value}` — changed\n- `_OLD_{name}` = `")
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    return tmp_path


# Catches: the suite's bounds and the verifier's tolerances reading the packaged RFCs whatever
# --rfc-dir says (two readers, neither following it).
def test_suite_and_verifier_follow_the_selected_rfc_dir(tmp_path):
    from lensemble_spec.conformance import bounds
    from lensemble_spec.verify.tolerances import tolerances

    draft = _draft_rfcs(tmp_path, MAX_DRIFT_TO_REFERENCE_DEG="12.5", RECOMPUTE_RTOL="0.003")
    assert bounds.MAX_DRIFT_TO_REFERENCE_DEG == 30.0
    rfc_params.select(draft)
    try:
        assert bounds.MAX_DRIFT_TO_REFERENCE_DEG == 12.5
        assert tolerances().max_drift_deg == 12.5 and tolerances().metric.rtol == 0.003
        assert bounds.describe()["MAX_DRIFT_TO_REFERENCE_DEG"] == 12.5
    finally:
        rfc_params.select(None)
    assert bounds.MAX_DRIFT_TO_REFERENCE_DEG == 30.0 and tolerances().max_drift_deg == 30.0


def test_pytest_rfc_dir_option_selects_the_parameters(tmp_path):
    (tmp_path / "rfcs").mkdir()
    draft = _draft_rfcs(tmp_path / "rfcs", MIN_LATENT_STD="0.25")
    test = tmp_path / "test_probe.py"
    test.write_text(textwrap.dedent("""
        from lensemble_spec.conformance import bounds
        from lensemble_spec.verify.tolerances import tolerances

        def test_reads_the_draft():
            assert bounds.MIN_LATENT_STD == 0.25
            assert tolerances().min_latent_std == 0.25
    """))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rfc-dir", str(draft),
                           str(test)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


# --- issue #10 item 2: frames rank-deficient by design ----------------------------------------------
def _layernorm(x: np.ndarray) -> np.ndarray:
    mu = x.mean(axis=1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=1, keepdims=True) + 1e-5)


def _ln_frames(kind: str, seed: int = 7, k: int = 96, d: int = 16) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = _layernorm(rng.standard_normal((k, d)) @ rng.standard_normal((d, d)))
    if kind == "learned-bias":
        z = z * rng.uniform(0.5, 1.5, d) + 0.3 * rng.standard_normal(d)
    elif kind == "tiny-bias":
        z = z * rng.uniform(0.5, 1.5, d) + 1e-6 * rng.standard_normal(d)
    elif kind == "frame-layer":
        z = z @ (np.eye(d) + 0.3 * rng.standard_normal((d, d)))
    elif kind == "frame-layer-bias":
        z = z @ (np.eye(d) + 0.3 * rng.standard_normal((d, d))) + 0.2 * rng.standard_normal(d)
    return z.astype(np.float32)


# Catches: the old rule (σ_min/σ_max <= DEGENERATE_RTOL ⇒ degenerate) calling every
# LayerNorm-terminated encoder's frame degenerate — its drift null, its verdict `collapsed` —
# although nothing collapsed; and a completion of the undetermined direction that is not the
# minimal rotation (an arbitrary sign reads up to ~127° more).
@pytest.mark.parametrize("kind", ["plain", "learned-bias", "tiny-bias", "frame-layer", "frame-layer-bias"])
def test_layernorm_frames_rotated_read_the_rotation(kind):
    z = _ln_frames(kind)
    d = z.shape[1]
    sv = np.linalg.svd(z.astype(np.float64), compute_uv=False)
    if kind in ("plain", "tiny-bias", "frame-layer"):
        assert sv[-1] / sv[0] < 1e-5  # rank d − 1 by design (float32 round-off only)
    rng = np.random.default_rng(11)
    for max_angle in (0.5, 20.0, 80.0):
        r = _rotation(rng, d, max_angle)
        t = (z.astype(np.float64) @ r).astype(np.float32)
        want = drift_angle_deg(r)
        assert abs(drift_to_reference_deg(z, t) - want) < 1e-3
        res = frame_drift({"a": z, "b": t}, reference=t)
        for e in (res.pairs[0], res.to_reference["a"]):
            assert not e.degenerate and abs(e.angle_deg - want) < 1e-3
            assert e.rank in ((d - 1,) if kind in ("plain", "frame-layer") else (d - 1, d))
            assert e.residual < 1e-5
        assert res.summary()["drift_degenerate"] is False


def test_layernorm_frame_reports_its_rank_and_the_span_map():
    z = _ln_frames("plain").astype(np.float64)
    d = z.shape[1]
    r = _rotation(np.random.default_rng(12), d, 40.0)
    res = procrustes_align(z, z @ r)
    assert res.rank == d - 1 and math.isfinite(res.condition) and res.condition > 1e5
    assert np.allclose(z @ res.q, z @ r, atol=1e-9)  # exact on the span
    assert np.allclose(res.q, r, atol=1e-9)  # completed by the minimal rotation (= R here)
    flipped = procrustes_align(z, z @ r, proper=True)
    assert np.linalg.det(flipped.q) > 0 and np.allclose(z @ flipped.q, z @ r, atol=1e-9)


# Catches: the relaxed rule letting a genuinely collapsed frame through (read as 0° or aligned).
@pytest.mark.parametrize("collapse", ["point", "line", "below-floor"])
def test_a_collapsed_frame_is_still_degenerate_never_zero(collapse):
    rng = np.random.default_rng(13)
    k, d = 96, 16
    healthy = _ln_frames("plain", k=k, d=d).astype(np.float64)
    if collapse == "point":
        z = np.tile(_layernorm(rng.standard_normal((1, d))), (k, 1))
    elif collapse == "line":
        z = _layernorm(np.outer(rng.standard_normal(k), rng.standard_normal(d)))  # LayerNorm of a line: ±u
    else:
        z = rng.standard_normal((k, rank_floor(d) - 1)) @ rng.standard_normal((rank_floor(d) - 1, d))
    with pytest.raises(DegenerateProcrustes):
        procrustes_align(z, healthy)
    with pytest.raises(DegenerateProcrustes):
        drift_to_reference_deg(z, healthy)
    res = frame_drift({"a": z, "b": z.copy(), "c": healthy}, reference=healthy)
    for e in [*res.pairs[:2], res.to_reference["a"]]:
        assert e.degenerate and math.isnan(e.angle_deg)
    assert res.summary()["drift_to_reference_deg"] is None and res.summary()["drift_degenerate"] is True
    assert collapse_report(z)["collapsed"]
