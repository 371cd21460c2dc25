"""Implementations exposed through primitives only (no ``FederationPart.run``).

The harness then drives the RFC-0003 federation itself (``conformance/_driver.py``) and applies
every run-level requirement to the run directories it writes. :func:`reference_without_run` is
the baseline: the reference with ``run`` hidden, which must pass those requirements.
:func:`magnitude_collapse_primitives` is the defect a run-level requirement must catch although
no ``run`` exists: an encoder whose latents are 1e-3 of the healthy ones — effective rank and drift
are scale-free and look fine, only the scale bound (GAUGE-042) sees it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lensemble_spec.protocol import FrameAnchor, Implementation

from ._base import Wrapped, reference
from ._registry import RUNS, register

#: Factor by which the collapsed encoder shrinks every latent.
COLLAPSE_SCALE = 1e-3


class NoRun(Wrapped):
    """The reference's federation part without ``run`` (every primitive forwarded)."""

    def __getattr__(self, name: str) -> Any:
        if name == "run":
            raise AttributeError("this federation part exposes primitives only (no run)")
        return getattr(self._inner, name)


class _CollapsedEncoder(Wrapped):
    """``encode`` scaled by :data:`COLLAPSE_SCALE`; everything else the reference's."""

    def encode(self, params, obs):
        return np.asarray(self._inner.encode(params, obs)) * np.float32(COLLAPSE_SCALE)


class _CollapsedFederation(NoRun):
    """The primitives of an implementation whose encoder is :class:`_CollapsedEncoder`: anchor
    targets and backstop references arrive in the collapsed scale and are used in it, so training
    is the reference's and only the scale of the latents differs."""

    def local_update(self, global_params, silo, *, steps, seed, round_index, anchor=None, config=None):
        if anchor is not None:
            anchor = FrameAnchor(
                points=anchor.points,
                targets=np.asarray(anchor.targets) / np.float32(COLLAPSE_SCALE),
                weight=anchor.weight,
            )
        return self._inner.local_update(
            global_params, silo, steps=steps, seed=seed, round_index=round_index, anchor=anchor, config=config
        )

    def align_release(self, global_params, local_params, probe_points, reference):
        return self._inner.align_release(
            global_params, local_params, probe_points, np.asarray(reference) / np.float32(COLLAPSE_SCALE)
        )


def _primitives_only(name: str, model: Any = None, federation: Any = None) -> Implementation:
    base = reference()
    return Implementation(
        name=name,
        version=base.version,
        gauge=base.gauge,
        model=model if model is not None else base.model,
        federation=federation if federation is not None else NoRun(base.federation),
        artifacts=base.artifacts,
    )


def reference_without_run() -> Implementation:
    return _primitives_only("reference-without-run")


@register(
    "magnitude-collapse-primitives", RUNS, {"GAUGE-042"}, "primitives only; encoder latents 1e-3 of the reference's"
)
def magnitude_collapse_primitives() -> Implementation:
    base = reference()
    return _primitives_only(
        "mutant:magnitude-collapse-primitives", _CollapsedEncoder(base.model), _CollapsedFederation(base.federation)
    )
