"""Building blocks of the mutants: the reference implementation with one part wrapped.

A mutant is ``lensemble_reference.IMPLEMENTATION`` with one method of one part replaced. Parts are
wrapped, never edited: :class:`Wrapped` forwards every attribute to the reference part except
the ones a subclass overrides, so each mutant module reads as "the reference, except …".
Defects that live inside ``FederationPart.run`` are injected by :func:`patched` (a context
manager swapping one name in one ``lensemble_reference`` module for the duration of the call), so the
reference's own code is never modified.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

from lensemble_spec.protocol import Implementation


class Wrapped:
    """Forward everything to ``inner`` unless the subclass defines it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def reference() -> Implementation:
    import lensemble_reference

    return lensemble_reference.IMPLEMENTATION


def mutant(name: str, **parts: Any) -> Implementation:
    """The reference with some parts replaced (``gauge=…``, ``model=…``, …)."""
    base = reference()
    return Implementation(
        name=f"mutant:{name}",
        version=base.version,
        gauge=parts.get("gauge", base.gauge),
        model=parts.get("model", base.model),
        federation=parts.get("federation", base.federation),
        artifacts=parts.get("artifacts", base.artifacts),
    )


@contextlib.contextmanager
def patched(module: str, name: str, value: Any) -> Iterator[None]:
    """Temporarily replace ``module.name`` (which must exist: a renamed hook fails loudly)."""
    mod = importlib.import_module(module)
    if not hasattr(mod, name):
        raise AttributeError(f"mutant hook {module}.{name} no longer exists in the reference")
    original = getattr(mod, name)
    setattr(mod, name, value)
    try:
        yield
    finally:
        setattr(mod, name, original)
