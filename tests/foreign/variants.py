"""Defective copies of the foreign implementation, each with one defect the suite must name.

Each factory returns an Implementation; ``EXPECTED`` (in ``test_foreign.py``) holds the
requirement ids each one must fail — no more, no fewer. The defects are the ones an implementation
in this style plausibly has: an SO(d) backstop hidden by a rank-deficient frame, a flattened
outer step that compares sizes instead of shapes, a sign error in the outer step, a saturating
angle, a degenerate frame read as 0°, an eigenvalue floor in the effective rank, a predictor
rotation that forgets to conjugate the predictor, exceptions left unmapped, and a declared frame-only
anchor that is the landmark term or that skips itself.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from lensemble_spec.protocol import Implementation

from . import adapter
from .jepa import frames, merge, net
from .jepa.errors import MergeError, SingularFrame


def _with(name: str, **parts) -> Implementation:
    base = adapter.build()
    return dataclasses.replace(base, name=f"jepa variant: {name}", **parts)


# --- backstop over SO(d) ---------------------------------------------------------------------------
def _kabsch(source, target) -> np.ndarray:
    """Alignment restricted to SO(d): flip the least-determined direction when det would be −1."""
    q = frames.align(source, target)
    if np.linalg.det(q) < 0:
        s = np.asarray(source, dtype=np.float64)
        t = np.asarray(target, dtype=np.float64)
        u, _sv, vt = np.linalg.svd(s.T @ t)
        flip = np.eye(q.shape[0])
        flip[-1, -1] = -1.0
        q = u @ flip @ vt
    return q


class _KabschFederation(adapter.Federation):
    def align_release(self, global_params, local_params, probe_points, reference):
        q = _kabsch(self.model.encode(local_params, probe_points), reference)
        return net.turned(local_params, q), q


def kabsch_backstop() -> Implementation:
    model = adapter.Model()
    return _with("kabsch-backstop", model=model, federation=_KabschFederation(model))


# --- flattened outer step that checks sizes, not shapes -------------------------------------------------
def _size_only_outer(params, updates, state, *, lr, momentum, nesterov):
    layout = merge.layout_of(params)
    if not updates:
        return merge.outer(params, updates, state, lr=lr, momentum=momentum, nesterov=nesterov)
    reshaped = {}
    for who, update in updates.items():
        fixed = dict(update)
        for name, shape, _dtype in layout:
            value = np.asarray(update.get(name, np.zeros(0)))
            if name in update and value.size == int(np.prod(shape, dtype=np.int64)) and value.shape != shape:
                fixed[name] = value.reshape(shape)  # "same number of elements: fine"
        reshaped[who] = fixed
    return merge.outer(params, reshaped, state, lr=lr, momentum=momentum, nesterov=nesterov)


class _SizeOnlyFederation(adapter.Federation):
    def outer_step(self, global_params, deltas, state, config):
        return _size_only_outer(
            global_params,
            deltas,
            state,
            lr=float(config.lr),
            momentum=float(config.momentum),
            nesterov=bool(config.nesterov),
        )


def size_only_merge() -> Implementation:
    model = adapter.Model()
    return _with("size-only-merge", model=model, federation=_SizeOnlyFederation(model))


# --- outer step with the wrong sign ------------------------------------------------------------------------
class _FlippedFederation(adapter.Federation):
    def outer_step(self, global_params, deltas, state, config):
        negated = {who: {k: -np.asarray(v) for k, v in d.items()} for who, d in deltas.items()}
        return super().outer_step(global_params, negated, state, config)


def flipped_sign() -> Implementation:
    model = adapter.Model()
    return _with("flipped-sign", model=model, federation=_FlippedFederation(model))


# --- gauge primitives -----------------------------------------------------------------------------------------
class _TraceAngleGauge(adapter.Gauge):
    def rotation_angle_deg(self, q):
        q = np.asarray(q, dtype=np.float64)
        return math.degrees(math.acos(float(np.clip((np.trace(q) - (q.shape[0] - 2)) / 2.0, -1.0, 1.0))))

    def frame_drift_deg(self, source, target):
        return self.rotation_angle_deg(frames.align(source, target))


def trace_angle() -> Implementation:
    return _with("trace-angle", gauge=_TraceAngleGauge())


class _ZeroDriftGauge(adapter.Gauge):
    def frame_drift_deg(self, source, target):
        try:
            return frames.drift_deg(source, target)
        except SingularFrame:
            return 0.0


def degenerate_zero() -> Implementation:
    return _with("degenerate-zero", gauge=_ZeroDriftGauge())


class _FlooredRankGauge(adapter.Gauge):
    def effective_rank(self, z):
        z = np.asarray(z, dtype=np.float64).reshape(-1, np.shape(z)[-1])
        s = np.linalg.svd(z - z.mean(axis=0), compute_uv=False) + 1e-6
        p = s / s.sum()
        return float(np.exp(-np.sum(p * np.log(p))))


def rank_floor() -> Implementation:
    return _with("rank-floor", gauge=_FlooredRankGauge())


# --- a gauge action that forgets the predictor ------------------------------------------------------------------
def _frame_only(params, q):
    """Rotates the frame layer only: the encoder emits zQ, but the predictor is not conjugated."""
    out = {k: np.array(v, copy=True) for k, v in params.items()}
    out["encoder.frame"] = (
        np.asarray(params["encoder.frame"], dtype=np.float64) @ np.asarray(q, dtype=np.float64)
    ).astype(np.float32)
    return out


class _FrameOnlyModel(adapter.Model):
    def rotate(self, params, q):
        return _frame_only(params, q)


class _FrameOnlyFederation(adapter.Federation):
    def align_release(self, global_params, local_params, probe_points, reference):
        q = frames.align(self.model.encode(local_params, probe_points), reference)
        return _frame_only(local_params, q), q


def frame_only_rotate() -> Implementation:
    model = _FrameOnlyModel()
    return _with("frame-only-rotate", model=model, federation=_FrameOnlyFederation(model))


# --- exceptions left unmapped -------------------------------------------------------------------------------------
def no_error_map() -> Implementation:
    """The same code, but the adapter forgot to declare ``error_map``: only FED-023's merge errors
    are kept in view here (the session runs the outer-step tests)."""
    return _with("no-error-map", error_map={})


__all__ = [
    "MergeError",
    "degenerate_zero",
    "flipped_sign",
    "frame_anchor_as_landmark",
    "frame_anchor_not_implemented",
    "frame_anchor_self_skipped",
    "frame_only_rotate",
    "kabsch_backstop",
    "no_error_map",
    "rank_floor",
    "six_action_model",
    "size_only_merge",
    "trace_angle",
    "without_frame_drift",
]


# --- a method the implementation does not have (not a defect) -------------------------------------------------------
class _NoDriftGauge(adapter.Gauge):
    def frame_drift_deg(self, source, target):
        raise NotImplementedError("jepa measures drift only through procrustes_align + rotation_angle_deg")


def without_frame_drift() -> Implementation:
    """Correct, but ``frame_drift_deg`` raises NotImplementedError: GAUGE-019/020 read *not implemented*."""
    return _with("without-frame-drift", gauge=_NoDriftGauge())


# --- a model the harness world cannot feed (not a defect) -------------------------------------------------------------
class _SixActionModel(adapter.Model):
    action_dim = 6


def six_action_model() -> Implementation:
    """Declares 6-dim actions, which the harness world (5-dim) cannot provide: the checks that need
    the world read *harness precondition not met*, never failed."""
    model = _SixActionModel()
    return _with("six-action-model", model=model, federation=adapter.Federation(model))


# --- the optional frame-only anchor (RFC-0002 §8.1), declared ---------------------------------------------------------
# The correct foreign model does not list "frame" in ``anchor_variants``: GAUGE-043/044 read *not
# applicable*. Declaring it makes them apply in full — none of these may read not applicable.
class _FrameDeclared(adapter.Model):
    anchor_variants = ("landmark", "frame")

    def on_frame_anchor(self) -> None:
        """Called when a frame-only anchor arrives; then the landmark term is computed for it."""

    def loss_terms(self, params, batch, *, sketch, anchor=None, weights=None):
        if anchor is not None and getattr(anchor, "variant", "landmark") == "frame":
            self.on_frame_anchor()
        return super().loss_terms(params, batch, sketch=sketch, anchor=anchor, weights=weights)


def frame_anchor_as_landmark() -> Implementation:
    """Defect: the declared frame-only anchor is the landmark anchor (pins content) — fails GAUGE-043/044."""
    model = _FrameDeclared()
    return _with("frame-anchor-as-landmark", model=model, federation=adapter.Federation(model))


class _FrameNotImplemented(_FrameDeclared):
    def on_frame_anchor(self) -> None:
        raise NotImplementedError("jepa has no frame-only anchor yet")


def frame_anchor_not_implemented() -> Implementation:
    """Declares the frame-only anchor, raises NotImplementedError for it: GAUGE-043/044 read
    *not implemented* (a declared feature that is missing), never *not applicable*."""
    model = _FrameNotImplemented()
    return _with("frame-anchor-not-implemented", model=model, federation=adapter.Federation(model))


class _FrameSelfSkipped(_FrameDeclared):
    def on_frame_anchor(self) -> None:
        import pytest

        pytest.skip("not-applicable: jepa decides the frame anchor does not apply to it")


def frame_anchor_self_skipped() -> Implementation:
    """Defect: declares the frame-only anchor and raises pytest's skip with the suite's
    not-applicable prefix from ``loss_terms`` — the guard fails GAUGE-043/044."""
    model = _FrameSelfSkipped()
    return _with("frame-anchor-self-skipped", model=model, federation=adapter.Federation(model))
