"""Checkpoint directories (RFC-0010): ``weights.safetensors`` + ``header.json``, nothing else.

Writing (:func:`save_checkpoint`): every tensor is normalised once to ``(dtype, shape,
little-endian bytes)``; the content hash is computed from those bytes and the safetensors file
is built from the very same bytes, so what is hashed is what is stored. Both files are written
into a temporary sibling directory which is then renamed onto the target (``os.replace``); an
existing target raises :class:`ArtifactError` and a failure leaves no directory behind.

Reading (:func:`load_checkpoint`) trusts nothing:

1. the directory may contain only ``header.json`` and the files listed in ``weight_files``;
   a pickle-style file (``.pt``, ``.pth``, ``.bin``, ``.pkl``, ``.ckpt`` …) or any other stray
   entry raises :class:`CheckpointIntegrityError`;
2. ``header.json`` is read bounded and validated (:class:`CheckpointHeader`; a too-new
   ``schema_version`` raises :class:`SchemaVersionMismatch`);
3. every weight file must end in ``.safetensors`` (else :class:`CheckpointIntegrityError`) and
   resolve inside the directory (else :class:`PathEscape`); each is read exactly once and
   everything below uses those bytes (no check-then-use gap);
4. the tensors' names, dtypes and shapes must equal ``tensor_manifest``;
5. the content hash recomputed from the loaded tensors must equal ``header.content_hash``.

Returned arrays are numpy, in name order, in their stored dtype — except ``bfloat16``, which
numpy lacks: those are returned widened (exactly) to ``float32`` while the header still says
``bfloat16``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError, CheckpointIntegrityError, LensembleError
from ..schemas import CheckpointHeader, Producer, TensorSpec, load_document, utc_now
from .atomic import atomic_directory, dumps_json
from .hashing import hash_records, header_json, tensor_bytes
from .paths import confine
from .reading import read_regular_file
from .safe_json import loads_bounded

HEADER_FILE = "header.json"
WEIGHTS_FILE = "weights.safetensors"
SCHEMA_VERSION = CheckpointHeader.SCHEMA_VERSION

#: Suffixes of serialisation formats that can execute code on load (or are opaque); always refused.
PICKLE_LIKE_SUFFIXES = frozenset({".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz"})

_ST_TO_NAME = {
    "BF16": "bfloat16",
    "BOOL": "bool",
    "F16": "float16",
    "F32": "float32",
    "F64": "float64",
    "I32": "int32",
    "I64": "int64",
    "U8": "uint8",
}
_NAME_TO_NUMPY = {
    "bool": np.dtype(bool),
    "float16": np.dtype("<f2"),
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
    "int32": np.dtype("<i4"),
    "int64": np.dtype("<i8"),
    "uint8": np.dtype("u1"),
}
_MAX_ST_HEADER = 100_000_000  # the safetensors format's own limit on its JSON header
#: Largest weight file read (bytes actually read, not ``st_size``: a device reports 0).
MAX_WEIGHT_FILE_BYTES = 2 * 1024**3
#: Largest safetensors ``__metadata__`` accepted (its canonical JSON, in bytes); writers here write none.
MAX_ST_METADATA_BYTES = 64 * 1024


# --- writing ---------------------------------------------------------------------------------------
def save_checkpoint(
    params: Mapping[str, Any],
    directory: str | os.PathLike[str],
    *,
    round_index: int,
    parent_hash: str | None,
    config_hash: str,
    producer: Mapping[str, str] | Producer,
    created_at: str | None = None,
) -> CheckpointHeader:
    """Write ``params`` as a checkpoint directory at ``directory`` and return its header.

    ``params`` maps tensor names to numpy arrays or torch tensors of a supported dtype
    (:data:`~lensemble_spec.constants.DTYPE_NAMES`). ``producer`` is ``{"name",
    "version"}``. Raises :class:`ArtifactError` for an existing target, an empty mapping, a bad
    name or dtype, or a malformed hash.
    """
    if not isinstance(params, Mapping) or not params:
        raise ArtifactError("a checkpoint needs a non-empty mapping name -> array")
    if "__metadata__" in params:
        raise ArtifactError("'__metadata__' is reserved by safetensors and cannot name a tensor")
    records = {name: tensor_bytes(value) for name, value in params.items()}
    j = header_json(
        schema_version=SCHEMA_VERSION, round_index=round_index, parent_hash=parent_hash, config_hash=config_hash
    )
    digest = hash_records(records, j)  # also validates the names
    producer_model = producer if isinstance(producer, Producer) else _validated(Producer, producer)
    header = _validated(
        CheckpointHeader,
        {
            "schema_version": SCHEMA_VERSION,
            "content_hash": digest,
            "parent_hash": parent_hash,
            "round_index": round_index,
            "config_hash": config_hash,
            "tensor_manifest": [
                {"name": n, "dtype": records[n][0], "shape": list(records[n][1])}
                for n in sorted(records, key=lambda s: s.encode("utf-8"))
            ],
            "weight_files": [WEIGHTS_FILE],
            "producer": producer_model,
            "created_at": created_at or utc_now(),
        },
    )
    payload = _serialize_safetensors(records)
    with atomic_directory(directory) as tmp:
        _write_file(tmp / WEIGHTS_FILE, payload)
        _write_file(tmp / HEADER_FILE, dumps_json(header).encode("utf-8"))
    return header


def _validated(model: type, data: Any) -> Any:
    # Documents we build ourselves still go through the loader, so a bad argument is a typed error.
    return load_document(model, data.model_dump() if hasattr(data, "model_dump") else data)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _serialize_safetensors(records: Mapping[str, tuple[str, tuple[int, ...], bytes]]) -> bytes:
    """safetensors bytes whose tensor data are exactly the normalised (hashed) bytes."""
    if any(dtype == "bfloat16" for dtype, _, _ in records.values()):
        import torch
        from safetensors.torch import save as torch_save

        tensors = {}
        for name, (dtype, shape, data) in records.items():
            if dtype == "bfloat16":
                bits = np.frombuffer(data, dtype="<i2").reshape(shape).copy()
                tensors[name] = torch.from_numpy(bits).view(torch.bfloat16)
            else:
                tensors[name] = torch.from_numpy(np.frombuffer(data, dtype=_NAME_TO_NUMPY[dtype]).reshape(shape).copy())
        return torch_save(tensors)
    from safetensors.numpy import save as numpy_save

    arrays = {
        name: np.frombuffer(data, dtype=_NAME_TO_NUMPY[dtype]).reshape(shape)
        for name, (dtype, shape, data) in records.items()
    }
    return numpy_save(arrays)


# --- reading ---------------------------------------------------------------------------------------
def load_checkpoint(directory: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], CheckpointHeader]:
    """Load and fully verify a checkpoint directory; return ``(tensors, header)``.

    See the module docstring for the checks and the bfloat16 convention.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ArtifactError(f"{root} is not a checkpoint directory")
    _refuse_foreign_files(root, listed=None)
    header = load_document(CheckpointHeader, confine(root, HEADER_FILE))
    _refuse_foreign_files(root, listed=header.weight_files)

    specs: dict[str, tuple[str, tuple[int, ...]]] = {}
    raw: dict[str, Any] = {}
    for rel in header.weight_files:
        if not rel.endswith(".safetensors"):
            raise CheckpointIntegrityError(
                f"{root}: weight file {rel!r} is not a .safetensors file; other formats are refused"
            )
        path = confine(root, rel)
        try:
            data = read_regular_file(path, MAX_WEIGHT_FILE_BYTES, label=f"{root.name}/{rel}")
        except ArtifactError as exc:
            raise CheckpointIntegrityError(f"{root}: cannot read weight file {rel!r}: {exc.message}") from exc
        file_specs = _safetensors_specs(data, f"{root.name}/{rel}")
        clash = sorted(set(file_specs) & set(specs))
        if clash:
            raise CheckpointIntegrityError(f"{root}: tensor {clash[0]!r} appears in more than one weight file")
        specs.update(file_specs)
        raw.update(_deserialize(data, file_specs, f"{root.name}/{rel}"))

    _check_manifest(root, header.tensor_manifest, specs)
    j = header_json(
        schema_version=header.schema_version,
        round_index=header.round_index,
        parent_hash=header.parent_hash,
        config_hash=header.config_hash,
    )
    recomputed = hash_records({name: tensor_bytes(value) for name, value in raw.items()}, j)
    if recomputed != header.content_hash:
        raise CheckpointIntegrityError(
            f"{root}: content hash {recomputed} does not match the header's {header.content_hash}",
            expected=header.content_hash,
            actual=recomputed,
        )
    tensors = {name: _to_numpy(raw[name]) for name in sorted(raw, key=lambda s: s.encode("utf-8"))}
    return tensors, header


def verify_checkpoint(directory: str | os.PathLike[str]) -> CheckpointHeader:
    """Run every check of :func:`load_checkpoint` and return the verified header."""
    return load_checkpoint(directory)[1]


def _refuse_foreign_files(root: Path, listed: list[str] | None) -> None:
    allowed = {HEADER_FILE} | {rel.split("/", 1)[0] for rel in (listed or [])}
    for entry in sorted(os.listdir(root)):
        suffix = os.path.splitext(entry)[1].lower()
        if suffix in PICKLE_LIKE_SUFFIXES:
            raise CheckpointIntegrityError(
                f"{root}: {entry!r} is a pickle-style weight file; only safetensors checkpoints are loaded",
                remediation="Convert the weights to safetensors with a trusted tool and re-create the checkpoint.",
            )
        if listed is not None and entry not in allowed:
            raise CheckpointIntegrityError(
                f"{root}: unexpected entry {entry!r} (a checkpoint holds header.json and its weight files only)"
            )


def _safetensors_specs(
    data: bytes, label: str, *, max_header: int = _MAX_ST_HEADER
) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Names, dtypes and shapes from a safetensors file's own header (bounded parse)."""
    if len(data) < 8:
        raise CheckpointIntegrityError(f"{label} is too short to be a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > max_header or 8 + n > len(data):
        raise CheckpointIntegrityError(f"{label} has an impossible safetensors header length {n}")
    try:
        meta = loads_bounded(data[8 : 8 + n], source=label, max_bytes=max_header, max_depth=4)
    except ArtifactError as exc:
        raise CheckpointIntegrityError(f"{label} is not a safetensors file: {exc.message}") from exc
    if not isinstance(meta, dict):
        raise CheckpointIntegrityError(f"{label} is not a safetensors file (header is not an object)")
    check_st_metadata(meta.get("__metadata__"), label)
    specs = {}
    for name, info in meta.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not isinstance(info.get("shape"), list):
            raise CheckpointIntegrityError(f"{label}: malformed entry for tensor {name!r}")
        dtype = _ST_TO_NAME.get(info.get("dtype"))
        if dtype is None:
            raise CheckpointIntegrityError(f"{label}: tensor {name!r} has unsupported dtype {info.get('dtype')!r}")
        specs[name] = (dtype, tuple(info["shape"]))
    return specs


#: Public name: names, dtypes and shapes of safetensors bytes, header and metadata bounded.
safetensors_specs = _safetensors_specs


def check_st_metadata(metadata: Any, label: str) -> None:
    """A safetensors ``__metadata__`` must be absent or a small string-to-string map."""
    if metadata is None:
        return
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise CheckpointIntegrityError(f"{label}: __metadata__ is not a string-to-string map")
    size = sum(len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in metadata.items())
    if size > MAX_ST_METADATA_BYTES:
        raise CheckpointIntegrityError(
            f"{label}: __metadata__ holds {size} bytes, over the {MAX_ST_METADATA_BYTES}-byte limit",
            remediation="Write weights without bulky safetensors metadata; the checkpoint header carries the "
                        "provenance.",
        )


def _deserialize(data: bytes, specs: Mapping[str, tuple[str, tuple[int, ...]]], label: str) -> dict[str, Any]:
    try:
        if any(dtype == "bfloat16" for dtype, _ in specs.values()):
            from safetensors.torch import load as torch_load

            return dict(torch_load(data))
        from safetensors.numpy import load as numpy_load

        return dict(numpy_load(data))
    except LensembleError:
        raise
    except Exception as exc:  # SafetensorError and friends: the file is corrupt
        raise CheckpointIntegrityError(f"{label} cannot be decoded as safetensors: {exc}") from exc


def _check_manifest(root: Path, manifest: list[TensorSpec], specs: Mapping[str, tuple[str, tuple[int, ...]]]) -> None:
    declared = {t.name: (t.dtype, tuple(t.shape)) for t in manifest}
    if set(declared) != set(specs):
        missing = sorted(set(declared) - set(specs))
        extra = sorted(set(specs) - set(declared))
        raise CheckpointIntegrityError(
            f"{root}: tensors differ from tensor_manifest (missing {missing}, unlisted {extra})"
        )
    for name, spec in declared.items():
        if specs[name] != spec:
            raise CheckpointIntegrityError(
                f"{root}: tensor {name!r} is stored as {specs[name][0]}{list(specs[name][1])} "
                f"but the manifest says {spec[0]}{list(spec[1])}"
            )


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value.copy()  # own the memory rather than a view into the file buffer
    import torch

    if value.dtype == torch.bfloat16:
        return value.to(torch.float32).numpy()  # exact: every bfloat16 is a float32
    return value.numpy().copy()


__all__ = [
    "HEADER_FILE",
    "PICKLE_LIKE_SUFFIXES",
    "WEIGHTS_FILE",
    "load_checkpoint",
    "save_checkpoint",
    "verify_checkpoint",
]
