"""Metrics for federated JEPA world models: pure functions on arrays.

Conventions everywhere: latents are row vectors ``(..., d)`` (leading dims are samples), a gauge
transform is ``z -> z @ Q``, Procrustes returns ``Q`` with ``source @ Q ≈ target``, a SIGReg sketch
``A`` ``(d, m)`` co-rotates as ``A -> Qᵀ A``. Inputs are numpy arrays or torch tensors; computation
is float64 and results are Python floats / numpy arrays, except :func:`sigreg_statistic`, which
returns a differentiable 0-dim tensor for torch input. Bad input raises
:class:`~lensemble_spec.errors.InputError` (code + remediation). Every tolerance is a named module
constant with its reason in a comment; those the RFCs state (``DEGENERATE_RTOL``, ``ATOL_ORTHO``,
``ANGLE_ATOL_DEG``, ``CONSTANT_RTOL``, ``MIN_RANK_FRACTION``, ``MIN_LATENT_STD``) carry the RFC's
name and are read from the packaged RFC text (:mod:`lensemble_spec.rfc_params`).

Modules: :mod:`.procrustes`, :mod:`.angles`, :mod:`.drift`, :mod:`.collapse`, :mod:`.sigreg`,
:mod:`.prediction`.
"""

from __future__ import annotations

from ..errors import DegenerateProcrustes, EvaluationError, InputError
from .angles import (
    ANGLE_ATOL_DEG,
    ATOL_ORTHO,
    drift_angle_deg,
    geodesic_distance,
    principal_angles,
)
from .collapse import (
    CONSTANT_RTOL,
    MIN_LATENT_STD,
    MIN_RANK_FRACTION,
    SPECTRUM_EPS,
    CentredSpectrum,
    centred_spectrum,
    collapse_metrics,
    collapse_report,
    effective_dim,
    effective_rank,
    latent_rms,
    latent_std_mean,
)
from .drift import (
    RESIDUAL_NOISE_FLOOR,
    DriftEntry,
    FrameDriftResult,
    drift_to_reference_deg,
    frame_drift,
)
from .prediction import (
    RolloutResult,
    rollout_error,
    skill_vs_identity,
    state_probe_r2,
    val_pred,
)
from .procrustes import DEGENERATE_RTOL, ProcrustesResult, procrustes_align, rank_floor
from .sigreg import (
    SIGREG_KNOTS,
    SIGREG_T_MAX,
    derive_seed,
    round_sketch_seed,
    sigreg_knots,
    sigreg_statistic,
)
from .sketch import LEGACY_SKETCH_GENERATOR, SKETCH_GENERATOR, build_sketch

__all__ = [
    "ANGLE_ATOL_DEG",
    "ATOL_ORTHO",
    "CONSTANT_RTOL",
    "DEGENERATE_RTOL",
    "MIN_LATENT_STD",
    "MIN_RANK_FRACTION",
    "RESIDUAL_NOISE_FLOOR",
    "LEGACY_SKETCH_GENERATOR",
    "SIGREG_KNOTS",
    "SKETCH_GENERATOR",
    "SIGREG_T_MAX",
    "SPECTRUM_EPS",
    "CentredSpectrum",
    "DegenerateProcrustes",
    "DriftEntry",
    "EvaluationError",
    "FrameDriftResult",
    "InputError",
    "ProcrustesResult",
    "RolloutResult",
    "build_sketch",
    "centred_spectrum",
    "collapse_metrics",
    "collapse_report",
    "derive_seed",
    "drift_angle_deg",
    "drift_to_reference_deg",
    "effective_dim",
    "effective_rank",
    "frame_drift",
    "geodesic_distance",
    "latent_rms",
    "latent_std_mean",
    "principal_angles",
    "procrustes_align",
    "rank_floor",
    "rollout_error",
    "round_sketch_seed",
    "sigreg_knots",
    "sigreg_statistic",
    "skill_vs_identity",
    "state_probe_r2",
    "val_pred",
]
