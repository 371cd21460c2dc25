"""What the run, results and claims verifiers share: filing findings, comparing a stated number
with a recomputed one, checking a pin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..artifacts import pins  # looked up per call: tests replace pins.resolve_pin with a misbehaving resolver
from ..errors import CheckpointIntegrityError, PathEscape, PinError, PinUnresolved
from .report import VerificationReport
from .tolerances import Tolerances


class Checker:
    """Files findings into ``report``; every subject is prefixed with ``prefix`` (e.g. ``seed-0/anchored/``).

    Subclasses set ``report``, ``tol`` and ``hub_cache`` (None: pins are checked for form only).
    """

    report: VerificationReport
    tol: Tolerances
    hub_cache: Path | None
    prefix: str = ""

    def ok(self, req: str, check: str, subject: str, message: str = "ok") -> None:
        self.report.passed(req, check, f"{self.prefix}{subject}", message)

    def fail(self, req: str, check: str, subject: str, message: str) -> None:
        self.report.failed(req, check, f"{self.prefix}{subject}", message)

    def skip(self, req: str, check: str, subject: str, message: str) -> None:
        self.report.skipped(req, check, f"{self.prefix}{subject}", message)

    def judge(self, held: bool, req: str, check: str, subject: str, passed: str, failed: str) -> None:
        """:meth:`ok` worded ``passed`` when ``held``, else :meth:`fail` worded ``failed``."""
        self.report.judge(held, req, check, f"{self.prefix}{subject}", passed, failed)

    def pin(self, value: Any, subject: str) -> None:
        """ART-023/024/025 findings for one pin (see :func:`check_pin`)."""
        check_pin(value, subject, hub_cache=self.hub_cache, ok=self.ok, fail=self.fail, skip=self.skip)

    def compare(
        self,
        req: str,
        check: str,
        subject: str,
        stated: float | None,
        actual: float | None,
        key: str,
        *,
        verb: str = "recorded",
        both_null: str = "null in the record and on recomputation",
        source: str | None = None,
    ) -> None:
        """Pass when ``stated`` (what a file says) equals ``actual`` (recomputed) within the RFC
        tolerance of metric ``key``, or both are null; fail otherwise. ``verb`` words the stated
        value (``recorded``, ``claims``); ``source`` names the data recomputed on."""
        tol = self.tol.for_metric(key)
        on, note = (f" on the held-out split ({source})", f"; {source}") if source else ("", "")
        if stated is None and actual is None:
            self.ok(req, check, subject, both_null)
        elif stated is None or actual is None:
            self.fail(req, check, subject, f"{verb} {stated}, recomputed {actual}{on}")
        elif tol.close(actual, stated):
            self.ok(req, check, subject, f"{verb} {stated:.6g}, recomputed {actual:.6g}")
        else:
            self.fail(req, check, subject, f"{verb} {stated!r}, recomputed {actual!r} ({tol.describe()}{note})")


def check_pin(value: Any, subject: str, *, hub_cache: Path | None, ok: Any, fail: Any, skip: Any) -> None:
    """Pin findings: form (ART-023), sha256 for a file pin (ART-024), offline resolution (ART-025)."""
    try:
        pin = pins.parse_pin(value)
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
        resolved = pins.resolve_pin(pin, cache_dir=hub_cache)
    except (PinUnresolved, CheckpointIntegrityError, PathEscape, PinError) as exc:
        fail("ART-025", "pin-resolve", subject, exc.message)
        return
    detail = "sha256 verified" if resolved.verified else "found (no sha256 to compare)"
    ok("ART-025", "pin-resolve", subject, f"{len(resolved.files)} cached file(s), {detail}")


__all__ = ["Checker", "check_pin"]
