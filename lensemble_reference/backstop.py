"""Procrustes backstop: fold a participant's frame back onto the round-0 reference, in weights.

Given the global ``θ`` and a participant's local model ``θ + Δ``:

1. ``S = f_local(P)`` — the local encoder on the public probe points ``P`` (k × d, k ≥ d);
2. ``Q* = argmin_{Q ∈ O(d)} ‖S Q − T‖_F`` with ``T`` the fixed round-0 reference targets
   (``lensemble_spec.metrics.procrustes_align``, ``S Q* ≈ T``);
3. ``θ' = rotate(θ + Δ, Q*)`` — encoder frame layer ``F → Q*ᵀF``, predictor ``in_proj W → W Q*``,
   ``out_proj O → Q*ᵀ O``, ``b → Q*ᵀ b`` (model.rotate_params), so the aligned participant computes
   the SAME function up to the gauge: ``f'(x) = f(x) Q*`` and ``g'(z Q*, a) = g(z, a) Q*``;
4. release ``Δ' = θ' − θ`` (re-differenced against the global, not a rotated delta: upstream's
   defect §3.3 rotated ``Δ`` alone and in the inverse convention, dropping the global term).

Reflections: the search is over the full orthogonal group O(d) (``proper=False``), because the
objective's gauge symmetry includes reflections and ``rotate_params`` applies any orthogonal ``Q``
exactly. A participant whose frame is a reflection of the reference (det = −1) is therefore folded
back completely; with ``proper=True`` (Kabsch, SO(d)) a reflection can NOT be undone and the
aligned frame keeps a large residual — that choice is available but not the default.

When to fire: ``angle = drift_angle_deg(Q*) > threshold_deg`` (a reflection reads ≥ 127.3°). Below
the threshold the participant's delta is released unchanged (the anchor loss handles small drift).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lensemble_spec.metrics import drift_angle_deg, procrustes_align

from .config import ModelConfig
from .model import module_from_params, rotate_params


@dataclass(frozen=True)
class Alignment:
    """Result of aligning one participant: rotated params, ``Q*`` and its diagnostics."""

    params: dict[str, np.ndarray]
    q: np.ndarray
    angle_deg: float
    det: float
    residual: float


def encode_numpy(cfg: ModelConfig, params: Mapping[str, Any], obs: Any, *, chunk: int = 256) -> np.ndarray:
    """``f(obs)`` as float32 numpy ``(N, d)`` (no grad, chunked to bound memory)."""
    module = module_from_params(cfg, params)
    x = torch.as_tensor(np.asarray(obs, dtype=np.float32))
    with torch.no_grad():
        parts = [module.encode(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)]
    return torch.cat(parts).numpy()


def align_to_reference(
    cfg: ModelConfig,
    local_params: Mapping[str, Any],
    probe_points: Any,
    reference: Any,
    *,
    proper: bool = False,
) -> Alignment:
    """Steps 1–3 above. Raises DegenerateProcrustes (from the metrics library) on a collapsed frame."""
    source = encode_numpy(cfg, local_params, probe_points)
    result = procrustes_align(source, np.asarray(reference, dtype=np.float32), proper=proper)
    q = np.asarray(result.q, dtype=np.float64)
    return Alignment(
        params=rotate_params(local_params, q),
        q=q,
        angle_deg=float(drift_angle_deg(q)),
        det=float(np.linalg.det(q)),
        residual=float(result.residual),
    )


def should_fire(alignment: Alignment, threshold_deg: float) -> bool:
    """Fire exactly when the drift angle exceeds ``threshold_deg`` (RFC-0002 §5, GAUGE-032).

    A reflected frame reads ``drift_angle_deg ≥ 180°/√2 ≈ 127.3°`` (each eigenvalue −1 counts as a
    half turn), so it fires at any threshold below that, the 15° default included.
    """
    angle = alignment.angle_deg
    return bool(not np.isfinite(angle) or angle > threshold_deg)


def redifference(global_params: Mapping[str, Any], aligned: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``Δ' = θ' − θ`` in float32 (the delta a participant releases after alignment)."""
    return {
        k: (np.asarray(aligned[k], dtype=np.float32) - np.asarray(global_params[k], dtype=np.float32))
        for k in sorted(global_params)
    }
