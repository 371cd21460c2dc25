"""Content hashes for checkpoints and probes (RFC-0010), defined byte for byte.

Every hash here is SHA-256 over an explicit, self-delimiting byte stream, so a third party can
re-implement it with ``struct`` and ``hashlib`` alone. Integers are little-endian
(``u8``/``u32le``/``u64le``); strings are UTF-8.

Tensor frame (one tensor)::

    u8(len dtype) dtype  u32le(ndim) u64le(dim_0) … u64le(dim_{ndim-1})  u64le(nbytes) data

``dtype`` is one of :data:`DTYPE_NAMES` (ASCII, e.g. ``b"float32"``); ``data`` is the C-order,
little-endian element bytes (``nbytes`` of them). ``bfloat16`` is framed as its raw 16-bit
patterns, ``bool`` as one byte per element (0 or 1).

``content_hash`` stream::

    b"lensemble-spec/checkpoint/v1\\0"
    for each tensor, names in ascending UTF-8 byte order:
        u32le(len name) name  <tensor frame>
    b"\\0header\\0"  u32le(len J) J

with ``J = canonical_json({"schema_version", "round_index", "parent_hash" (None -> ""),
"config_hash"})``. Everything else in a checkpoint header (``created_at``, ``producer``,
``weight_files`` — so the hash does not depend on how tensors are sharded over files — and the
``content_hash`` itself) is outside the hash.

``probe_hash`` stream::

    b"lensemble-spec/probe/v1\\0"  <tensor frame of the points>
"""

from __future__ import annotations

import hashlib
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import DTYPE_NAMES, is_hash64
from ..errors import ArtifactError, ProbeError
from .canonical import canonical_json

CONTENT_DOMAIN = b"lensemble-spec/checkpoint/v1\0"
HEADER_SEPARATOR = b"\0header\0"
PROBE_DOMAIN = b"lensemble-spec/probe/v1\0"


#: numpy (kind, itemsize) -> dtype name; bfloat16 has no numpy kind and is handled apart.
_NUMPY_KINDS = {
    ("f", 2): "float16",
    ("f", 4): "float32",
    ("f", 8): "float64",
    ("i", 4): "int32",
    ("i", 8): "int64",
    ("u", 1): "uint8",
    ("b", 1): "bool",
}


def _torch_tensor_type() -> type | None:
    torch = sys.modules.get("torch")  # never import torch just to find out an object is not a tensor
    return getattr(torch, "Tensor", None) if torch is not None else None


def tensor_bytes(value: Any) -> tuple[str, tuple[int, ...], bytes]:
    """Return ``(dtype_name, shape, little-endian C-order bytes)`` of an array.

    Accepts numpy arrays (including ``ml_dtypes.bfloat16``), torch tensors (any device, detached
    first) and anything ``numpy.asarray`` turns into a supported dtype. Raises
    :class:`ArtifactError` for other dtypes (complex, object, int8, uint16, …).
    """
    tensor_type = _torch_tensor_type()
    if tensor_type is not None and isinstance(value, tensor_type):
        return _torch_bytes(value)
    try:
        arr = np.asarray(value)
    except Exception as exc:  # anything array-like may raise anything
        raise ArtifactError(f"cannot convert {type(value).__name__} to an array: {exc}") from exc
    shape = tuple(int(d) for d in arr.shape)
    if arr.dtype.name == "bfloat16" and arr.dtype.itemsize == 2:  # ml_dtypes
        bits = np.ascontiguousarray(arr).view(np.uint16).astype("<u2", copy=False)
        return "bfloat16", shape, bits.tobytes()
    name = _NUMPY_KINDS.get((arr.dtype.kind, arr.dtype.itemsize))
    if name is None:
        raise ArtifactError(
            f"unsupported tensor dtype {arr.dtype}",
            remediation=f"Cast tensors to one of {', '.join(DTYPE_NAMES)} before saving or hashing.",
        )
    if name == "bool":  # canonical 0/1 bytes even for a bool view of arbitrary uint8 data
        return name, shape, (np.ascontiguousarray(arr).view(np.uint8) != 0).tobytes()
    little = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False)
    return name, shape, little.tobytes()


def _torch_bytes(t: Any) -> tuple[str, tuple[int, ...], bytes]:
    import torch

    t = t.detach().to("cpu").contiguous()
    shape = tuple(int(d) for d in t.shape)
    if t.dtype == torch.bfloat16:
        bits = t.view(torch.int16).numpy().astype("<i2", copy=False)
        return "bfloat16", shape, bits.tobytes()
    if t.dtype not in (torch.float16, torch.float32, torch.float64, torch.int32, torch.int64, torch.uint8, torch.bool):
        raise ArtifactError(
            f"unsupported tensor dtype {t.dtype}",
            remediation=f"Cast tensors to one of {', '.join(DTYPE_NAMES)} before saving or hashing.",
        )
    return tensor_bytes(t.numpy())


def frame_tensor(dtype: str, shape: tuple[int, ...], data: bytes) -> bytes:
    """The tensor frame defined in the module docstring (without the name)."""
    dt = dtype.encode("ascii")
    parts = [struct.pack("<B", len(dt)), dt, struct.pack("<I", len(shape))]
    parts.extend(struct.pack("<Q", d) for d in shape)
    parts.append(struct.pack("<Q", len(data)))
    parts.append(data)
    return b"".join(parts)


def header_json(*, schema_version: int, round_index: int, parent_hash: str | None, config_hash: str) -> bytes:
    """The ``J`` document hashed after the tensors (validated; ``parent_hash`` None -> ``""``)."""
    for label, value, lowest in (("schema_version", schema_version, 1), ("round_index", round_index, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
            raise ArtifactError(f"{label} must be an integer >= {lowest}, got {value!r}")
    if parent_hash is not None and not is_hash64(parent_hash):
        raise ArtifactError(f"parent_hash must be None or 64 lowercase hex characters, got {parent_hash!r}")
    if not is_hash64(config_hash):
        raise ArtifactError(f"config_hash must be 64 lowercase hex characters, got {config_hash!r}")
    return canonical_json(
        {
            "schema_version": schema_version,
            "round_index": round_index,
            "parent_hash": parent_hash or "",
            "config_hash": config_hash,
        }
    )


def content_hash(
    tensors: Mapping[str, Any],
    *,
    schema_version: int,
    round_index: int,
    parent_hash: str | None,
    config_hash: str,
) -> str:
    """SHA-256 hex of a checkpoint's tensors and hashed header fields (layout in the module docstring).

    Independent of mapping order and of file sharding; changes with any tensor byte, dtype, shape
    or name, and with ``schema_version``, ``round_index``, ``parent_hash`` or ``config_hash``.
    """
    if not isinstance(tensors, Mapping):
        raise ArtifactError(f"tensors must be a mapping name -> array, got {type(tensors).__name__}")
    j = header_json(
        schema_version=schema_version, round_index=round_index, parent_hash=parent_hash, config_hash=config_hash
    )
    records = {name: tensor_bytes(value) for name, value in tensors.items()}
    return hash_records(records, j)


def hash_records(records: Mapping[str, tuple[str, tuple[int, ...], bytes]], header: bytes) -> str:
    """The content hash of already-normalised ``name -> (dtype, shape, bytes)`` and ``J`` bytes."""
    h = hashlib.sha256(CONTENT_DOMAIN)
    for name_bytes, name in sorted((_name_bytes(n), n) for n in records):
        dtype, shape, data = records[name]
        h.update(struct.pack("<I", len(name_bytes)))
        h.update(name_bytes)
        h.update(frame_tensor(dtype, shape, data))
    h.update(HEADER_SEPARATOR)
    h.update(struct.pack("<I", len(header)))
    h.update(header)
    return h.hexdigest()


def _name_bytes(name: object) -> bytes:
    if not isinstance(name, str) or not name:
        raise ArtifactError(f"tensor names must be non-empty strings, got {name!r}")
    try:
        return name.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates
        raise ArtifactError(f"tensor name {name!r} is not valid UTF-8") from exc


def probe_hash(points: Any) -> str:
    """SHA-256 hex of ``PROBE_DOMAIN + tensor frame(points)``.

    The hash covers dtype, shape and every byte: the same pixels stored as float64 instead of
    float32 are a different probe. Raises :class:`ProbeError` for an unsupported dtype.
    """
    try:
        dtype, shape, data = tensor_bytes(points)
    except ArtifactError as exc:
        raise ProbeError(f"cannot hash probe points: {exc.message}") from exc
    return hashlib.sha256(PROBE_DOMAIN + frame_tensor(dtype, shape, data)).hexdigest()


def sha256_file(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex of a file's raw bytes (for pins and evidence, not for checkpoint identity)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(chunk_size), b""):
                h.update(chunk)
    except OSError as exc:
        raise ArtifactError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return h.hexdigest()


__all__ = [
    "CONTENT_DOMAIN",
    "HEADER_SEPARATOR",
    "PROBE_DOMAIN",
    "content_hash",
    "frame_tensor",
    "hash_records",
    "header_json",
    "probe_hash",
    "sha256_file",
    "tensor_bytes",
]
