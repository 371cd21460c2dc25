"""Repository-only alias: ``pytest conformance/ --impl reference_impl`` from a checkout.

The reference trainer is the installed package ``lensemble_reference``; this directory is not
installed (its name is too generic to put into other people's environments). It only forwards
the protocol object so the command written in the design keeps working inside the repository.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "IMPLEMENTATION":
        from lensemble_reference import IMPLEMENTATION

        return IMPLEMENTATION
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
