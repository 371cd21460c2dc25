"""The RFCs' harness parameters as one typed value: the single source every reader uses.

Each RFC states its parameters in a "Harness parameters" section as ``- `NAME` = `value` —
description`` lines (RFC-0002 §9, RFC-0003 §7, RFC-0005 §8, RFC-0010 §9);
:mod:`lensemble_spec.requirements` parses them. :class:`RFCParameters` binds each one to a typed
field of the same name, so the library, the conformance suite and the verifier name the same
number as the RFC text, and a parameter the code needs but the RFCs no longer define fails loudly
(:class:`~lensemble_spec.errors.RequirementError` naming it) instead of falling back to a literal.

Three views:

* :func:`packaged` — the RFCs shipped with the package. The metrics library reads this one at
  import (``lensemble_spec.metrics.DEGENERATE_RTOL`` *is* ``packaged().DEGENERATE_RTOL``): the
  library implements the packaged specification.
* :func:`load` — the RFCs of any directory (drafts, tests).
* :func:`active` — the parameters of the RFC directory selected with :func:`select` (the pytest
  plugin selects ``--rfc-dir``), else the packaged ones. A selected directory that does not state
  a parameter at all (a draft holding only some RFCs) inherits the packaged RFC's value for it. The conformance suite
  (``conformance/bounds.py``) and the verifier (``verify/tolerances.py``) read this one, so a
  harness run with ``--rfc-dir`` judges by that directory's numbers.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import RequirementError


@dataclass(frozen=True)
class RFCParameters:
    """Every harness parameter the code reads, typed, under its RFC name."""

    # --- RFC-0002 §9 (gauge) ---
    EQUIV_RTOL: float
    EQUIV_ATOL: float
    RTOL_LOSS: float
    ATOL_LOSS: float
    ATOL_ORTHO: float
    PROCRUSTES_ATOL: float
    PROCRUSTES_MAX_COND: float
    DEGENERATE_RTOL: float
    ANGLE_ATOL_DEG: float
    RECOMPUTE_ANGLE_ATOL_DEG: float
    METRIC_RTOL: float
    CONSTANT_RTOL: float
    BACKSTOP_RESIDUAL_MAX: float
    BACKSTOP_THRESHOLD_DEG: float
    MAX_DRIFT_TO_REFERENCE_DEG: float
    MIN_RANK_FRACTION: float
    MIN_LATENT_STD: float
    # --- RFC-0003 §7 (federation) ---
    AGG_RTOL: float
    OUTER_LR_DEFAULT: float
    OUTER_MOMENTUM_DEFAULT: float
    SKETCH_DIRECTIONS: int
    DEFAULT_INNER_STEPS: int
    # --- RFC-0005 §8 (evaluation) ---
    RECOMPUTE_RTOL: float
    RECOMPUTE_ATOL: float
    VAL_PRED_GAP_MIN: float
    STATE_PROBE_MARGIN: float
    # --- RFC-0010 §9 (artifacts) ---
    MAX_JSON_BYTES: int
    MAX_JSON_DEPTH: int

    source: str = dataclasses.field(default="", compare=False)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The parameter names (every field but ``source``)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "source")

    @classmethod
    def from_values(cls, values: dict[str, Any], source: str = "") -> RFCParameters:
        """Build from ``{NAME: value}``; every name must be present and convert to its type."""
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "source":
                continue
            if f.name not in values:
                raise RequirementError(
                    f"the RFCs in {source or 'the given values'} define no harness parameter {f.name!r}",
                    remediation=f"State `{f.name}` in the 'Harness parameters' section of its RFC.",
                )
            kind = int if f.type in (int, "int") else float
            raw = values[f.name]
            try:
                value = kind(raw)
            except (TypeError, ValueError):
                raise RequirementError(
                    f"harness parameter {f.name} = {raw!r} is not a {kind.__name__}",
                    remediation=f"Write `{f.name}` as a plain {kind.__name__} literal in its RFC.",
                ) from None
            if kind is int and value != raw:
                raise RequirementError(f"harness parameter {f.name} = {raw!r} is not an integer",
                                       remediation=f"Write `{f.name}` as an integer literal in its RFC.")
            kwargs[f.name] = value
        return cls(**kwargs, source=source)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.names()}


def _stated(rfc_dir: str) -> dict[str, Any]:
    from .requirements import load_catalog

    return {k: p.value for k, p in load_catalog(rfc_dir).parameters.items()}


@functools.lru_cache(maxsize=8)
def _load_resolved(rfc_dir: str) -> RFCParameters:
    return RFCParameters.from_values(_stated(rfc_dir), source=rfc_dir)


@functools.lru_cache(maxsize=8)
def _overlay(rfc_dir: str) -> RFCParameters:
    return RFCParameters.from_values({**packaged().as_dict(), **_stated(rfc_dir)}, source=rfc_dir)


def load(rfc_dir: str | Path) -> RFCParameters:
    """The parameters stated by the RFCs in ``rfc_dir`` (cached per resolved directory)."""
    return _load_resolved(str(Path(rfc_dir).resolve()))


def packaged() -> RFCParameters:
    """The parameters of the packaged RFCs (``lensemble_spec/rfcs``)."""
    from .requirements import default_rfc_dir

    return load(default_rfc_dir())


_selected: list[Path | None] = [None]


def select(rfc_dir: str | Path | None) -> None:
    """Make :func:`active` read ``rfc_dir`` (``None``: the packaged RFCs). Validates it now."""
    if rfc_dir is None:
        _selected[0] = None
        return
    path = Path(rfc_dir).resolve()
    _overlay(str(path))  # a malformed RFC or parameter fails here, not at first use
    _selected[0] = path


def selected_dir() -> Path | None:
    return _selected[0]


def active() -> RFCParameters:
    """The parameters of the selected RFC directory (:func:`select`), else the packaged ones."""
    return packaged() if _selected[0] is None else _overlay(str(_selected[0]))


def clear_cache() -> None:
    """Forget parsed directories (after editing RFC files in a long-lived process)."""
    _load_resolved.cache_clear()
    _overlay.cache_clear()


__all__ = ["RFCParameters", "active", "clear_cache", "load", "packaged", "select", "selected_dir"]
