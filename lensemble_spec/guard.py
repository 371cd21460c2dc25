"""How the harness calls an implementation: its own exceptions read as the spec's, missing methods as *not implemented*.

:func:`guarded` wraps every part of an :class:`~lensemble_spec.protocol.Implementation` in a
:class:`GuardedPart`. A call that raises an exception of a class the implementation declared in
``error_map`` (or a subclass) raises the mapped ``lensemble_spec.errors`` family instead, chained
to the original; a call that raises ``NotImplementedError`` calls ``on_missing(message)`` (the
conformance suite passes a *not implemented* skip) and otherwise raises
:class:`~lensemble_spec.errors.CapabilityMissing`. A call that raises pytest's own skip or xfail
exception raises :class:`~lensemble_spec.errors.ProtocolError` instead: statuses such as
*not applicable* are the harness's to give, never the implementation's to take.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .constants import PARTS
from .protocol import Implementation


def spec_error(exc: BaseException, error_map: Mapping[type, type]) -> BaseException:
    """``exc`` as the spec family it means: itself when it is already a lensemble error or unmapped,
    otherwise an instance of the family its class (or nearest mapped base class) maps to, chained."""
    from .errors import LensembleError

    if isinstance(exc, LensembleError):
        return exc
    for klass in type(exc).__mro__:
        family = error_map.get(klass)
        if family is not None:
            mapped = family(f"{type(exc).__name__}: {exc}", mapped_from=type(exc).__name__)
            mapped.__cause__ = exc
            return mapped
    return exc


def _is_skip(exc: BaseException) -> bool:
    """pytest's skip/xfail outcome exceptions (``pytest.skip``, ``pytest.xfail``, ``importorskip``),
    recognised without importing pytest (the library does not need it)."""
    outcome = any(k.__name__ == "OutcomeException" and k.__module__ == "_pytest.outcomes" for k in type(exc).__mro__)
    return outcome and any(k.__name__ in {"Skipped", "XFailed"} for k in type(exc).__mro__)


class GuardedPart:
    """A part as the harness calls it: the implementation's errors read through its ``error_map``
    and ``NotImplementedError`` (or an absent optional member) turned into ``on_missing(message)``
    (by default raising :class:`~lensemble_spec.errors.CapabilityMissing`).

    Attribute reads are forwarded, so ``latent_dim`` and friends read through unchanged.
    """

    def __init__(
        self, inner: Any, part: str, impl_name: str, error_map: Mapping[type, type], on_missing: Any = None
    ) -> None:
        self._inner = inner
        self._part = part
        self._impl_name = impl_name
        self._error_map = dict(error_map)
        self._on_missing = on_missing

    @property
    def wrapped(self) -> Any:
        """The implementation's own part object."""
        return self._inner

    def _missing(self, member: str, detail: str) -> Any:
        from .errors import CapabilityMissing

        message = f"{self._impl_name}: {self._part}.{member} {detail}"
        if self._on_missing is not None:
            self._on_missing(message)
        raise CapabilityMissing(message, part=self._part, member=member)

    def _skip_raised(self, member: str, exc: BaseException) -> Exception:
        from .errors import ProtocolError

        return ProtocolError(
            f"{self._impl_name}: {self._part}.{member} raised pytest's {type(exc).__name__} ({exc}): "
            "an implementation cannot skip, or declare not applicable, a check of the harness",
            remediation="Raise NotImplementedError to declare the method unavailable, or declare an optional "
            "feature absent where the protocol says how (e.g. `anchor_variants`).",
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self._inner, name)  # an absent optional member stays absent (hasattr is False)
        if not callable(value) or isinstance(value, type):
            return value
        guarded = self

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return value(*args, **kwargs)
            except NotImplementedError as exc:
                return guarded._missing(name, f"raised NotImplementedError{': ' + str(exc) if str(exc) else ''}")
            except Exception as exc:
                mapped = spec_error(exc, guarded._error_map)
                if mapped is exc:
                    raise
                raise mapped from exc
            except BaseException as exc:
                if _is_skip(exc):  # only the harness decides what is skipped, not applicable …
                    raise guarded._skip_raised(name, exc) from exc
                raise

        call.__name__ = name
        call.__doc__ = getattr(value, "__doc__", None)
        call.__wrapped__ = value  # type: ignore[attr-defined]  # inspect.signature shows the implementation's parameters
        return call

    def __repr__(self) -> str:
        return f"GuardedPart({self._part}: {self._inner!r})"


def guarded(impl: Implementation, on_missing: Any = None) -> Implementation:
    """``impl`` with every present part wrapped in :class:`GuardedPart` (idempotent)."""
    parts = {}
    for part in PARTS:
        value = getattr(impl, part, None)
        if value is not None and not isinstance(value, GuardedPart):
            value = GuardedPart(value, part, impl.name, impl.error_map, on_missing)
        parts[part] = value
    return Implementation(name=impl.name, version=impl.version, error_map=dict(impl.error_map), **parts)


