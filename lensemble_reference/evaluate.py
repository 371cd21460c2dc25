"""Held-out evaluation of a run directory (RFC-0005 §4.2), every metric from ``lensemble_spec.metrics``.

Training never sees the held-out split; this module reads a finished run directory (manifest,
hash-verified checkpoints, probe file) and the held-out split, and computes for every round ``t``
the results-row metrics of the round's model(s):

* over all held-out frames ``Z[e, t] = encode(θ, obs[e, t])`` (flattened ``(E·(T+1), d)``):
  ``effective_rank``, ``effective_dim``, ``latent_std_mean``, ``latent_rms`` — shape AND scale,
  since the rank alone is blind to magnitude collapse;
* ``val_pred = mean (g(Z[e,t], a[e,t]) − Z[e,t+1])²`` (teacher-forced, one step, every transition),
  ``val_pred_identity = mean (Z[e,t] − Z[e,t+1])²`` and ``skill_vs_identity`` (their ratio; null
  when the identity error is zero; gameable — never decisive);
* ``state_probe_r2`` — closed-form linear probe from latents to ground-truth states, fit on the
  first ``⌊E/2⌋`` held-out episodes, scored on the rest (rotation-invariant: it measures content,
  not frame);
* ``drift_to_reference_deg`` — the model's PROBE embedding vs the run's round-0 targets (null,
  with ``drift_degenerate``, for a degenerate frame — never 0°).

For the local-only control (participants' models, no global) each metric is the mean over the
silos' models except the drift, which is the maximum; the per-silo values are kept as
``<metric>/<silo>`` and ``state_probe_r2_best_silo`` (the strictest local-only baseline).

Models are rebuilt from the checkpoint tensors alone (:func:`lensemble_reference.model.infer_model_config`)
and every metric is computed by ``lensemble_spec.verify.recompute`` (the verifier's own code), so
``lensemble-spec verify`` recomputes exactly these numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.artifacts.checkpoint import load_checkpoint
from lensemble_spec.errors import EvaluationError
from lensemble_spec.protocol import Silo
from lensemble_spec.schemas import RunManifest, load_document
from lensemble_spec.verify.heldout import HeldoutSplit
from lensemble_spec.verify.recompute import HELDOUT_KEYS
from lensemble_spec.verify.recompute import heldout_metrics as _library_heldout_metrics

from .artifacts import MANIFEST_FILE, load_probe
from .implementation import ReferenceModel

#: The model part every checkpoint is evaluated through (sizes are read from the tensors).
_MODEL = ReferenceModel()


def heldout_metrics(
    params: Mapping[str, Any], heldout: Silo, points: np.ndarray, targets: np.ndarray
) -> dict[str, Any]:
    """The §4.2 metrics of one model (see module docstring), computed by the library's recompute
    (``lensemble_spec.verify.recompute.heldout_metrics``) through this trainer's model part, so the
    trainer's numbers and the verifier's are one computation.

    Raises EvaluationError for a held-out split with fewer than 2 episodes (no fit/score split) or
    with no more frames than latent dimensions (the rank would measure the sample size)."""
    obs = np.asarray(heldout.obs, dtype=np.float32)
    e, t1 = obs.shape[:2]
    if e < 2:
        raise EvaluationError("the held-out split needs >= 2 episodes (state-probe fit and score sets)")
    d = int(np.asarray(targets).shape[-1])
    if e * t1 <= d:
        raise EvaluationError(
            f"{e * t1} held-out frames for a {d}-dimensional latent: the rank would measure the sample size"
        )
    split = HeldoutSplit(
        obs=obs,
        actions=np.asarray(heldout.actions, dtype=np.float32),
        states=np.asarray(heldout.states, dtype=np.float32),
        source=f"silo {heldout.name}",
    )
    return _library_heldout_metrics(
        _MODEL, params, split, points=np.asarray(points, dtype=np.float32), targets=np.asarray(targets)
    )


def combine(per_model: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Several models → one row: means, except the drift to the reference (maximum); per-model kept."""
    names = sorted(per_model)
    out: dict[str, Any] = {}
    for key in HELDOUT_KEYS:
        values = [per_model[n].get(key) for n in names]
        if any(v is None for v in values):
            out[key] = None
        else:
            out[key] = float(np.max(values)) if key == "drift_to_reference_deg" else float(np.mean(values))
        if len(names) > 1:
            for n, v in zip(names, values):
                out[f"{key}/{n}"] = v
    out["drift_degenerate"] = any(bool(per_model[n].get("drift_degenerate")) for n in names)
    if len(names) > 1:
        r2 = [per_model[n].get("state_probe_r2") for n in names]
        out["state_probe_r2_best_silo"] = None if any(v is None for v in r2) else float(max(r2))
    return out


def evaluate_run(run_dir: Path, heldout: Silo) -> dict[str, Any]:
    """Per-round held-out metrics of a run directory.

    Returns ``{"rounds": [row_0, …, row_R], "final": row_R, "latent_dim": d, "control": …}``
    where each row is :func:`heldout_metrics` (or :func:`combine` over the local-only silos).
    Checkpoints are loaded through ``lensemble_spec.artifacts.checkpoint.load_checkpoint`` (hash-verified).
    """
    run_dir = Path(run_dir)
    manifest = load_document(RunManifest, run_dir / MANIFEST_FILE)
    points, targets = load_probe(run_dir)
    by_round: dict[int, dict[str | None, str]] = {}
    for ref in manifest.checkpoints:
        by_round.setdefault(ref.round_index, {})[ref.participant] = ref.path
    rows = []
    for r in sorted(by_round):
        entries = by_round[r]
        if None in entries:  # a committed global this round
            params, _ = load_checkpoint(run_dir / entries[None])
            rows.append(heldout_metrics(params, heldout, points, targets))
        else:
            per = {
                p: heldout_metrics(load_checkpoint(run_dir / path)[0], heldout, points, targets)
                for p, path in entries.items()
                if p
            }
            rows.append(combine(per))
    return {"control": manifest.control, "latent_dim": int(targets.shape[1]), "rounds": rows, "final": rows[-1]}
