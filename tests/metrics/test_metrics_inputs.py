"""Every metric rejects bad arrays with InputError (code input_invalid) and a remediation.

Catches: metrics that crash deep inside numpy/LAPACK (LinAlgError, IndexError), return NaN, or
silently broadcast mismatched shapes instead of telling the user what to fix.
"""

from __future__ import annotations

import numpy as np
import pytest

from lensemble_spec.errors import ErrorCode, InputError
from lensemble_spec.metrics import (
    build_sketch,
    collapse_report,
    drift_angle_deg,
    drift_to_reference_deg,
    effective_dim,
    effective_rank,
    frame_drift,
    geodesic_distance,
    latent_rms,
    latent_std_mean,
    principal_angles,
    procrustes_align,
    rollout_error,
    sigreg_statistic,
    skill_vs_identity,
    state_probe_r2,
    val_pred,
)

RNG = np.random.default_rng(0)
D = 4
Z1 = RNG.standard_normal((16, D))
Z2 = RNG.standard_normal((16, D))
Z3 = RNG.standard_normal((16, D))
S1 = RNG.standard_normal((16, 2))
SKETCH = build_sketch(0, D, 8)
ZTE, STE = RNG.standard_normal((16, D)), RNG.standard_normal((16, 2))

# name -> (function of the corrupted arguments, the good arguments; the first is corrupted,
# the second is the partner for shape mismatches or None when the metric takes one array)
LATENT_METRICS = {
    "procrustes_align": (lambda a, b: procrustes_align(a, b), (Z1, Z2)),
    "frame_drift": (lambda a, b: frame_drift({"x": a, "y": b}), (Z1, Z2)),
    "frame_drift[reference]": (lambda a, b: frame_drift({"x": b}, reference=a), (Z1, Z2)),
    "drift_to_reference_deg": (lambda a, b: drift_to_reference_deg(a, b), (Z1, Z2)),
    "effective_rank": (lambda a: effective_rank(a), (Z1,)),
    "effective_dim": (lambda a: effective_dim(a), (Z1,)),
    "latent_std_mean": (lambda a: latent_std_mean(a), (Z1,)),
    "latent_rms": (lambda a: latent_rms(a), (Z1,)),
    "collapse_report": (lambda a: collapse_report(a), (Z1,)),
    "sigreg_statistic": (lambda a: sigreg_statistic(a, SKETCH), (Z1,)),
    "val_pred": (lambda a, b: val_pred(a, b), (Z1, Z2)),
    "skill_vs_identity": (lambda a, b: skill_vs_identity(a, b, Z3), (Z1, Z2)),
    "state_probe_r2": (lambda a, b: state_probe_r2(a, b, ZTE, STE), (Z1, S1)),
    "state_probe_r2[test]": (lambda a, b: state_probe_r2(Z1, S1, a, b), (ZTE, STE)),
}


def _corrupt(kind: str, args: tuple) -> tuple | None:
    a = args[0].copy()
    rest = list(args[1:])
    if kind == "nan":
        a[3, 1] = np.nan
    elif kind == "inf":
        a[0, 0] = -np.inf
    elif kind == "wrong-rank":
        a = a[:, 0]
    elif kind == "mismatched-shape":
        if not rest:
            return None
        rest[0] = rest[0][:-3]
    elif kind == "one-sample":
        a = a[:1]
        rest = [r[:1] for r in rest]
    elif kind == "non-numeric":
        a = a.astype(str)
    return (a, *rest)


KINDS = ["nan", "inf", "wrong-rank", "mismatched-shape", "one-sample", "non-numeric"]


def _assert_typed(exc: InputError) -> None:
    assert exc.code is ErrorCode.INPUT_INVALID
    assert isinstance(exc.remediation, str) and len(exc.remediation) > 10


CASES = [(name, kind) for name in sorted(LATENT_METRICS) for kind in KINDS
         if not (kind == "mismatched-shape" and len(LATENT_METRICS[name][1]) == 1)]


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_latent_metrics_reject_bad_input(name, kind):
    fn, args = LATENT_METRICS[name]
    bad = _corrupt(kind, args)
    assert bad is not None
    with pytest.raises(InputError) as info:
        fn(*bad)
    _assert_typed(info.value)


ANGLE_METRICS = {"principal_angles": principal_angles, "geodesic_distance": geodesic_distance,
                 "drift_angle_deg": drift_angle_deg}
BAD_Q = {
    "nan": np.where(np.eye(3) == 1, np.nan, 0.0),
    "inf": np.where(np.eye(3) == 1, np.inf, 0.0),
    "wrong-rank": np.ones(3),
    "mismatched-shape": np.eye(3)[:, :2],  # not square
    "one-sample": np.eye(1),  # d < 2: no plane to rotate in
    "non-numeric": np.eye(3).astype(complex),
}


@pytest.mark.parametrize("kind", sorted(BAD_Q))
@pytest.mark.parametrize("name", sorted(ANGLE_METRICS))
def test_angle_metrics_reject_bad_input(name, kind):
    with pytest.raises(InputError) as info:
        ANGLE_METRICS[name](BAD_Q[kind])
    _assert_typed(info.value)


ROLL = (RNG.standard_normal((8, 4)), RNG.standard_normal((8, 3, 2)), RNG.standard_normal((8, 3, 4)))
BAD_ROLLOUT = {
    "nan": (np.full((8, 4), np.nan), ROLL[1], ROLL[2]),
    "inf": (ROLL[0], ROLL[1] * np.inf, ROLL[2]),
    "wrong-rank": (ROLL[0], ROLL[1][:, 0], ROLL[2]),
    "mismatched-shape": (ROLL[0], ROLL[1], ROLL[2][:, :, :3]),
    "one-sample": (ROLL[0][:1], ROLL[1][:1], ROLL[2][:1]),
    "non-numeric": (ROLL[0].astype(object), ROLL[1], ROLL[2]),
}


@pytest.mark.parametrize("kind", sorted(BAD_ROLLOUT))
def test_rollout_error_rejects_bad_input(kind):
    with pytest.raises(InputError) as info:
        rollout_error(lambda z, a: z, *BAD_ROLLOUT[kind])
    _assert_typed(info.value)


def test_frame_drift_rejects_bad_containers():
    for bad in ({}, [Z1, Z2], {1: Z1}):
        with pytest.raises(InputError):
            frame_drift(bad)  # type: ignore[arg-type]


def test_none_and_ragged_inputs():
    with pytest.raises(InputError):
        effective_rank(None)
    with pytest.raises(InputError):
        latent_rms([[1.0, 2.0], [3.0]])
    with pytest.raises(InputError):
        effective_rank(np.ones((4, 3), dtype=bool))
