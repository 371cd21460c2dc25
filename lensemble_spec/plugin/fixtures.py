"""Fixtures of the conformance suite: the implementation, its parts, and the run options.

They are not registered in every pytest session (their names — ``impl``, ``run_dirs`` — are
ordinary words another project may use): the suite's conftest imports them, and the plugin
registers this module when a lensemble option is given (so a third party's own conformance tests
can use them too).

``impl``                         the resolved :class:`~lensemble_spec.protocol.Implementation`;
                                 a NOT IMPLEMENTED skip when none was given (artifact-only run).
``gauge_part`` … ``artifacts_part``  that part; a NOT IMPLEMENTED skip when it is ``None``.
``run_dirs``                     ``list[Path]`` from ``--lensemble-run`` (possibly empty).
``hub_cache_dir``                ``Path`` from ``--lensemble-hub-cache``, or ``None``.
``run_level``                    ``"quick"`` or ``"full"``.
``requirement_catalog``          the parsed requirement catalog.

All are session scoped, so Hypothesis ``@given`` tests may use them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .collection import catalog_of
from .outcomes import skip_not_implemented
from .state import State, get_state


def _require_state(request: pytest.FixtureRequest) -> State:
    state = get_state(request.config)
    assert state is not None, "lensemble-spec plugin not configured"
    return state


@pytest.fixture(scope="session")
def impl(request: pytest.FixtureRequest) -> Any:
    """The implementation under test; NOT IMPLEMENTED skip when none was given (--run only)."""
    state = _require_state(request)
    if state.impl is None:
        skip_not_implemented("no implementation given (--lensemble-impl); artifact-only run")
    return state.impl


def _part_fixture(part: str) -> Any:
    """The session fixture ``<part>_part``: that part of ``impl``; a NOT IMPLEMENTED skip when it is ``None``."""

    def fixture(request: pytest.FixtureRequest) -> Any:
        implementation = request.getfixturevalue("impl")
        value = getattr(implementation, part, None)
        if value is None:
            skip_not_implemented(f"{implementation.name} has no `{part}` part")
        return value

    fixture.__name__ = fixture.__qualname__ = f"{part}_part"
    fixture.__doc__ = f"The implementation's ``{part}`` part; a NOT IMPLEMENTED skip when it is ``None``."
    return pytest.fixture(scope="session", name=f"{part}_part")(fixture)


gauge_part = _part_fixture("gauge")
model_part = _part_fixture("model")
federation_part = _part_fixture("federation")
artifacts_part = _part_fixture("artifacts")


@pytest.fixture(scope="session")
def run_dirs(request: pytest.FixtureRequest) -> list[Path]:
    """Run directories given with --lensemble-run (absolute paths, possibly none)."""
    return list(_require_state(request).run_dirs)


@pytest.fixture(scope="session")
def hub_cache_dir(request: pytest.FixtureRequest) -> Path | None:
    """The Hugging Face cache given with --lensemble-hub-cache (absolute), or None."""
    return _require_state(request).hub_cache


@pytest.fixture(scope="session")
def run_level(request: pytest.FixtureRequest) -> str:
    return _require_state(request).level


@pytest.fixture(scope="session")
def requirement_catalog(request: pytest.FixtureRequest) -> Any:
    return catalog_of(request.config, _require_state(request))


FIXTURES = ("impl", "gauge_part", "model_part", "federation_part", "artifacts_part", "run_dirs",
            "hub_cache_dir", "run_level", "requirement_catalog")
