"""Planning mutants (RFC-0005 §6.2): a model part that is not reproducible under planning, and
tampered ``planning`` records of the pristine comparison (registered in ``rundirs.TAMPERS``).

* ``stateful_predict`` — ``predict`` subtracts a running mean of the latents it has seen (an
  online normaliser left updating): each call depends on the calls before it (EVAL-022);
* ``planning-peeks-at-state`` — the anchored outcome is that of a planner handed the true state
  (the true-dynamics planner's episodes), consistent in itself (EVAL-021);
* ``planning-success-from-latents`` — every anchored episode is flagged a success, as an evaluator
  deciding success from the planner's own latent cost would (EVAL-020, EVAL-021);
* ``planning-conditions-differ`` — the anchored outcome comes from other tasks (another seed) than
  the table's conditions and the baselines (EVAL-019, EVAL-021).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._base import Wrapped, reference
from ._registry import ROTATE, files, register


@register(
    "stateful-predict",
    ROTATE + files("test_planning.py"),
    {"GAUGE-001", "GAUGE-003", "GAUGE-005", "GAUGE-027", "GAUGE-028", "EVAL-022"},
    "predict keeps an online normaliser updating across calls (every check comparing two predict calls fails)",
    part="model",
)
class StatefulPredict(Wrapped):
    """``predict`` with an online normaliser that keeps updating (state across calls)."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self._mean: np.ndarray | None = None

    def predict(self, params: Any, z: Any, action: Any) -> Any:
        out = np.asarray(self._inner.predict(params, z, action), dtype=np.float32)
        batch = out.mean(axis=0)
        self._mean = batch if self._mean is None else 0.9 * self._mean + 0.1 * batch
        return (out - 0.5 * self._mean).astype(np.float32)


# --- tampered planning records --------------------------------------------------------------------
def _outcome_with(doc: dict, label: str, new: dict) -> None:
    doc["planning"]["outcomes"][label] = new
    for r in doc["controls"]:
        if r["control"] == label:
            r["metrics"]["mpc_success_rate"] = new["rate"]


def _peeks_at_state(comparison: Path) -> None:
    from .rundirs import edit_results

    def edit(doc: dict) -> None:
        _outcome_with(doc, "anchored", dict(doc["planning"]["outcomes"]["baseline/true-dynamics"]))

    edit_results(comparison, edit)


def _success_from_latents(comparison: Path) -> None:
    from lensemble_spec.planning import wilson_interval

    from .rundirs import edit_results

    def edit(doc: dict) -> None:
        out = dict(doc["planning"]["outcomes"]["anchored"])
        n = len(out["success"])
        low, high = wilson_interval(n, n)
        out.update(success=[True] * n, rate=1.0, low=low, high=high)
        _outcome_with(doc, "anchored", out)

    edit_results(comparison, edit)


def _conditions_differ(comparison: Path) -> None:
    """Re-plan the anchored model honestly, but on the tasks of another seed."""
    import dataclasses

    from lensemble_spec.artifacts.checkpoint import load_checkpoint
    from lensemble_spec.planning import (
        Conditions,
        evaluate_models,
        outcome_doc,
        style_from_dict,
    )
    from lensemble_spec.schemas import RunManifest, load_document

    from .rundirs import edit_results

    def edit(doc: dict) -> None:
        rec = doc["planning"]
        other = dataclasses.replace(Conditions.from_dict(rec["conditions"]), seed=rec["conditions"]["seed"] + 1)
        manifest = load_document(RunManifest, comparison / "anchored" / "manifest.json")
        last = max(c.round_index for c in manifest.checkpoints)
        path = next(c.path for c in manifest.checkpoints if c.round_index == last and c.participant is None)
        params = load_checkpoint(comparison / "anchored" / path)[0]
        env = rec["environment"]
        got = evaluate_models(reference().model, [params], other, style_from_dict(env["style"]), int(env["image_size"]))
        _outcome_with(doc, "anchored", outcome_doc(got))

    edit_results(comparison, edit)


PLANNING_TAMPERS = {
    "planning-peeks-at-state": ("the anchored planning outcome is the true-state planner's", _peeks_at_state),
    "planning-success-from-latents": (
        "anchored episodes all flagged successes, whatever their true distance",
        _success_from_latents,
    ),
    "planning-conditions-differ": ("the anchored outcome was planned on another seed's tasks", _conditions_differ),
}
