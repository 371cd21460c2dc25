"""A gauge-only implementation on numpy alone (no torch): the library's own metric definitions."""

from __future__ import annotations

from typing import Any

import numpy as np

from lensemble_spec import metrics


class NumpyGauge:
    def procrustes_align(self, source: Any, target: Any) -> np.ndarray:
        return np.asarray(metrics.procrustes_align(np.asarray(source), np.asarray(target)).q)

    def rotation_angle_deg(self, q: Any) -> float:
        return float(metrics.drift_angle_deg(np.asarray(q)))

    def frame_drift_deg(self, source: Any, target: Any) -> float:
        return float(metrics.drift_to_reference_deg(np.asarray(source), np.asarray(target)))

    def effective_rank(self, z: Any) -> float:
        return float(metrics.effective_rank(np.asarray(z)))

    def latent_std_mean(self, z: Any) -> float:
        return float(metrics.latent_std_mean(np.asarray(z)))


class NumpyGaugeOnly:
    name = "numpy-gauge"
    version = "0.1"
    gauge = NumpyGauge()
    model = None
    federation = None
    artifacts = None


IMPLEMENTATION = NumpyGaugeOnly()
