"""Recompute recorded metrics from committed weights, through an implementation's model part.

Definitions (``lensemble_spec.metrics``) applied as the RFCs state them:

**Round records** (RFC-0005 §4.1, RFC-0002 §6): on the probe embedding ``Z = encode(θ, points)``,
``effective_rank``, ``effective_dim``, ``latent_std_mean``, ``latent_rms``;
``drift_to_reference_deg = frame_drift_deg(Z, targets)``. With several models (the local-only
control's participants) the collapse metrics are means over the models, the drift to the
reference is the maximum, and ``drift_pairwise_mean_deg``/``_max_deg`` are the mean and maximum
over unordered participant pairs (null with fewer than two participants).

**Results rows** (RFC-0005 §4.2): over every held-out frame ``Z[e, t] = encode(θ, obs[e, t])``
the collapse metrics; ``val_pred = mean (predict(θ, Z[e,t], a[e,t]) − Z[e,t+1])²``;
``val_pred_identity = mean (Z[e,t] − Z[e,t+1])²``; ``skill_vs_identity`` their ratio (null when
the identity error is zero); ``state_probe_r2`` fitted on the first ⌊E/2⌋ episodes, scored on the
rest; ``drift_to_reference_deg`` of the probe embedding. Local-only: mean over the participants'
models, except the drift, which is the maximum.

A metric that is undefined on the data (a degenerate frame, a typed metrics error) is ``None``,
the convention records use for "not a number"; ``drift_degenerate`` says why a drift is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import LensembleError
from ..metrics import collapse_metrics as _collapse_metrics
from ..metrics import (
    frame_drift,
    skill_vs_identity,
    state_probe_r2,
    val_pred,
)
from .heldout import HeldoutSplit

#: Observations encoded per call (bounds memory; the result does not depend on it beyond float noise).
ENCODE_CHUNK = 256
COLLAPSE_KEYS = ("effective_rank", "effective_dim", "latent_std_mean", "latent_rms")
HELDOUT_KEYS = (
    *COLLAPSE_KEYS,
    "val_pred",
    "val_pred_identity",
    "skill_vs_identity",
    "state_probe_r2",
    "drift_to_reference_deg",
)


def finite_or_none(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _safe(fn: Any, *args: Any) -> float | None:
    try:
        return finite_or_none(fn(*args))
    except LensembleError:
        return None


def to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def embed(model: Any, params: Mapping[str, Any], obs: np.ndarray, *, chunk: int = ENCODE_CHUNK) -> np.ndarray:
    """``model.encode`` over ``obs (N, …)`` in chunks; returns ``(N, d)`` float32."""
    parts = [to_numpy(model.encode(params, obs[i : i + chunk])) for i in range(0, obs.shape[0], chunk)]
    return np.concatenate(parts, axis=0).astype(np.float32, copy=False)


def collapse_metrics(z: np.ndarray) -> dict[str, float | None]:
    """The four RFC-0002 §7 metrics from ONE centred spectrum (``metrics.collapse_metrics``)."""
    flat = z.reshape(-1, z.shape[-1])
    try:
        values = _collapse_metrics(flat)
    except LensembleError:
        return dict.fromkeys(COLLAPSE_KEYS)
    return {key: finite_or_none(values[key]) for key in COLLAPSE_KEYS}


def drift_to_reference(z: np.ndarray, targets: np.ndarray) -> tuple[float | None, bool]:
    """``(angle_deg, degenerate)``; the angle is None exactly when the frame is degenerate."""
    try:
        entry = frame_drift({"model": z}, reference=targets).to_reference["model"]
    except LensembleError:
        return None, True
    if entry.degenerate:
        return None, True
    return finite_or_none(entry.angle_deg), False


def _mean(values: Sequence[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else float(np.mean(values))


def _max(values: Sequence[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else float(np.max(values))


def combine(per_model: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several models' metrics → one row: means, except the drift to the reference (maximum)."""
    keys = {k for m in per_model for k in m if k != "drift_degenerate"}
    out: dict[str, Any] = {}
    for k in sorted(keys):
        values = [m.get(k) for m in per_model]
        out[k] = _max(values) if k == "drift_to_reference_deg" else _mean(values)
    out["drift_degenerate"] = any(bool(m.get("drift_degenerate")) for m in per_model)
    return out


def record_metrics(
    model: Any,
    models: Mapping[str, Mapping[str, Any]],
    *,
    points: np.ndarray,
    targets: np.ndarray,
    pairwise: bool,
) -> dict[str, Any]:
    """Round-record metrics of one round from its model(s) (module docstring, first part)."""
    embeddings = {name: embed(model, params, points) for name, params in sorted(models.items())}
    per_model = []
    for z in embeddings.values():
        m: dict[str, Any] = collapse_metrics(z)
        m["drift_to_reference_deg"], m["drift_degenerate"] = drift_to_reference(z, targets)
        per_model.append(m)
    out = combine(per_model)
    if pairwise:
        out["drift_pairwise_mean_deg"], out["drift_pairwise_max_deg"] = None, None
        if len(embeddings) >= 2:
            try:
                result = frame_drift(embeddings)
                summary = result.summary()
                out["drift_pairwise_mean_deg"] = summary["drift_pairwise_mean_deg"]
                out["drift_pairwise_max_deg"] = summary["drift_pairwise_max_deg"]
                out["drift_degenerate"] = out["drift_degenerate"] or bool(summary["drift_degenerate"])
            except LensembleError:
                out["drift_degenerate"] = True
    return out


def heldout_metrics(
    model: Any, params: Mapping[str, Any], split: HeldoutSplit, *, points: np.ndarray, targets: np.ndarray
) -> dict[str, Any]:
    """Results-row metrics of one model on the held-out split (module docstring, second part)."""
    obs = split.obs
    e, t1 = obs.shape[:2]
    z = embed(model, params, obs.reshape(e * t1, *obs.shape[2:])).reshape(e, t1, -1)
    d = z.shape[-1]
    out: dict[str, Any] = collapse_metrics(z)
    target, current = z[:, 1:].reshape(-1, d), z[:, :-1].reshape(-1, d)
    if split.actions is not None:
        a = split.actions.reshape(-1, split.actions.shape[-1])
        predicted = np.concatenate(
            [
                to_numpy(model.predict(params, current[i : i + ENCODE_CHUNK], a[i : i + ENCODE_CHUNK]))
                for i in range(0, len(a), ENCODE_CHUNK)
            ]
        ).astype(np.float32, copy=False)
        out["val_pred"] = _safe(val_pred, predicted, target)
        out["skill_vs_identity"] = _safe(skill_vs_identity, predicted, target, current)
    out["val_pred_identity"] = _safe(val_pred, current, target)
    n_fit = split.n_fit
    if split.states is not None and 0 < n_fit < e:
        s = split.states.shape[-1]
        out["state_probe_r2"] = _safe(
            state_probe_r2,
            z[:n_fit].reshape(-1, d),
            split.states[:n_fit].reshape(-1, s),
            z[n_fit:].reshape(-1, d),
            split.states[n_fit:].reshape(-1, s),
        )
    out["drift_to_reference_deg"], out["drift_degenerate"] = drift_to_reference(embed(model, params, points), targets)
    return out


__all__ = [
    "COLLAPSE_KEYS",
    "ENCODE_CHUNK",
    "HELDOUT_KEYS",
    "collapse_metrics",
    "combine",
    "drift_to_reference",
    "embed",
    "finite_or_none",
    "heldout_metrics",
    "record_metrics",
    "to_numpy",
]
