"""Mutants whose defect lives inside ``FederationPart.run`` (RFC-0002 §4, RFC-0003 §2).

The reference's round loop is reused as is; one name in one ``lensemble_reference`` module is swapped
for the duration of the run (``_base.patched``), and the returned result is adjusted the way an
implementation with that defect would report it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lensemble_spec.protocol import FrameAnchor

from ._base import Wrapped, patched
from ._registry import RUNS, register


@register(
    "resnapshot-targets",
    RUNS,
    {"GAUGE-023", "GAUGE-024"},
    "anchor targets re-snapshotted every round",
    part="federation",
)
class _ResnapshotTargets(Wrapped):
    """Upstream before #264: the anchor targets are re-encoded from the current global every round
    (and the run reports the anchor it last trained with)."""

    def run(self, config, silos, probe, out_dir):
        import lensemble_reference.federation as fed

        last: list[np.ndarray] = []

        class Resnapshot(fed.InProcessRounds):
            def run_round(self, setup, theta, state, round_index, pids):
                targets = fed.encode_numpy(setup.cfg.model, theta, setup.inputs.probe_points)
                self.anchor = fed.anchor_tensors(setup.cfg, setup.inputs.probe_points, targets)
                last[:] = [targets]
                return super().run_round(setup, theta, state, round_index, pids)

        with patched("lensemble_reference.federation", "InProcessRounds", Resnapshot):
            result = self._inner.run(config, silos, probe, out_dir)
        if last and result.anchor is not None:
            result.anchor = FrameAnchor(points=result.anchor.points, targets=last[0], weight=result.anchor.weight)
        return result


@register("no-anchor", RUNS, {"GAUGE-023", "GAUGE-025"}, "run trains without the anchor", part="federation")
class _NoAnchor(Wrapped):
    """Trains without the frame anchor whatever ``lambda_anchor`` says."""

    def run(self, config, silos, probe, out_dir):
        def none(*args, **kwargs):
            return None

        with (
            patched("lensemble_reference.federation", "anchor_tensors", none),
            patched("lensemble_reference.controls", "anchor_tensors", none),
        ):
            result = self._inner.run(config, silos, probe, out_dir)
        result.anchor = None
        return result


@register(
    "writes-raw-data", RUNS, {"FED-005", "ART-015"}, "run directory caches raw silo observations", part="federation"
)
class _WritesRawData(Wrapped):
    """Leaves a cache of the participants' observations in the run directory."""

    def run(self, config, silos, probe, out_dir):
        result = self._inner.run(config, silos, probe, out_dir)
        cache = Path(result.run_dir) / "cache"
        cache.mkdir(exist_ok=True)
        for name, silo in silos.items():
            np.save(cache / f"{name}-obs.npy", np.asarray(silo.obs))
        return result


@register(
    "ignores-quorum",
    RUNS,
    {"FED-012"},
    "run below quorum trains anyway",
    part="federation",
    keyword="test_run_below_quorum",
)
class _IgnoresQuorum(Wrapped):
    """Below quorum, trains with the silos it has instead of raising QuorumNotMet (only runs with
    fewer silos than ``min_participants`` behave differently)."""

    def run(self, config, silos, probe, out_dir):
        import dataclasses

        if len(silos) < config.min_participants:
            config = dataclasses.replace(config, min_participants=max(1, len(silos)))
        return self._inner.run(config, silos, probe, out_dir)


@register(
    "no-probe-check-in-run",
    RUNS,
    {"GAUGE-022"},
    "run accepts a k < d probe",
    part="federation",
    keyword="test_run_rejects_a_probe",
)
class _NoProbeCheckInRun(Wrapped):
    """The run accepts a probe with fewer points than latent dimensions (only such runs differ)."""

    def run(self, config, silos, probe, out_dir):
        with patched("lensemble_reference.federation", "check_probe", lambda *a, **k: None):
            return self._inner.run(config, silos, probe, out_dir)


@register("ignores-batch-size", RUNS, {"ART-017"}, "trains with batch 8 whatever batch_size says", part="federation")
class _IgnoresBatchSize(Wrapped):
    """Every participant samples batches of 8 windows whatever ``batch_size`` says, while the manifest
    records the configured value (8 is the harness's full-size batch, so only runs configured with
    another batch size train differently)."""

    def run(self, config, silos, probe, out_dir):
        import lensemble_reference.federation as fed

        class FixedBatch(fed.Participant):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.batch_size = 8

        with patched("lensemble_reference.federation", "Participant", FixedBatch):
            return self._inner.run(config, silos, probe, out_dir)
