"""Mutants of the federation part (RFC-0002 §5, RFC-0003 §2–§5)."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from lensemble_spec.metrics import procrustes_align

from ._base import Wrapped, mutant, reference


class _FlippedSign(Wrapped):
    """Upstream's pre-fix step: ``θ − η·u`` with ``Δ = local − global`` (moves away from the participants)."""

    def outer_step(self, global_params, deltas, state, config):
        new, new_state = self._inner.outer_step(global_params, deltas, state, config)
        out = {}
        for k, v in new.items():
            v = np.asarray(v)
            out[k] = (2.0 * np.asarray(global_params[k], dtype=np.float64) - v.astype(np.float64)).astype(v.dtype)
        return out, new_state


class _PlainMomentum(Wrapped):
    """Heavy-ball momentum even when ``config.nesterov`` is true."""

    def outer_step(self, global_params, deltas, state, config):
        return self._inner.outer_step(global_params, deltas, state, dataclasses.replace(config, nesterov=False))


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


class _MutatingState(Wrapped):
    """Decays the velocity of the state it is given in place before stepping (the caller's state
    changes, also when the step then fails)."""

    def outer_step(self, global_params, deltas, state, config):
        pristine = copy.deepcopy(state)
        for v in state.velocity.values():
            v *= 0.5
        return self._inner.outer_step(global_params, deltas, pristine, config)


class _ReadsStates(Wrapped):
    """The batch sampler's seed depends on the silo's ground-truth states."""

    def local_update(self, global_params, silo, *, steps, seed, round_index, anchor=None, config=None):
        salt = int(abs(float(np.asarray(silo.states, dtype=np.float64).sum())) * 1e3) % 9973
        return self._inner.local_update(
            global_params, silo, steps=steps, seed=seed + salt, round_index=round_index, anchor=anchor, config=config
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


class _KabschBackstop(Wrapped):
    """Alignment restricted to SO(d): a reflected participant cannot be restored."""

    def align_release(self, global_params, local_params, probe_points, reference_targets):
        model = reference().model
        source = model.encode(local_params, probe_points)
        q = np.asarray(procrustes_align(source, reference_targets, proper=True).q)
        return model.rotate(local_params, q), q


def _fed(name, cls):
    return mutant(name, federation=cls(reference().federation))


def flipped_sign():
    return _fed("flipped-sign", _FlippedSign)


def plain_momentum():
    return _fed("plain-momentum", _PlainMomentum)


def arrival_order():
    return _fed("arrival-order", _ArrivalOrder)


def mutating_state():
    return _fed("mutating-state", _MutatingState)


def reads_states():
    return _fed("reads-states", _ReadsStates)


def delta_only_backstop():
    return _fed("delta-only-backstop", _DeltaOnlyBackstop)


def kabsch_backstop():
    return _fed("kabsch-backstop", _KabschBackstop)




class _Float64Delta(Wrapped):
    """Returns the delta in float64 (the global is float32)."""

    def local_update(self, global_params, silo, **kwargs):
        return {
            k: np.asarray(v, dtype=np.float64)
            for k, v in self._inner.local_update(global_params, silo, **kwargs).items()
        }


class _NoResidencyCheck(Wrapped):
    """Drops non-shared names from the deltas instead of refusing them."""

    def outer_step(self, global_params, deltas, state, config):
        shared = {
            p: {k: v for k, v in d.items() if str(k).startswith(("encoder.", "predictor."))} for p, d in deltas.items()
        }
        return self._inner.outer_step(global_params, shared, state, config)


class _WritesIntoAnchor(Wrapped):
    """Scribbles on the anchor targets it was given."""

    def local_update(self, global_params, silo, *, anchor=None, **kwargs):
        if anchor is not None:
            np.asarray(anchor.targets)[0, 0] += 1.0
        return self._inner.local_update(global_params, silo, anchor=anchor, **kwargs)


class _AtLeastOneStep(Wrapped):
    """Always trains at least one step (``steps=0`` is not a no-op)."""

    def local_update(self, global_params, silo, *, steps, **kwargs):
        return self._inner.local_update(global_params, silo, steps=max(int(steps), 1), **kwargs)


class _NegatedDelta(Wrapped):
    """Releases ``global − local`` (DiLoCo's pseudo-gradient) where ``local − global`` is specified."""

    def local_update(self, global_params, silo, **kwargs):
        return {k: -np.asarray(v) for k, v in self._inner.local_update(global_params, silo, **kwargs).items()}


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


class _Float64Global(Wrapped):
    """Returns the new global in float64."""

    def outer_step(self, global_params, deltas, state, config):
        new, st = self._inner.outer_step(global_params, deltas, state, config)
        return {k: np.asarray(v, dtype=np.float64) for k, v in new.items()}, st


class _EmptyIsNoop(Wrapped):
    """No deltas: returns the global unchanged instead of QuorumNotMet."""

    def outer_step(self, global_params, deltas, state, config):
        if not deltas:
            return {k: np.array(v, copy=True) for k, v in global_params.items()}, state
        return self._inner.outer_step(global_params, deltas, state, config)


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


class _NanToZero(Wrapped):
    """Replaces non-finite update entries by 0 instead of refusing the update."""

    def outer_step(self, global_params, deltas, state, config):
        clean = {
            p: {k: np.nan_to_num(np.asarray(v), nan=0.0, posinf=0.0, neginf=0.0) for k, v in d.items()}
            for p, d in deltas.items()
        }
        return self._inner.outer_step(global_params, clean, state, config)


class _AlignSwallowsDegenerate(Wrapped):
    """A degenerate probe embedding releases the local model unaligned (identity) instead of raising."""

    def align_release(self, global_params, local_params, probe_points, reference_targets):
        from lensemble_spec.errors import DegenerateProcrustes

        try:
            return self._inner.align_release(global_params, local_params, probe_points, reference_targets)
        except DegenerateProcrustes:
            d = np.shape(reference_targets)[1]
            return {k: np.array(v, copy=True) for k, v in local_params.items()}, np.eye(d)


def float64_delta():
    return _fed("float64-delta", _Float64Delta)


def no_residency_check():
    return _fed("no-residency-check", _NoResidencyCheck)


def writes_into_anchor():
    return _fed("writes-into-anchor", _WritesIntoAnchor)


def at_least_one_step():
    return _fed("at-least-one-step", _AtLeastOneStep)


def negated_delta():
    return _fed("negated-delta", _NegatedDelta)


def noisy_outer():
    return _fed("noisy-outer", _NoisyOuter)


def float64_global():
    return _fed("float64-global", _Float64Global)


def empty_is_noop():
    return _fed("empty-is-noop", _EmptyIsNoop)


def mismatch_is_value_error():
    return _fed("mismatch-is-value-error", _MismatchIsValueError)


def nan_to_zero():
    return _fed("nan-to-zero", _NanToZero)


def align_swallows_degenerate():
    return _fed("align-swallows-degenerate", _AlignSwallowsDegenerate)


class _DilocoDefaultOuter(Wrapped):
    """Exposes DiLoCo's usual outer defaults (lr 0.7, momentum 0.9) as its default configuration."""

    @property
    def default_outer(self):
        from lensemble_spec.protocol import OuterConfig

        return OuterConfig(lr=0.7, momentum=0.9, nesterov=True)


def diloco_default_outer():
    return _fed("diloco-default-outer", _DilocoDefaultOuter)
