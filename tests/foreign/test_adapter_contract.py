"""The protocol's adapter conveniences: error_map, NotImplementedError, optional run (issue #10 item 5)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lensemble_spec import errors as spec
from lensemble_spec.guard import GuardedPart, guarded, spec_error
from lensemble_spec.protocol import (
    Implementation,
    OuterConfig,
    resolve_implementation,
    validate_implementation,
)

from . import adapter
from .jepa import errors


def test_the_foreign_adapter_resolves_with_its_error_map_and_without_run():
    impl = resolve_implementation("tests.foreign.adapter")
    assert impl.error_map[errors.MergeError] is spec.AggregationError
    assert not hasattr(impl.federation, "run")
    assert not hasattr(guarded(impl).federation, "run")


def test_nearest_mapped_class_wins():
    mapped = spec_error(errors.NoUpdates("nothing"), adapter.ERROR_MAP)
    assert isinstance(mapped, spec.QuorumNotMet) and isinstance(mapped.__cause__, errors.NoUpdates)
    assert isinstance(spec_error(errors.MergeError("x"), adapter.ERROR_MAP), spec.AggregationError)
    plain = KeyError("unmapped")
    assert spec_error(plain, adapter.ERROR_MAP) is plain


def test_guarded_calls_raise_the_spec_family():
    impl = guarded(adapter.build())
    theta = {"encoder.w": np.zeros(3, np.float32)}
    with pytest.raises(spec.QuorumNotMet):
        impl.federation.outer_step(theta, {}, impl.federation.outer_init(theta), OuterConfig())
    with pytest.raises(spec.InputError):
        impl.gauge.procrustes_align(np.ones(3), np.ones(3))


def test_not_implemented_becomes_capability_missing_or_the_callback():
    class Half:
        def effective_rank(self, z):
            raise NotImplementedError

    part = GuardedPart(Half(), "gauge", "half", {})
    with pytest.raises(spec.CapabilityMissing) as info:
        part.effective_rank(np.zeros((3, 2)))
    assert "gauge.effective_rank" in str(info.value)
    seen = []
    part = GuardedPart(Half(), "gauge", "half", {}, on_missing=seen.append)
    with pytest.raises(spec.CapabilityMissing):
        part.effective_rank(np.zeros((3, 2)))
    assert seen and "NotImplementedError" in seen[0]


@pytest.mark.parametrize(
    "error_map, fragment",
    [
        ({"not a class": spec.InputError}, "not an exception class"),
        ({ValueError: KeyError}, "not a lensemble_spec.errors class"),
    ],
)
def test_a_malformed_error_map_is_a_protocol_error(error_map, fragment):
    impl = dataclasses.replace(adapter.build(), error_map=error_map)
    with pytest.raises(spec.ProtocolError, match=fragment):
        validate_implementation(impl)


def test_run_is_the_only_optional_member():
    class NoOuter:
        def local_update(self, *a, **k): ...
        def outer_init(self, p): ...
        def align_release(self, *a): ...

    with pytest.raises(spec.ProtocolError, match="outer_step"):
        validate_implementation(Implementation(name="x", version="1", federation=NoOuter()))


@pytest.mark.parametrize("raise_it", [
    lambda: pytest.skip("not-applicable: the implementation decides"),
    lambda: pytest.skip("not-implemented: the implementation decides"),
    lambda: pytest.xfail("known"),
    lambda: pytest.importorskip("a_module_that_does_not_exist_anywhere"),
])
def test_an_implementation_cannot_give_itself_a_status(raise_it):
    """pytest's skip/xfail raised inside a method is a protocol violation, not a status."""

    class Gauge(adapter.Gauge):
        def effective_rank(self, z):
            raise_it()

    part = GuardedPart(Gauge(), "gauge", "jepa", adapter.ERROR_MAP, on_missing=pytest.fail)
    with pytest.raises(spec.ProtocolError, match="gauge.effective_rank raised pytest's"):
        part.effective_rank(np.zeros((4, 3)))
