"""Mutants of the federation part (RFC-0002 §5, RFC-0003 §2–§5)."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from lensemble_spec.metrics import procrustes_align

from ._base import Wrapped, reference
from ._registry import BACKSTOP, EVERYTHING, LOCAL, OUTER, register


@register(
    "flipped-sign",
    OUTER,
    {"FED-015", "FED-016", "FED-017"},
    "outer step subtracts the local−global delta",
    part="federation",
)
class _FlippedSign(Wrapped):
    """Upstream's pre-fix step: ``θ − η·u`` with ``Δ = local − global`` (moves away from the participants)."""

    def outer_step(self, global_params, deltas, state, config):
        new, new_state = self._inner.outer_step(global_params, deltas, state, config)
        out = {}
        for k, v in new.items():
            v = np.asarray(v)
            out[k] = (2.0 * np.asarray(global_params[k], dtype=np.float64) - v.astype(np.float64)).astype(v.dtype)
        return out, new_state


@register(
    "plain-momentum", OUTER, {"FED-016", "FED-017"}, "heavy-ball momentum where Nesterov is declared", part="federation"
)
class _PlainMomentum(Wrapped):
    """Heavy-ball momentum even when ``config.nesterov`` is true."""

    def outer_step(self, global_params, deltas, state, config):
        return self._inner.outer_step(global_params, deltas, state, dataclasses.replace(config, nesterov=False))


@register("arrival-order", OUTER, {"FED-020"}, "float32 reduction in arrival order", part="federation")
class _ArrivalOrder(Wrapped):
    """Sums the updates in float32 in the order they arrived (dict insertion order)."""

    def outer_step(self, global_params, deltas, state, config):
        _checked, new_state = self._inner.outer_step(global_params, deltas, state, config)  # validation + state
        out = {}
        for k, theta in global_params.items():
            theta = np.asarray(theta)
            acc = np.zeros(theta.shape, dtype=np.float32)
            for pid in deltas:  # arrival order, not sorted
                acc = acc + np.asarray(deltas[pid][k], dtype=np.float32)
            g = acc / np.float32(len(deltas))
            v_old = np.asarray(state.velocity[k], dtype=np.float32)
            v = np.float32(config.momentum) * v_old + g
            u = g + np.float32(config.momentum) * v if config.nesterov else v
            out[k] = (theta + np.float32(config.lr) * u).astype(theta.dtype)
        return out, new_state


@register(
    "mutating-state", OUTER, {"FED-014", "FED-018"}, "outer_step decays the given state in place", part="federation"
)
class _MutatingState(Wrapped):
    """Decays the velocity of the state it is given in place before stepping (the caller's state
    changes, also when the step then fails)."""

    def outer_step(self, global_params, deltas, state, config):
        pristine = copy.deepcopy(state)
        for v in state.velocity.values():
            v *= 0.5
        return self._inner.outer_step(global_params, deltas, pristine, config)


@register(
    "reads-states", LOCAL, {"FED-004"}, "local_update's sampler seed depends on ground-truth states", part="federation"
)
class _ReadsStates(Wrapped):
    """The batch sampler's seed depends on the silo's ground-truth states."""

    def local_update(self, global_params, silo, *, steps, seed, round_index, anchor=None, config=None):
        salt = int(abs(float(np.asarray(silo.states, dtype=np.float64).sum())) * 1e3) % 9973
        return self._inner.local_update(
            global_params, silo, steps=steps, seed=seed + salt, round_index=round_index, anchor=anchor, config=config
        )


@register(
    "delta-only-backstop",
    BACKSTOP,
    {"GAUGE-027", "GAUGE-028", "GAUGE-029"},
    "backstop rotates only the delta",
    part="federation",
)
class _DeltaOnlyBackstop(Wrapped):
    """Upstream's pre-fix backstop: rotates only the delta, so the global part stays in the old frame."""

    def align_release(self, global_params, local_params, probe_points, reference_targets):
        _aligned, q = self._inner.align_release(global_params, local_params, probe_points, reference_targets)
        model = reference().model
        delta = {
            k: np.asarray(local_params[k], dtype=np.float32) - np.asarray(global_params[k], dtype=np.float32)
            for k in local_params
        }
        turned = model.rotate(delta, q)
        return {
            k: (np.asarray(global_params[k], dtype=np.float32) + turned[k]).astype(np.float32) for k in local_params
        }, q


@register(
    "kabsch-backstop",
    BACKSTOP,
    {"GAUGE-026", "GAUGE-029"},
    "backstop aligns over SO(d) (reflections not undone)",
    part="federation",
)
class _KabschBackstop(Wrapped):
    """Alignment restricted to SO(d): a reflected participant cannot be restored."""

    def align_release(self, global_params, local_params, probe_points, reference_targets):
        model = reference().model
        source = model.encode(local_params, probe_points)
        q = np.asarray(procrustes_align(source, reference_targets, proper=True).q)
        return model.rotate(local_params, q), q


@register("float64-delta", LOCAL, {"FED-001"}, "delta returned in float64", part="federation")
class _Float64Delta(Wrapped):
    """Returns the delta in float64 (the global is float32)."""

    def local_update(self, global_params, silo, **kwargs):
        return {
            k: np.asarray(v, dtype=np.float64)
            for k, v in self._inner.local_update(global_params, silo, **kwargs).items()
        }


@register(
    "no-residency-check", OUTER, {"FED-003", "FED-014"}, "outer step drops foreign names silently", part="federation"
)
class _NoResidencyCheck(Wrapped):
    """Drops non-shared names from the deltas instead of refusing them."""

    def outer_step(self, global_params, deltas, state, config):
        shared = {
            p: {k: v for k, v in d.items() if str(k).startswith(("encoder.", "predictor."))} for p, d in deltas.items()
        }
        return self._inner.outer_step(global_params, shared, state, config)


@register("writes-into-anchor", LOCAL, {"FED-006"}, "local_update scribbles on the anchor", part="federation")
class _WritesIntoAnchor(Wrapped):
    """Scribbles on the anchor targets it was given."""

    def local_update(self, global_params, silo, *, anchor=None, **kwargs):
        if anchor is not None:
            np.asarray(anchor.targets)[0, 0] += 1.0
        return self._inner.local_update(global_params, silo, anchor=anchor, **kwargs)


@register("at-least-one-step", LOCAL, {"FED-007"}, "steps=0 still trains", part="federation")
class _AtLeastOneStep(Wrapped):
    """Always trains at least one step (``steps=0`` is not a no-op)."""

    def local_update(self, global_params, silo, *, steps, **kwargs):
        return self._inner.local_update(global_params, silo, steps=max(int(steps), 1), **kwargs)


@register("negated-delta", LOCAL, {"FED-008"}, "local_update releases global − local", part="federation")
class _NegatedDelta(Wrapped):
    """Releases ``global − local`` (DiLoCo's pseudo-gradient) where ``local − global`` is specified."""

    def local_update(self, global_params, silo, **kwargs):
        return {k: -np.asarray(v) for k, v in self._inner.local_update(global_params, silo, **kwargs).items()}


@register(
    "noisy-outer",
    OUTER,
    {"FED-014", "FED-018", "FED-019", "FED-020"},
    "one-ulp random jitter in the outer step",
    part="federation",
)
class _NoisyOuter(Wrapped):
    """Adds a one-ulp jitter from the global RNG to the new global (not bitwise reproducible)."""

    def outer_step(self, global_params, deltas, state, config):
        new, st = self._inner.outer_step(global_params, deltas, state, config)
        out = {}
        for k, v in new.items():
            v = np.asarray(v)
            flip = np.random.random(v.shape) < 0.5
            out[k] = np.where(flip, np.nextafter(v, np.inf), v).astype(v.dtype)
        return out, st


@register("float64-global", OUTER, {"FED-021"}, "new global in float64", part="federation")
class _Float64Global(Wrapped):
    """Returns the new global in float64."""

    def outer_step(self, global_params, deltas, state, config):
        new, st = self._inner.outer_step(global_params, deltas, state, config)
        return {k: np.asarray(v, dtype=np.float64) for k, v in new.items()}, st


@register("empty-is-noop", OUTER, {"FED-014", "FED-022"}, "no deltas returns the global unchanged", part="federation")
class _EmptyIsNoop(Wrapped):
    """No deltas: returns the global unchanged instead of QuorumNotMet."""

    def outer_step(self, global_params, deltas, state, config):
        if not deltas:
            return {k: np.array(v, copy=True) for k, v in global_params.items()}, state
        return self._inner.outer_step(global_params, deltas, state, config)


@register("mismatch-is-value-error", OUTER, {"FED-023"}, "mismatched delta raises an untyped error", part="federation")
class _MismatchIsValueError(Wrapped):
    """A delta whose names or shapes differ from the global's raises ValueError (untyped)."""

    def outer_step(self, global_params, deltas, state, config):
        for d in deltas.values():
            shared = {k for k in d if str(k).startswith(("encoder.", "predictor."))}
            if shared != set(global_params) or any(
                np.shape(d[k]) != np.shape(global_params[k]) for k in shared & set(global_params)
            ):
                if shared == set(d):
                    raise ValueError("delta does not match the global")
        return self._inner.outer_step(global_params, deltas, state, config)


@register(
    "nan-to-zero", OUTER, {"FED-014", "FED-024"}, "non-finite updates zeroed instead of refused", part="federation"
)
class _NanToZero(Wrapped):
    """Replaces non-finite update entries by 0 instead of refusing the update."""

    def outer_step(self, global_params, deltas, state, config):
        clean = {
            p: {k: np.nan_to_num(np.asarray(v), nan=0.0, posinf=0.0, neginf=0.0) for k, v in d.items()}
            for p, d in deltas.items()
        }
        return self._inner.outer_step(global_params, clean, state, config)


@register(
    "nan-aligned",
    BACKSTOP,
    {"GAUGE-027", "GAUGE-028", "GAUGE-029"},
    "released model's parameters NaN (its encoder outputs NaN)",
    part="federation",
)
class _NanAligned(Wrapped):
    """Returns the right ``Q`` with an aligned model whose floating parameters are NaN: every
    output of it is NaN, which a tolerance written as "no element exceeds it" cannot see."""

    def align_release(self, global_params, local_params, probe_points, reference_targets):
        aligned, q = self._inner.align_release(global_params, local_params, probe_points, reference_targets)
        out = {}
        for k, v in aligned.items():
            v = np.asarray(v)
            out[k] = np.full_like(v, np.nan) if np.issubdtype(v.dtype, np.floating) else v
        return out, q


@register(
    "align-swallows-degenerate",
    BACKSTOP,
    {"GAUGE-030"},
    "degenerate probe embedding released unaligned",
    part="federation",
)
class _AlignSwallowsDegenerate(Wrapped):
    """A degenerate probe embedding releases the local model unaligned (identity) instead of raising."""

    def align_release(self, global_params, local_params, probe_points, reference_targets):
        from lensemble_spec.errors import DegenerateProcrustes

        try:
            return self._inner.align_release(global_params, local_params, probe_points, reference_targets)
        except DegenerateProcrustes:
            d = np.shape(reference_targets)[1]
            return {k: np.array(v, copy=True) for k, v in local_params.items()}, np.eye(d)


@register(
    "diloco-default-outer",
    EVERYTHING,
    {"FED-025"},
    "default outer lr 0.7, momentum 0.9",
    part="federation",
    keyword="test_default_outer_configuration",
)
class _DilocoDefaultOuter(Wrapped):
    """Exposes DiLoCo's usual outer defaults (lr 0.7, momentum 0.9) as its default configuration."""

    @property
    def default_outer(self):
        from lensemble_spec.protocol import OuterConfig

        return OuterConfig(lr=0.7, momentum=0.9, nesterov=True)


@register(
    "sketch-from-participant-seed",
    LOCAL,
    {"FED-027"},
    "own sketch from the participant seed, not the root seed",
    part="federation",
)
class _SketchFromParticipantSeed(Wrapped):
    """Builds its own sketch from the participant's seed instead of the run's root seed (honours a given one)."""

    def local_update(self, global_params, silo, *, steps, seed, round_index, anchor=None, config=None, sketch=None):
        if sketch is None:
            from lensemble_spec.metrics import build_sketch, round_sketch_seed

            sketch = build_sketch(round_sketch_seed(seed, round_index), int(reference().model.latent_dim), 64)
        return self._inner.local_update(
            global_params,
            silo,
            steps=steps,
            seed=seed,
            round_index=round_index,
            anchor=anchor,
            config=config,
            sketch=sketch,
        )


@register("ignores-given-sketch", LOCAL, {"FED-027"}, "local_update ignores the sketch it is handed", part="federation")
class _IgnoresGivenSketch(Wrapped):
    """Declares ``sketch`` but always trains with the round's sketch it builds itself."""

    def local_update(self, global_params, silo, *, steps, seed, round_index, anchor=None, config=None, sketch=None):
        return self._inner.local_update(
            global_params, silo, steps=steps, seed=seed, round_index=round_index, anchor=anchor, config=config
        )
