"""Bounded JSON loading for untrusted documents (run directories, headers, pins).

Before any parsing the raw bytes are checked against two limits: the size
(:data:`DEFAULT_MAX_BYTES`, 16 MiB) and the bracket nesting depth (:data:`DEFAULT_MAX_DEPTH`,
64, counted by one linear pass that skips string literals — no backtracking regex, so a hostile
document of escapes costs time proportional to its length). Files are read through
:func:`~lensemble_spec.artifacts.reading.read_regular_file` (regular files only, the cap enforced
on the bytes actually read). Only then is the text decoded as strict
UTF-8 and parsed, refusing NaN/Infinity literals and duplicate object keys (which different
parsers resolve differently). Every refusal is an :class:`ArtifactError` naming the source.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..errors import ArtifactError
from .reading import read_regular_file

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_DEPTH = 64

# The bytes that matter to nesting: brackets, quotes and backslashes (a single-byte class: linear).
_SPECIAL = re.compile(rb'[\[\]{}"\\]')
_QUOTE, _BACKSLASH = 0x22, 0x5C
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")


def nesting_depth(data: bytes, *, stop_above: int | None = None) -> int:
    """Maximum ``[``/``{`` nesting depth of JSON bytes, ignoring brackets inside strings.

    One pass over the structural bytes, so the time is linear in ``len(data)`` whatever the
    content. With ``stop_above`` the scan returns as soon as the depth exceeds it, and a result
    ``<= stop_above`` is only an upper bound (fewer opening brackets than that are not scanned).
    """
    opening = data.count(b"[") + data.count(b"{")
    if opening <= (stop_above or 0):
        return opening
    depth = deepest = 0
    in_string = False
    escaped_at = -1
    for match in _SPECIAL.finditer(data):
        i = match.start()
        if i == escaped_at:
            continue
        c = data[i]
        if in_string:
            if c == _BACKSLASH:
                escaped_at = i + 1
            elif c == _QUOTE:
                in_string = False
        elif c == _QUOTE:
            in_string = True
        elif c in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
        elif c in _CLOSE:
            depth -= 1
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number literal {name} is not allowed")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def loads_bounded(
    data: bytes | str,
    *,
    source: str = "<bytes>",
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """Parse JSON ``data`` after checking its size and nesting depth (limits inclusive)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise ArtifactError(
            f"{source} is {len(data)} bytes, over the {max_bytes}-byte limit",
            remediation="Check the file is the intended document; documents this large are refused unread.",
        )
    depth = nesting_depth(data, stop_above=max_depth)
    if depth > max_depth:
        raise ArtifactError(
            f"{source} nests {depth} or more levels deep, over the limit of {max_depth}",
            remediation="Check the file is the intended document; documents nested this deeply are refused unread.",
        )
    try:
        text = data.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ArtifactError(f"{source} is not valid JSON: {exc}") from exc


def load_json_file(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """Read and parse a JSON file: a regular file, at most ``max_bytes`` read (see module docstring)."""
    path = Path(path)
    data = read_regular_file(path, max_bytes)
    return loads_bounded(data, source=str(path), max_bytes=max_bytes, max_depth=max_depth)


__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_DEPTH", "load_json_file", "loads_bounded", "nesting_depth"]
