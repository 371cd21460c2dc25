"""RFC-0010 §3/§4 byte layouts, stated independently of the library: canonical JSON, the
configuration, content and probe hashes, and safetensors files parsed and built by hand."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

SINK_PATH_KEYS = frozenset({"out_dir", "output_dir", "run_dir", "log_dir", "log_path", "metrics_path"})
_ST_DTYPES = {
    "BF16": "bfloat16", "BOOL": "bool", "F16": "float16", "F32": "float32", "F64": "float64",
    "I8": "int8", "I16": "int16", "I32": "int32", "I64": "int64", "U8": "uint8", "U16": "uint16",
    "U32": "uint32", "U64": "uint64",
}  # fmt: skip


def canonical_json(obj: Any) -> bytes:
    """RFC-0010 §4.1: RFC 8785 (scalars by the third-party ``rfc8785`` package, not the library's
    wrapper), members sorted by UTF-16 code units, integers beyond ±(2^53 − 1) as exact digits."""
    import rfc8785

    if isinstance(obj, Mapping):
        items = sorted(obj.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        return b"{" + b",".join(rfc8785.dumps(k) + b":" + canonical_json(v) for k, v in items) + b"}"
    if isinstance(obj, (list, tuple)):
        return b"[" + b",".join(canonical_json(v) for v in obj) + b"]"
    if isinstance(obj, int) and not isinstance(obj, bool) and abs(obj) > 2**53 - 1:
        return str(obj).encode("ascii")
    return rfc8785.dumps(obj)


def strip_sink_paths(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: strip_sink_paths(v) for k, v in obj.items() if k not in SINK_PATH_KEYS}
    if isinstance(obj, list):
        return [strip_sink_paths(v) for v in obj]
    return obj


def config_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(strip_sink_paths(config))).hexdigest()


def _tensor_frame(dtype: str, shape: Sequence[int], data: bytes) -> bytes:
    out = struct.pack("<B", len(dtype)) + dtype.encode("ascii") + struct.pack("<I", len(shape))
    out += b"".join(struct.pack("<Q", int(d)) for d in shape)
    return out + struct.pack("<Q", len(data)) + data


def content_hash(
    tensors: Mapping[str, tuple[str, Sequence[int], bytes]],
    *,
    schema_version: int,
    round_index: int,
    parent_hash: str | None,
    config_hash: str,
) -> str:
    """RFC-0010 §3 over ``{name: (dtype name, shape, little-endian C-order bytes)}``."""
    h = hashlib.sha256(b"lensemble-spec/checkpoint/v1\0")
    for name in sorted(tensors, key=lambda n: n.encode("utf-8")):
        dtype, shape, data = tensors[name]
        encoded = name.encode("utf-8")
        h.update(struct.pack("<I", len(encoded)) + encoded + _tensor_frame(dtype, shape, data))
    j = canonical_json(
        {
            "schema_version": schema_version,
            "round_index": round_index,
            "parent_hash": parent_hash or "",
            "config_hash": config_hash,
        }
    )
    h.update(b"\0header\0" + struct.pack("<I", len(j)) + j)
    return h.hexdigest()


def probe_hash(points: Any) -> str:
    arr = np.ascontiguousarray(np.asarray(points))
    le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return hashlib.sha256(
        b"lensemble-spec/probe/v1\0" + _tensor_frame(arr.dtype.name, arr.shape, le.tobytes())
    ).hexdigest()


def read_safetensors_raw(data: bytes) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    """Parse a safetensors file by hand: ``{name: (dtype name, shape, raw bytes)}``.

    Raises ``ValueError`` when the bytes are not a well-formed safetensors file (the suite never
    deserialises anything else).
    """
    if len(data) < 8:
        raise ValueError("shorter than the 8-byte safetensors length prefix")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("safetensors header length exceeds the file")
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    out: dict[str, tuple[str, tuple[int, ...], bytes]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = (
            _ST_DTYPES.get(info["dtype"], info["dtype"].lower()),
            tuple(int(s) for s in info["shape"]),
            body[start:end],
        )
    return out


def numpy_from_raw(dtype: str, shape: Sequence[int], data: bytes) -> np.ndarray:
    """Decode raw little-endian bytes; ``bfloat16`` is widened exactly to float32."""
    if dtype == "bfloat16":
        bits = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    return (
        np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape).astype(dtype)
    )  # native, writable copy


_NAME_TO_ST = {v: k for k, v in _ST_DTYPES.items()}


def write_safetensors_raw(tensors: Mapping[str, tuple[str, Sequence[int], bytes]]) -> bytes:
    """Build safetensors bytes from ``{name: (dtype name, shape, raw bytes)}`` (tamper helper)."""
    header: dict[str, Any] = {}
    offset = 0
    body = b""
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        header[name] = {
            "dtype": _NAME_TO_ST.get(dtype, dtype.upper()),
            "shape": [int(s) for s in shape],
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        body += data
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body
