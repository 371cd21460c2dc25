"""The frame-drift report: one entry per Procrustes comparison and the round-level aggregates.

Produced by :func:`~.drift.frame_drift` (module docstring there: definitions of the fields).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .procrustes import DEGENERATE_RTOL, rank_floor


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True)
class DriftEntry:
    """One Procrustes comparison ``E[source] @ Q ≈ E[target]`` (angles NaN when degenerate)."""

    source: str
    target: str
    angle_deg: float
    residual: float
    condition: float
    degenerate: bool
    reflection: bool
    rank: int = -1

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; NaN/Inf become ``None``."""
        return {
            "source": self.source,
            "target": self.target,
            "angle_deg": _json_float(self.angle_deg),
            "residual": _json_float(self.residual),
            "condition": _json_float(self.condition),
            "degenerate": bool(self.degenerate),
            "reflection": bool(self.reflection),
            "rank": int(self.rank),
        }


def _aggregate(entries: tuple[DriftEntry, ...] | list[DriftEntry], fn) -> float:
    if not entries or any(e.degenerate for e in entries):
        return float("nan")
    return float(fn([e.angle_deg for e in entries]))


@dataclass(frozen=True)
class FrameDriftResult:
    """Report of :func:`frame_drift`.

    Aggregates (``pairwise_mean_deg`` …) are NaN when there is nothing to aggregate **or when any
    entry is degenerate**, so a collapsed participant cannot hide inside an average that reads
    small. ``degenerate`` is True if any entry is.
    """

    participants: tuple[str, ...]
    n_points: int
    latent_dim: int
    proper: bool
    pairs: tuple[DriftEntry, ...] = ()
    to_reference: Mapping[str, DriftEntry] = field(default_factory=dict)
    to_global: Mapping[str, DriftEntry] = field(default_factory=dict)

    def entries(self) -> list[DriftEntry]:
        return [*self.pairs, *self.to_reference.values(), *self.to_global.values()]

    @property
    def degenerate(self) -> bool:
        return any(e.degenerate for e in self.entries())

    @property
    def pairwise_mean_deg(self) -> float:
        return _aggregate(self.pairs, np.mean)

    @property
    def pairwise_max_deg(self) -> float:
        return _aggregate(self.pairs, np.max)

    @property
    def to_reference_mean_deg(self) -> float:
        return _aggregate(list(self.to_reference.values()), np.mean)

    @property
    def to_reference_max_deg(self) -> float:
        return _aggregate(list(self.to_reference.values()), np.max)

    def pair(self, a: str, b: str) -> DriftEntry:
        """The entry for participants ``a`` and ``b`` (either order; stored with sorted ids)."""
        lo, hi = sorted((a, b))
        for e in self.pairs:
            if e.source == lo and e.target == hi:
                return e
        raise KeyError((a, b))

    def summary(self) -> dict[str, Any]:
        """Round-level scalars named as in ``RoundMetrics`` (None when undefined or degenerate).

        ``drift_to_reference_deg`` is the **maximum** over participants of the to-reference angle
        (RFC-0002 §6, RFC-0005 §4.2: the local-only control's drift; with one model, its drift).
        """
        return {
            "drift_to_reference_deg": _json_float(self.to_reference_max_deg),
            "drift_pairwise_mean_deg": _json_float(self.pairwise_mean_deg),
            "drift_pairwise_max_deg": _json_float(self.pairwise_max_deg),
            "drift_degenerate": self.degenerate,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able report (``json.dumps(..., allow_nan=False)`` works): NaN/Inf → None."""
        return {
            "participants": list(self.participants),
            "n_points": int(self.n_points),
            "latent_dim": int(self.latent_dim),
            "group": "SO(d)" if self.proper else "O(d)",
            "rtol": DEGENERATE_RTOL,
            "rank_floor": rank_floor(self.latent_dim),
            "pairs": [e.to_dict() for e in self.pairs],
            "to_reference": {k: e.to_dict() for k, e in sorted(self.to_reference.items())},
            "to_global": {k: e.to_dict() for k, e in sorted(self.to_global.items())},
            "summary": self.summary(),
        }
