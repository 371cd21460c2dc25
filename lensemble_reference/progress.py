"""A dependency-free progress bar on stderr over (round, participant) work units.

On a terminal the bar redraws in place (``\\r``); otherwise (CI logs, pipes) it prints one line
per finished round so logs stay readable. ``enabled=False`` silences it (tests, library use).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self, total: int, *, label: str, enabled: bool = True, stream: TextIO | None = None, width: int = 28
    ) -> None:
        self.total = max(int(total), 1)
        self.done = 0
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.width = width
        self.start = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def _line(self, note: str) -> str:
        frac = self.done / self.total
        filled = int(round(frac * self.width))
        elapsed = time.perf_counter() - self.start
        eta = elapsed / frac - elapsed if frac > 0 else float("nan")
        eta_txt = f"{eta:5.0f}s" if eta == eta else "    ?"
        bar = "#" * filled + "." * (self.width - filled)
        return f"{self.label} [{bar}] {self.done}/{self.total} {elapsed:5.0f}s eta {eta_txt} {note}"

    def step(self, note: str = "", *, end_of_round: bool = False) -> None:
        self.done = min(self.done + 1, self.total)
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + self._line(note).ljust(100))
            self.stream.flush()
        elif end_of_round or self.done == self.total:
            self.stream.write(self._line(note) + "\n")
            self.stream.flush()

    def close(self, note: str = "done") -> None:
        if self.enabled and self.tty:
            self.stream.write("\r" + self._line(note).ljust(100) + "\n")
            self.stream.flush()
