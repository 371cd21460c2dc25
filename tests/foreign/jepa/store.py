"""Checkpoints in the RFC-0010 layout, float32 only, written and read by hand.

A checkpoint is a directory with ``header.json`` and one ``weights.safetensors`` (safetensors
written with ``struct``, no library). The content hash follows RFC-0010 §3. Reading is
defensive: the header is size- and depth-limited before parsing, repeated keys and NaN/Infinity
literals are refused, every listed path must stay inside the directory, no file other than the
header and the listed weights may exist, and the hash is recomputed from the bytes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

from .errors import OutsidePath, StoreError, Tampered, UnknownVersion
from .train import check_shared

MAX_HEADER_BYTES = 16 << 20  # RFC-0010 MAX_JSON_BYTES
MAX_DEPTH = 64
SCHEMA = 1
WEIGHTS = "weights.safetensors"
PRODUCER = {"name": "jepa", "version": "0.3.0"}


# --- hashing -------------------------------------------------------------------------------------
def _canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def content_hash(
    arrays: dict[str, tuple[str, tuple[int, ...], bytes]], *, schema_version, round_index, parent_hash, config_hash
) -> str:
    h = hashlib.sha256(b"lensemble-spec/checkpoint/v1\0")
    for name in sorted(arrays, key=lambda n: n.encode("utf-8")):
        dtype, shape, data = arrays[name]
        raw = name.encode("utf-8")
        h.update(struct.pack("<I", len(raw)) + raw)
        h.update(struct.pack("<B", len(dtype)) + dtype.encode("ascii") + struct.pack("<I", len(shape)))
        h.update(b"".join(struct.pack("<Q", int(s)) for s in shape) + struct.pack("<Q", len(data)) + data)
    j = _canonical(
        {
            "schema_version": schema_version,
            "round_index": round_index,
            "parent_hash": parent_hash or "",
            "config_hash": config_hash,
        }
    )
    h.update(b"\0header\0" + struct.pack("<I", len(j)) + j)
    return h.hexdigest()


# --- safetensors by hand -------------------------------------------------------------------------
def _encode(arrays: dict[str, np.ndarray]) -> bytes:
    header, body, offset = {}, [], 0
    for name in sorted(arrays):
        data = np.ascontiguousarray(arrays[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arrays[name].shape), "data_offsets": [offset, offset + len(data)]}
        body.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"".join(body)


def _decode(data: bytes) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    if len(data) < 8:
        raise Tampered("weight file shorter than its length prefix")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8 or n > MAX_HEADER_BYTES:
        raise Tampered("weight file header length out of range")
    try:
        header = json.loads(data[8 : 8 + n])
    except ValueError as exc:
        raise Tampered(f"weight file header is not JSON: {exc}") from exc
    names = {
        "F32": "float32",
        "F16": "float16",
        "F64": "float64",
        "I32": "int32",
        "I64": "int64",
        "U8": "uint8",
        "BOOL": "bool",
        "BF16": "bfloat16",
    }
    body, out = data[8 + n :], {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = (
            names.get(info["dtype"], info["dtype"].lower()),
            tuple(int(s) for s in info["shape"]),
            body[start:end],
        )
    return out


# --- writing -------------------------------------------------------------------------------------
def save(params, directory: Path, *, round_index: int, parent_hash, config_hash: str) -> str:
    directory = Path(directory)
    check_shared(params, "a checkpoint")
    arrays = {}
    for name, value in params.items():
        arr = np.asarray(value)
        if arr.dtype != np.float32:
            raise StoreError(f"{name}: this store writes float32 tensors only, got {arr.dtype}")
        arrays[str(name)] = arr
    if directory.exists() or directory.is_symlink():
        raise StoreError(f"{directory} already exists; checkpoints are never overwritten")
    framed = {n: ("float32", tuple(a.shape), np.ascontiguousarray(a, dtype="<f4").tobytes()) for n, a in arrays.items()}
    digest = content_hash(
        framed, schema_version=SCHEMA, round_index=int(round_index), parent_hash=parent_hash, config_hash=config_hash
    )
    header = {
        "schema_version": SCHEMA,
        "content_hash": digest,
        "parent_hash": parent_hash,
        "round_index": int(round_index),
        "config_hash": config_hash,
        "tensor_manifest": [
            {"name": n, "dtype": "float32", "shape": list(arrays[n].shape)}
            for n in sorted(arrays, key=lambda n: n.encode())
        ],
        "weight_files": [WEIGHTS],
        "producer": PRODUCER,
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        (staging / WEIGHTS).write_bytes(_encode(arrays))
        (staging / "header.json").write_text(json.dumps(header, indent=2))
        os.rename(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return digest


# --- reading -------------------------------------------------------------------------------------
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt")


def _depth_ok(raw: bytes) -> None:
    depth, in_string, escaped = 0, False, False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == 0x5C:
                escaped = True
            elif ch == 0x22:
                in_string = False
        elif ch == 0x22:
            in_string = True
        elif ch in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_DEPTH:
                raise StoreError(f"header nests deeper than {MAX_DEPTH}")
        elif ch in (0x5D, 0x7D):
            depth -= 1


def _strict_object(pairs):
    keys = [k for k, _v in pairs]
    if len(keys) != len(set(keys)):
        raise StoreError(f"header repeats a key: {sorted(k for k in set(keys) if keys.count(k) > 1)}")
    return dict(pairs)


def _no_constants(name: str):
    raise StoreError(f"header contains the non-finite literal {name}")


def read_header(directory: Path) -> dict:
    path = directory / "header.json"
    if path.is_symlink() or not path.is_file():
        raise StoreError(f"{path} is missing or not a regular file")
    if path.stat().st_size > MAX_HEADER_BYTES:
        raise StoreError(f"header.json is larger than {MAX_HEADER_BYTES} bytes")
    raw = path.read_bytes()
    _depth_ok(raw)
    try:
        return json.loads(raw, object_pairs_hook=_strict_object, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, StoreError):
            raise
        raise StoreError(f"header.json is not valid JSON: {exc}") from exc


def _inside(directory: Path, rel) -> Path:
    if not isinstance(rel, str) or not rel or rel.startswith(("/", "\\")) or "\\" in rel or os.path.isabs(rel):
        raise OutsidePath(f"weight file {rel!r} is not a relative path")
    if any(part in ("..", "") for part in rel.split("/")):
        raise OutsidePath(f"weight file {rel!r} leaves the checkpoint")
    target = (directory / rel).resolve()
    if directory.resolve() not in target.parents:
        raise OutsidePath(f"weight file {rel!r} resolves outside the checkpoint")
    return target


def load(directory: Path) -> dict[str, np.ndarray]:
    directory = Path(directory)
    for entry in directory.iterdir():
        if entry.name.lower().endswith(PICKLE_SUFFIXES):
            raise Tampered(f"{entry.name} is a pickle-capable file; refusing the checkpoint unread")
    header = read_header(directory)
    version = header.get("schema_version")
    if type(version) is not int or version != SCHEMA:
        raise UnknownVersion(f"header schema_version {version!r}; this reader knows {SCHEMA}")
    files = header.get("weight_files")
    if not isinstance(files, list) or not files:
        raise Tampered("header lists no weight files")
    paths = [_inside(directory, rel) for rel in files]
    listed = {"header.json", *files}
    strays = sorted(p.name for p in directory.iterdir() if p.name not in listed)
    if strays:
        raise Tampered(f"unlisted files in the checkpoint: {strays}")
    arrays: dict[str, tuple[str, tuple[int, ...], bytes]] = {}
    for rel, path in zip(files, paths):
        if not rel.endswith(".safetensors"):
            raise Tampered(f"{rel} is not a .safetensors file")
        for name, spec in _decode(path.read_bytes()).items():
            if name in arrays:
                raise Tampered(f"tensor {name} stored twice")
            arrays[name] = spec
    try:
        recomputed = content_hash(
            arrays,
            schema_version=version,
            round_index=header["round_index"],
            parent_hash=header["parent_hash"],
            config_hash=header["config_hash"],
        )
    except (KeyError, TypeError, struct.error) as exc:
        raise Tampered(f"header lacks a hashed field: {exc}") from exc
    if recomputed != header.get("content_hash"):
        raise Tampered("content hash does not match the files")
    manifest = [(t.get("name"), t.get("dtype"), tuple(t.get("shape", ()))) for t in header.get("tensor_manifest", [])]
    if manifest != [(n, arrays[n][0], arrays[n][1]) for n in sorted(arrays, key=lambda n: n.encode())]:
        raise Tampered("tensor_manifest does not describe the stored tensors")
    out = {}
    for name, (dtype, shape, data) in arrays.items():
        if dtype != "float32":
            raise StoreError(f"{name}: this store reads float32 tensors only, found {dtype}")
        out[name] = np.frombuffer(data, dtype="<f4").reshape(shape).astype(np.float32)
    return out
