"""Findings shared by the run and results verifiers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import CheckpointIntegrityError, PathEscape, PinError


def check_pin(value: Any, subject: str, *, hub_cache: Path | None, ok: Any, fail: Any, skip: Any) -> None:
    """Pin findings: form (ART-023), sha256 for a file pin (ART-024), offline resolution (ART-025)."""
    from ..artifacts.pins import parse_pin, resolve_pin
    from ..errors import PinUnresolved

    try:
        pin = parse_pin(value)
    except PinError as exc:
        fail("ART-023", "pin-format", subject, exc.message)
        return
    ok("ART-023", "pin-format", subject, f"{pin.uri} names a full commit")
    if pin.path is not None:
        if pin.sha256 is None:
            fail("ART-024", "pin-sha256", subject, "a pin naming a file must carry the file's sha256")
        else:
            ok("ART-024", "pin-sha256", subject, "carries the file's sha256")
    if hub_cache is None:
        skip("ART-025", "pin-resolve", subject, "no hub cache given (pass --hub-cache to resolve pins offline)")
        return
    try:
        resolved = resolve_pin(pin, cache_dir=hub_cache)
    except (PinUnresolved, CheckpointIntegrityError, PathEscape, PinError) as exc:
        fail("ART-025", "pin-resolve", subject, exc.message)
        return
    detail = "sha256 verified" if resolved.verified else "found (no sha256 to compare)"
    ok("ART-025", "pin-resolve", subject, f"{len(resolved.files)} cached file(s), {detail}")
