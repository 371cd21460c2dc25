"""The reference exposes the round-engine seam the Flower engine plugs into.

The Flower tests use the seam unconditionally (they fail, not skip, without it); this test names
the missing piece directly when the bundled reference loses it.
"""

from __future__ import annotations

from lensemble_reference import federation
from lensemble_reference.flower import SEAM_NAMES, has_seam


def test_the_bundled_reference_has_the_round_engine_seam() -> None:
    missing = [name for name in SEAM_NAMES if not hasattr(federation, name)]
    assert has_seam() and not missing, (
        f"lensemble_reference.federation lacks {missing}: the Flower engine cannot plug in"
    )
