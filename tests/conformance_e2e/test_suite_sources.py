"""Static properties of the conformance suite's sources."""

from __future__ import annotations

from pathlib import Path

import lensemble_spec.conformance as suite
from lensemble_spec.plugin import NOT_IMPLEMENTED_PREFIX


def test_the_suite_skips_as_not_implemented_only_through_the_plugin_helper() -> None:
    """The prefix that makes a skip *not implemented* is the plugin's; a suite module spelling it
    out would go on reporting "skipped" (or the reverse) when the plugin's vocabulary changes."""
    spelled = [
        f"{path.name}:{i}"
        for path in sorted(Path(suite.__file__).parent.glob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if NOT_IMPLEMENTED_PREFIX in line
    ]
    assert not spelled, f"use lensemble_spec.plugin.skip_not_implemented instead of the literal prefix: {spelled}"
