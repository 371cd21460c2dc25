"""Recompute a run's recorded per-round metrics from its files (RFC-0002 §6, RFC-0005 §4.1).

Everything here starts from a :class:`~conformance._harness.RunView`: the round-``t`` checkpoints
its manifest lists, the probe file's ``points`` and round-0 ``targets``, and the model part's
``encode``. A round with a global checkpoint is measured on that global; a round without one
(the local-only control) on each participant's own model: collapse metrics are the mean over
participants, the drift to the reference the maximum (RFC-0002 §6, RFC-0005 §4.1).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _oracle as oracle
from ._harness import RunView


@dataclass(frozen=True)
class Drift:
    value: float | None
    degenerate: bool


def round_paths(view: RunView, round_index: int) -> dict[str, str]:
    """``{model label: checkpoint path}`` of round ``t`` (``{"global": …}`` or one per participant)."""
    models = view.models_of_round(round_index)
    if not models:
        raise view.fail(f"the manifest lists no checkpoint for round {round_index}")
    return {label: str(entry.get("path")) for label, entry in models.items()}


def round0_path(view: RunView) -> str:
    entry = view.global_entry(0)
    if entry is None:
        raise view.fail("the manifest lists no round-0 global checkpoint (θ_0)")
    return str(entry.get("path"))


def drift_to_reference(view: RunView, round_index: int, model: Any) -> Drift:
    targets = view.probe_targets()
    values = []
    for path in round_paths(view, round_index).values():
        value = oracle.drift_deg(view.probe_embedding(path, model), targets)
        if value is None:
            return Drift(None, True)
        values.append(value)
    return Drift(max(values), False)


def pairwise(view: RunView, round_index: int, model: Any) -> tuple[float | None, float | None, bool]:
    """(mean, max, degenerate) of the drift over unordered participant pairs of the round's own models."""
    paths = view.participant_entries(round_index)
    if len(paths) < 2:
        return None, None, False
    angles = []
    for a, b in itertools.combinations(sorted(paths), 2):
        value = oracle.drift_deg(view.probe_embedding(str(paths[a]["path"]), model), view.probe_embedding(str(paths[b]["path"]), model))
        if value is None:
            return None, None, True
        angles.append(value)
    return float(np.mean(angles)), float(np.max(angles)), False


def collapse(view: RunView, round_index: int, model: Any) -> dict[str, float]:
    per_model = [
        {name: fn(view.probe_embedding(path, model)) for name, fn in oracle.COLLAPSE_METRICS.items()}
        for path in round_paths(view, round_index).values()
    ]
    return {name: float(np.mean([m[name] for m in per_model])) for name in oracle.COLLAPSE_METRICS}


def record_of(view: RunView, round_index: int) -> dict[str, Any] | None:
    hits = [r for r in view.records() if r.get("round_index") == round_index]
    return hits[0] if len(hits) == 1 else None
