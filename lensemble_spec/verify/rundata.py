"""What a verified run directory holds: its manifest, checkpoints, records and probe."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..schemas import CheckpointHeader, RoundRecord, RunManifest


@dataclass
class LoadedCheckpoint:
    round_index: int
    path: str
    participant: str | None
    listed_hash: str
    header: CheckpointHeader | None = None
    tensors: dict[str, np.ndarray] | None = None


@dataclass
class RunData:
    """What a verified run directory holds (fields are None where a check failed)."""

    root: Path
    raw_manifest: dict[str, Any] | None = None
    manifest: RunManifest | None = None
    checkpoints: list[LoadedCheckpoint] = field(default_factory=list)
    records: list[RoundRecord] | None = None
    probe: dict[str, np.ndarray] | None = None

    @property
    def control(self) -> str | None:
        return self.manifest.control if self.manifest else None

    def global_at(self, r: int) -> LoadedCheckpoint | None:
        for c in self.checkpoints:
            if c.participant is None and c.round_index == r and c.tensors is not None:
                return c
        return None

    def participants_at(self, r: int) -> dict[str, LoadedCheckpoint]:
        return {
            c.participant: c
            for c in self.checkpoints
            if c.participant is not None and c.round_index == r and c.tensors is not None
        }

    def models_at(self, r: int) -> tuple[dict[str, Mapping[str, Any]], bool] | None:
        """The round-``r`` model(s) and whether they are participants (local-only) — None if missing."""
        g = self.global_at(r)
        if g is not None and g.tensors is not None:
            return {"global": g.tensors}, False
        parts = self.participants_at(r)
        if parts:
            return {p: c.tensors for p, c in parts.items() if c.tensors is not None}, True
        return None

    @property
    def last_round(self) -> int | None:
        return self.records[-1].round_index if self.records else None

    @property
    def final_round(self) -> int | None:
        """The run's last round: its configured ``rounds`` (a missing last record is FED-009's
        failure, not the results table's), else the last record's round."""
        rounds = self.manifest.config.get("rounds") if self.manifest is not None else None
        return rounds if isinstance(rounds, int) and not isinstance(rounds, bool) and rounds >= 0 else self.last_round

    @property
    def latent_dim(self) -> int | None:
        t = (self.probe or {}).get("targets")
        return int(t.shape[1]) if t is not None and t.ndim == 2 else None
