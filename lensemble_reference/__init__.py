"""Reference federated JEPA trainer (LeWM-style model, anchored DiLoCo federation, four controls).

``lensemble_reference.IMPLEMENTATION`` is the ``lensemble_spec.protocol.Implementation`` the
conformance suite drives (``--impl lensemble_reference``); it is built lazily so importing a submodule
(e.g. for ``lensemble-spec train``) does not build the protocol adapters.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"


def __getattr__(name: str) -> Any:
    if name == "IMPLEMENTATION":
        from .implementation import IMPLEMENTATION

        return IMPLEMENTATION
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["IMPLEMENTATION", "__version__"]
