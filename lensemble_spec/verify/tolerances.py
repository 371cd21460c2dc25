"""Tolerances and bounds used by verification — read from the RFCs' harness parameters.

Two kinds of comparison happen:

* **Copies** — a number written twice by the same writer (a header hash and the manifest's
  listing of it, a record's ``global_hash`` and the checkpoint's) must be identical; no tolerance.
* **Recomputations** — a metric recomputed from the committed weights. The verifier re-encodes in
  float32, possibly with another batch size, thread count or BLAS than the trainer, which moves
  embeddings by ~1e-6 relative; the RFCs' ``RECOMPUTE_RTOL``/``RECOMPUTE_ATOL`` (RFC-0005 §8) and
  ``RECOMPUTE_ANGLE_ATOL_DEG`` (RFC-0002 §9) bound the difference. A value ``x`` matches a recorded
  ``c`` when ``|x − c| <= atol + rtol·|c|``. Anchor targets compare element-wise with
  ``EQUIV_RTOL``/``EQUIV_ATOL`` (RFC-0002 §9, GAUGE-023).

The values are the RFCs' harness parameters (:mod:`lensemble_spec.rfc_params`), not constants
of this module, so the RFC text is the single place to change them; :func:`tolerances` reads the
*active* RFC directory (``--rfc-dir`` under the conformance suite, else the packaged RFCs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .. import rfc_params


@dataclass(frozen=True)
class Tol:
    rtol: float
    atol: float

    def close(self, actual: float, claimed: float) -> bool:
        if not (math.isfinite(actual) and math.isfinite(claimed)):
            return False
        return abs(actual - claimed) <= self.atol + self.rtol * abs(claimed)

    def allclose(self, actual: np.ndarray, expected: np.ndarray) -> bool:
        return bool(np.allclose(actual, expected, rtol=self.rtol, atol=self.atol))

    def describe(self) -> str:
        return f"rtol {self.rtol:g}, atol {self.atol:g}"


@dataclass(frozen=True)
class Tolerances:
    metric: Tol  # collapse / prediction / probe metrics (RECOMPUTE_RTOL, RECOMPUTE_ATOL)
    angle: Tol  # drift angles in degrees (RECOMPUTE_ANGLE_ATOL_DEG)
    equiv: Tol  # anchor targets vs the round-0 encoder (EQUIV_RTOL, EQUIV_ATOL)
    min_rank_fraction: float  # GAUGE-041, EVAL-014
    min_latent_std: float  # GAUGE-042, EVAL-014
    max_drift_deg: float  # GAUGE-040, EVAL-014
    val_pred_gap_min: float  # RFC-0005 §7 C3
    state_probe_margin: float  # RFC-0005 §7 C7

    def for_metric(self, key: str) -> Tol:
        return self.angle if key.endswith("_deg") else self.metric


def tolerances() -> Tolerances:
    """The harness parameters of the active RFC directory (:func:`lensemble_spec.rfc_params.active`)."""
    return _tolerances(rfc_params.active())


@lru_cache(maxsize=8)
def _tolerances(p: rfc_params.RFCParameters) -> Tolerances:
    return Tolerances(
        metric=Tol(p.RECOMPUTE_RTOL, p.RECOMPUTE_ATOL),
        angle=Tol(0.0, p.RECOMPUTE_ANGLE_ATOL_DEG),
        equiv=Tol(p.EQUIV_RTOL, p.EQUIV_ATOL),
        min_rank_fraction=p.MIN_RANK_FRACTION,
        min_latent_std=p.MIN_LATENT_STD,
        max_drift_deg=p.MAX_DRIFT_TO_REFERENCE_DEG,
        val_pred_gap_min=p.VAL_PRED_GAP_MIN,
        state_probe_margin=p.STATE_PROBE_MARGIN,
    )


__all__ = ["Tol", "Tolerances", "tolerances"]
