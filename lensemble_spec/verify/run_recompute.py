"""Run verification, part 6: recorded metrics recomputed with an implementation.

See :mod:`lensemble_spec.verify.run` for the order of the checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..schemas import RoundRecord
from . import files
from .checks import Checker
from .recompute import record_metrics


class RecomputeChecks(Checker):
    """The recomputation checks of :class:`~lensemble_spec.verify.run.RunVerifier` (uses its
    ``data`` and ``model``)."""

    # --- 6. recomputation ---------------------------------------------------------------------
    def check_recompute(self) -> None:
        data = self.data
        if data.probe is None or data.records is None:
            return
        if self.model is None:
            self.skip(
                "EVAL-007",
                "record-recompute",
                "rounds",
                "no implementation given: recorded metrics not recomputed (pass --impl)",
            )
            return
        points, targets = data.probe["points"], data.probe["targets"]
        self._check_targets(points, targets)
        for rec in data.records:
            where = f"round-{rec.round_index:04d}"
            found = data.models_at(rec.round_index)
            if found is None:
                self.skip("EVAL-007", "record-recompute", where, "no verified checkpoint for this round")
                continue
            models, are_participants = found
            try:
                got = record_metrics(self.model, models, points=points, targets=targets, pairwise=are_participants)
            except Exception as exc:  # noqa: BLE001 — the implementation's own failure is a finding
                self.fail(
                    "EVAL-007",
                    "record-recompute",
                    where,
                    f"the implementation failed to encode: {type(exc).__name__}: {exc}",
                )
                continue
            self._compare_record(where, rec, got, are_participants)

    def _compare_record(self, where: str, rec: RoundRecord, got: Mapping[str, Any], are_participants: bool) -> None:
        m = rec.metrics
        for key in ("effective_rank", "effective_dim", "latent_std_mean", "latent_rms"):
            self.compare("EVAL-007", "record-recompute", f"{where}.{key}", getattr(m, key), got.get(key), key)
        key = "drift_to_reference_deg"
        self.compare("GAUGE-033", "record-drift", f"{where}.{key}", m.drift_to_reference_deg, got.get(key), key)
        if are_participants:
            for key in ("drift_pairwise_mean_deg", "drift_pairwise_max_deg"):
                self.compare("GAUGE-034", "pairwise-drift", f"{where}.{key}", getattr(m, key), got.get(key), key)
        self._check_degenerate(where, m, got, are_participants)

    def _check_degenerate(self, where: str, m: Any, got: Mapping[str, Any], are_participants: bool) -> None:
        """GAUGE-035. ``drift_degenerate`` flags ANY degenerate drift of the record: the drift to the
        reference, a pair of participants, or (federated controls) a released model that the run
        does not commit. So: a degenerate drift to the reference must be null and flagged; a
        degenerate pair must be flagged (its aggregates are null, GAUGE-034); a flag the
        recomputation cannot confirm fails only where every model the record covers is committed
        (local-only participants), since released models of a federated round are not in the run."""
        reference_degenerate = bool(got.get("drift_degenerate")) and got.get("drift_to_reference_deg") is None
        if reference_degenerate:
            self.judge(
                m.drift_degenerate and m.drift_to_reference_deg is None,
                "GAUGE-035",
                "degenerate-drift",
                where,
                "degenerate frame recorded as null with the flag set",
                "the recomputed frame is degenerate but the record carries a drift or no flag",
            )
        elif got.get("drift_degenerate"):
            self.judge(
                m.drift_degenerate,
                "GAUGE-035",
                "degenerate-drift",
                where,
                "a degenerate participant pair is flagged",
                "a participant pair is degenerate on recomputation but the record sets no flag",
            )
        elif m.drift_degenerate and are_participants:
            self.fail(
                "GAUGE-035",
                "degenerate-drift",
                where,
                "record flags a degenerate frame the recomputation of its committed models does not find",
            )
        elif m.drift_degenerate:
            self.ok(
                "GAUGE-035",
                "degenerate-drift",
                where,
                "flag concerns released models the run does not commit (not recomputable)",
            )

    def _check_targets(self, points: np.ndarray, targets: np.ndarray) -> None:
        from .recompute import embed

        g0 = self.data.global_at(0)
        if g0 is None or g0.tensors is None:
            self.skip(
                "GAUGE-024",
                "probe-targets",
                files.PROBE_FILE,
                "no verified round-0 global to re-encode the targets with",
            )
            return
        try:
            z = embed(self.model, g0.tensors, points)
        except Exception as exc:  # noqa: BLE001
            self.fail(
                "GAUGE-024",
                "probe-targets",
                files.PROBE_FILE,
                f"the implementation failed to encode the probe: {type(exc).__name__}: {exc}",
            )
            return
        if z.shape == targets.shape and self.tol.equiv.allclose(z, targets):
            self.ok(
                "GAUGE-024",
                "probe-targets",
                files.PROBE_FILE,
                f"targets = encode(θ_0, points) (max |Δ| {float(np.max(np.abs(z - targets))):.2e})",
            )
        else:
            err = float(np.max(np.abs(z - targets))) if z.shape == targets.shape else float("nan")
            msg = f"targets differ from encode(θ_0, points): max |Δ| {err:.3g} ({self.tol.equiv.describe()})"
            self.fail("GAUGE-024", "probe-targets", files.PROBE_FILE, msg)
