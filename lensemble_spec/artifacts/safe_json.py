"""Bounded JSON loading for untrusted documents (run directories, headers, pins).

Before any parsing the raw bytes are checked against two limits: the size
(:data:`DEFAULT_MAX_BYTES`, 16 MiB) and the bracket nesting depth (:data:`DEFAULT_MAX_DEPTH`,
64, counted by a scan that skips string literals). Only then is the text decoded as strict
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

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_DEPTH = 64

# A JSON string literal (with escapes) or one structural bracket; everything else is skipped.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def nesting_depth(data: bytes) -> int:
    """Maximum ``[``/``{`` nesting depth of JSON bytes, ignoring brackets inside strings."""
    depth = deepest = 0
    for match in _TOKENS.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
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
    depth = nesting_depth(data)
    if depth > max_depth:
        raise ArtifactError(
            f"{source} nests {depth} levels deep, over the limit of {max_depth}",
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
    """Read and parse a JSON file; the size is checked from ``stat`` before reading."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ArtifactError(
                f"{path} is {size} bytes, over the {max_bytes}-byte limit",
                remediation="Check the file is the intended document; documents this large are refused unread.",
            )
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)  # the file may grow after stat
    except OSError as exc:
        raise ArtifactError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return loads_bounded(data, source=str(path), max_bytes=max_bytes, max_depth=max_depth)


__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_DEPTH", "load_json_file", "loads_bounded", "nesting_depth"]
