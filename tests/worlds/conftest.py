"""Shared small worlds for tests/worlds (module-cached: generating one takes well under a second)."""

from __future__ import annotations

import pytest

from lensemble_spec.worlds import harness_world, make_world


@pytest.fixture(scope="session")
def hworld():
    return harness_world(0)


@pytest.fixture(scope="session")
def small_world():
    """48 px, few episodes: the default image size at test-friendly cost."""
    return make_world(3, episodes_per_silo=6, horizon=10, image_size=48, probe_size=40)
