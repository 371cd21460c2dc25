"""How a conformance check says what went wrong: expected, got, and the harness's own preconditions.

* :func:`raises` — ``with raises(InputError, "for a one-row frame"):``; a call that returns, or
  raises another class, fails with "expected InputError …, got …" (``pytest.raises`` would say
  only "DID NOT RAISE" or show the foreign traceback).
* :func:`precondition_not_met` — the harness could not set up the check (its oracle refused the
  input, the implementation's declared shapes do not fit the harness world, …). Reported as a
  skip whose reason starts ``harness precondition not met:`` and names the fix; the plugin
  (``lensemble_spec.plugin.outcomes``) maps it to the outcome and requirement status
  ``precondition-not-met`` — never a failure of the implementation and never a pass (the verdict
  is at best ``incomplete``).

Messages are prefixed with the test's requirement ids by ``conftest.pytest_runtest_call``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NoReturn

import pytest

from lensemble_spec.plugin.outcomes import PRECONDITION_PREFIX, is_precondition  # noqa: F401 - the one mapping place


def precondition_not_met(what: str, fix: str) -> NoReturn:
    """Skip: the harness, not the implementation, could not meet ``what``; ``fix`` says how to proceed."""
    __tracebackhide__ = True
    pytest.skip(f"{PRECONDITION_PREFIX} {what} (fix: {fix})")


def _names(family: type | tuple[type, ...]) -> str:
    if isinstance(family, tuple):
        return " or ".join(f.__name__ for f in family)
    return family.__name__


@contextlib.contextmanager
def raises(family: type | tuple[type, ...], when: str = "") -> Iterator[None]:
    """The block must raise ``family`` (an exception class or a tuple of them)."""
    expected = f"expected {_names(family)}{' ' + when if when else ''}"
    try:
        yield
    except family:
        return
    except Exception as exc:  # noqa: BLE001 - the point is to name what came instead
        pytest.fail(f"{expected}; got {type(exc).__name__}: {str(exc)[:300]}", pytrace=False)
    pytest.fail(f"{expected}; the call returned normally", pytrace=False)
