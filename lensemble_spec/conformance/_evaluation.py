"""RFC-0005 §4.2: held-out metrics of a model, recomputed by the harness from checkpoints.

``Z[e, t] = encode(θ, obs[e, t])`` over every frame of every held-out episode; the collapse
metrics of RFC-0002 §7 over the flattened frames; ``val_pred`` (teacher-forced one-step error),
``val_pred_identity`` (error of predicting no change) and their ratio; ``state_probe_r2`` with the
library's closed-form probe fitted on the first ``⌊E/2⌋`` episodes and scored on the rest; and the
probe drift to the round-0 targets. For several models (the local-only control) each metric is the
mean over models except the drift, which is the maximum.

Which held-out split belongs to a comparison (RFC-0005 §3): a results table whose ``split`` is
:data:`~conformance._harness.HARNESS_SPLIT` was evaluated on the harness world's held-out split;
otherwise the runs' manifests must carry the world's generating specification as
``split_policy["world"]`` (``lensemble_spec.worlds`` ``WorldSpec.to_dict()``), which the harness
regenerates and checks bit for bit against the recorded specification.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lensemble_spec.metrics import state_probe_r2
from lensemble_spec.protocol import Silo
from lensemble_spec.worlds import make_world

from . import _oracle as oracle
from ._harness import HARNESS_SPLIT, RunView, encode_cached, world_for

HELDOUT_METRICS = (
    "effective_rank",
    "effective_dim",
    "latent_std_mean",
    "latent_rms",
    "val_pred",
    "val_pred_identity",
    "skill_vs_identity",
    "state_probe_r2",
    "drift_to_reference_deg",
)
ANGLE_METRICS = frozenset({"drift_to_reference_deg"})


def heldout_for(split: Any, members: Mapping[str, RunView], model: Any) -> Silo | None:
    """The held-out split a comparison was evaluated on, or None when it cannot be rebuilt."""
    if split == HARNESS_SPLIT:
        return world_for(model).heldout
    specs = []
    for view in members.values():
        try:
            policy = view.manifest().get("split_policy")
        except AssertionError:
            return None
        spec = policy.get("world") if isinstance(policy, dict) else None
        if not isinstance(spec, dict):
            return None
        specs.append(spec)
    if not specs or any(s != specs[0] for s in specs):
        return None
    spec = specs[0]
    try:
        world = make_world(
            int(spec["root_seed"]), n_silos=int(spec["n_silos"]), episodes_per_silo=int(spec["episodes_per_silo"]),
            horizon=int(spec["horizon"]), image_size=int(spec["image_size"]), probe_size=int(spec["probe_size"]),
            probe_style=str(spec.get("probe", {}).get("style_policy", "mixture")),
        )  # fmt: skip
    except Exception:
        return None
    return world.heldout if world.spec.to_dict() == spec else None


def _finite(x: float) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def model_metrics(
    model: Any, params: Mapping[str, Any], heldout: Silo, points: np.ndarray, targets: np.ndarray, *, digest: str | None = None
) -> dict[str, float | None]:
    obs = np.asarray(heldout.obs, dtype=np.float32)
    e, t1 = obs.shape[:2]
    frames = obs.reshape(e * t1, *obs.shape[2:])
    if digest is not None:
        z = encode_cached(model, digest, dict(params), frames).reshape(e, t1, -1)
    else:
        z = np.asarray(oracle.as_array(model.encode(params, frames)), dtype=np.float64).reshape(e, t1, -1)
    d = z.shape[-1]
    actions = np.asarray(heldout.actions, dtype=np.float32)
    current = z[:, :-1].reshape(-1, d)
    target = z[:, 1:].reshape(-1, d)
    predicted = np.asarray(
        oracle.as_array(model.predict(params, current.astype(np.float32), actions.reshape(-1, actions.shape[-1]))), dtype=np.float64
    )
    flat = z.reshape(-1, d)
    out: dict[str, float | None] = {name: _finite(fn(flat)) for name, fn in oracle.COLLAPSE_METRICS.items()}
    vp = float(np.mean((predicted - target) ** 2))
    vpi = float(np.mean((current - target) ** 2))
    out["val_pred"] = _finite(vp)
    out["val_pred_identity"] = _finite(vpi)
    out["skill_vs_identity"] = _finite(vp / vpi) if vpi > 0 else None
    n_fit = e // 2
    states = np.asarray(heldout.states, dtype=np.float64)
    try:
        out["state_probe_r2"] = _finite(
            float(state_probe_r2(z[:n_fit].reshape(-1, d), states[:n_fit].reshape(-1, states.shape[-1]),
                                 z[n_fit:].reshape(-1, d), states[n_fit:].reshape(-1, states.shape[-1])))
        )  # fmt: skip
    except Exception:
        out["state_probe_r2"] = None
    probe_z = encode_cached(model, digest, dict(params), points) if digest is not None else oracle.as_array(model.encode(params, points))
    out["drift_to_reference_deg"] = oracle.drift_deg(np.asarray(probe_z, dtype=np.float64), targets)
    return out


def combine(per_model: Sequence[Mapping[str, float | None]]) -> dict[str, float | None]:
    """One model: itself. Several (local-only): the mean, the drift the maximum; None if any is None."""
    out: dict[str, float | None] = {}
    for name in HELDOUT_METRICS:
        values = [m[name] for m in per_model]
        if any(v is None for v in values):
            out[name] = None
        else:
            out[name] = float(max(values) if name in ANGLE_METRICS else np.mean(values))
    return out


def round_metrics(view: RunView, round_index: int, model: Any, heldout: Silo) -> dict[str, float | None]:
    from ._recompute import round_paths

    points, targets = view.probe_points(), view.probe_targets()
    return combine([
        model_metrics(model, view.params(p), heldout, points, targets, digest=view.checkpoint(p).digest())
        for p in round_paths(view, round_index).values()
    ])
