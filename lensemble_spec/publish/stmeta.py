"""Put ``__metadata__`` into a safetensors file without touching its tensor bytes.

A safetensors file is ``u64le n ‖ JSON header (n bytes) ‖ tensor data``; the header maps tensor
names to ``{dtype, shape, data_offsets}`` and may hold one ``"__metadata__"`` object of string to
string. Offsets are relative to the start of the data, so the header can be rewritten and the data
copied unchanged: every tensor keeps its exact bytes (a checkpoint's content hash, computed from
tensor bytes and header.json only, does not change). The header is padded with spaces to a
multiple of 8 bytes, as the safetensors writer does, so the data stays aligned.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping

from ..errors import CheckpointIntegrityError

_MAX_HEADER = 100_000_000


def split_safetensors(data: bytes) -> tuple[dict, bytes]:
    """``(header, tensor data)`` of a safetensors file; CheckpointIntegrityError if malformed."""
    if len(data) < 8:
        raise CheckpointIntegrityError("too short to be a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise CheckpointIntegrityError(f"impossible safetensors header length {n}")
    try:
        header = json.loads(data[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointIntegrityError(f"safetensors header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise CheckpointIntegrityError("safetensors header is not a JSON object")
    return header, data[8 + n :]


def with_metadata(data: bytes, metadata: Mapping[str, str]) -> bytes:
    """``data`` with its ``__metadata__`` replaced by ``metadata`` (str -> str); tensors unchanged."""
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("safetensors metadata must map str to str")
    header, body = split_safetensors(data)
    header.pop("__metadata__", None)
    new = {"__metadata__": dict(sorted(metadata.items())), **header}
    raw = json.dumps(new, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def read_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file ({} when it has none)."""
    meta = split_safetensors(data)[0].get("__metadata__") or {}
    return dict(meta) if isinstance(meta, dict) else {}


__all__ = ["read_metadata", "split_safetensors", "with_metadata"]
