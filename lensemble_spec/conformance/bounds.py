"""Every tolerance and bound the conformance suite uses, read from the RFCs' parameter lists.

The RFCs state their harness parameters as ``- `NAME` = `value` — description`` lines (RFC-0002 §9,
RFC-0003 §7, RFC-0005 §8, RFC-0010 §9); :mod:`lensemble_spec.requirements` parses them. This module
binds each one to a module constant of the same name, so a test, the report header and the RFC
text all name the same number, and editing an RFC value changes the suite without touching code.
A parameter the suite needs but the RFCs no longer define fails collection loudly (``KeyError``
naming it) instead of silently falling back to a stale literal.

Suite-only constants (sizes of the harness's own runs, not thresholds) live at the bottom with
their reasons.
"""

from __future__ import annotations

from typing import Any

from lensemble_spec.requirements import load_catalog

_PARAMS = load_catalog().parameters


def _param(name: str) -> Any:
    if name not in _PARAMS:
        raise KeyError(f"the RFCs define no harness parameter {name!r}; the conformance suite needs it")
    return _PARAMS[name].value


# --- RFC-0002 §9 (gauge) ----------------------------------------------------------------------------
EQUIV_RTOL: float = float(_param("EQUIV_RTOL"))
EQUIV_ATOL: float = float(_param("EQUIV_ATOL"))
RTOL_LOSS: float = float(_param("RTOL_LOSS"))
ATOL_LOSS: float = float(_param("ATOL_LOSS"))
ATOL_ORTHO: float = float(_param("ATOL_ORTHO"))
PROCRUSTES_ATOL: float = float(_param("PROCRUSTES_ATOL"))
PROCRUSTES_MAX_COND: float = float(_param("PROCRUSTES_MAX_COND"))
DEGENERATE_RTOL: float = float(_param("DEGENERATE_RTOL"))
ANGLE_ATOL_DEG: float = float(_param("ANGLE_ATOL_DEG"))
RECOMPUTE_ANGLE_ATOL_DEG: float = float(_param("RECOMPUTE_ANGLE_ATOL_DEG"))
METRIC_RTOL: float = float(_param("METRIC_RTOL"))
CONSTANT_RTOL: float = float(_param("CONSTANT_RTOL"))
BACKSTOP_RESIDUAL_MAX: float = float(_param("BACKSTOP_RESIDUAL_MAX"))
BACKSTOP_THRESHOLD_DEG: float = float(_param("BACKSTOP_THRESHOLD_DEG"))
MAX_DRIFT_TO_REFERENCE_DEG: float = float(_param("MAX_DRIFT_TO_REFERENCE_DEG"))
MIN_RANK_FRACTION: float = float(_param("MIN_RANK_FRACTION"))
MIN_LATENT_STD: float = float(_param("MIN_LATENT_STD"))

# --- RFC-0003 §7 (federation) -----------------------------------------------------------------------
AGG_RTOL: float = float(_param("AGG_RTOL"))
SKETCH_DIRECTIONS: int = int(_param("SKETCH_DIRECTIONS"))
DEFAULT_INNER_STEPS: int = int(_param("DEFAULT_INNER_STEPS"))

# --- RFC-0005 §8 (evaluation) -----------------------------------------------------------------------
RECOMPUTE_RTOL: float = float(_param("RECOMPUTE_RTOL"))
RECOMPUTE_ATOL: float = float(_param("RECOMPUTE_ATOL"))

# --- RFC-0010 §9 (artifacts) ------------------------------------------------------------------------
MAX_JSON_BYTES: int = int(_param("MAX_JSON_BYTES"))
MAX_JSON_DEPTH: int = int(_param("MAX_JSON_DEPTH"))

#: Names echoed in the report header (``pytest_report_header`` in conftest.py).
ECHOED = (
    "MAX_DRIFT_TO_REFERENCE_DEG",
    "MIN_RANK_FRACTION",
    "MIN_LATENT_STD",
    "BACKSTOP_THRESHOLD_DEG",
    "RECOMPUTE_RTOL",
    "RECOMPUTE_ANGLE_ATOL_DEG",
    "AGG_RTOL",
)

# --- suite-only constants (not thresholds) ----------------------------------------------------------
#: Relative-error floor used when an implementation's float32 model is compared with float64
#: algebra on its own outputs: comparisons use ``max(|reference|, 1)`` as the scale, as AGG_RTOL does.
SCALE_FLOOR = 1.0

#: Window length (predicted steps) of the batches the suite feeds to ``loss_terms``.
WINDOW = 2


def describe() -> dict[str, Any]:
    """The echoed bounds as ``{name: value}`` (for the report header)."""
    return {name: globals()[name] for name in ECHOED}
