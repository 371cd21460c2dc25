"""Every tolerance and bound the conformance suite uses, read from the RFCs' parameter lists.

The RFCs state their harness parameters as ``- `NAME` = `value` — description`` lines (RFC-0002 §9,
RFC-0003 §7, RFC-0005 §8, RFC-0010 §9); :mod:`lensemble_spec.rfc_params` parses them into one typed
value. ``bounds.NAME`` is that value's field of the same name, looked up **at each access** in
:func:`lensemble_spec.rfc_params.active` — the RFC directory given with ``--rfc-dir`` (the plugin
selects it at configure time), else the packaged RFCs — so a test, the report header and the RFC
text all name the same number, and editing an RFC value changes the suite without touching code.
A parameter the suite needs but the RFCs no longer define fails loudly (``RequirementError``
naming it) instead of silently falling back to a stale literal.

Suite-only constants (sizes of the harness's own runs, not thresholds) live at the bottom with
their reasons.
"""

from __future__ import annotations

from typing import Any

from lensemble_spec import rfc_params

_RFC_NAMES = frozenset(rfc_params.RFCParameters.names())


def __getattr__(name: str) -> Any:
    """``bounds.MAX_DRIFT_TO_REFERENCE_DEG`` etc.: the active RFC directory's value."""
    if name in _RFC_NAMES:
        return getattr(rfc_params.active(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    params = rfc_params.active()
    return {name: getattr(params, name) for name in ECHOED}
