"""A partial implementation: the reference's gauge part and nothing else (RFC checks of the other
parts must come out *not implemented*, never errors)."""

from __future__ import annotations

from lensemble_spec.protocol import Implementation

from ._base import reference


def gauge_only() -> Implementation:
    base = reference()
    return Implementation(name="partial:gauge-only", version=base.version, gauge=base.gauge)
