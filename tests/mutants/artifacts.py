"""Mutants of the artifacts part (RFC-0010 §2, §3)."""

from __future__ import annotations

import hashlib
import pickle
import shutil
import struct
import tempfile
from pathlib import Path

from lensemble_spec.artifacts import load_json_file

from ._base import Wrapped, patched
from ._registry import ARTIFACTS, register

PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt")


def _hash_without_dtype(records, header: bytes) -> str:
    """RFC-0010 §3 with the dtype left out of every tensor frame (a float32 tensor and an int32
    tensor with the same bytes hash alike)."""
    from lensemble_spec.artifacts.hashing import CONTENT_DOMAIN, HEADER_SEPARATOR

    h = hashlib.sha256(CONTENT_DOMAIN)
    for name in sorted(records, key=lambda n: n.encode("utf-8")):
        _dtype, shape, data = records[name]
        encoded = name.encode("utf-8")
        h.update(struct.pack("<I", len(encoded)) + encoded)
        h.update(struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", int(d)) for d in shape))
        h.update(struct.pack("<Q", len(data)) + data)
    h.update(HEADER_SEPARATOR + struct.pack("<I", len(header)) + header)
    return h.hexdigest()


@register("hash-without-dtype", ARTIFACTS, {"ART-007", "ART-009"}, "content hash omits the dtype", part="artifacts")
class _HashWithoutDtype(Wrapped):
    def save_checkpoint(self, params, directory, **kwargs):
        with patched("lensemble_spec.artifacts.checkpoint", "hash_records", _hash_without_dtype):
            return self._inner.save_checkpoint(params, directory, **kwargs)

    def load_checkpoint(self, directory):
        with patched("lensemble_spec.artifacts.checkpoint", "hash_records", _hash_without_dtype):
            return self._inner.load_checkpoint(directory)


@register("unpickles-weights", ARTIFACTS, {"ART-003"}, "loader deserialises pickle files", part="artifacts")
class _UnpicklesWeights(Wrapped):
    """Loads ``.pt``/``.bin``/… files next to (or instead of) the safetensors weights with pickle."""

    def load_checkpoint(self, directory):
        directory = Path(directory)
        extra = {}
        for path in sorted(directory.iterdir()):
            if path.suffix in PICKLE_SUFFIXES:
                extra.update(pickle.loads(path.read_bytes()))  # the defect
        header = load_json_file(directory / "header.json")
        if any(str(f).endswith(PICKLE_SUFFIXES) for f in header.get("weight_files", [])):
            return extra
        with tempfile.TemporaryDirectory() as tmp:
            clean = Path(tmp) / "ckpt"
            shutil.copytree(
                directory, clean, symlinks=True, ignore=shutil.ignore_patterns(*(f"*{s}" for s in PICKLE_SUFFIXES))
            )
            params = dict(self._inner.load_checkpoint(clean))
        params.update(extra)
        return params


def _sanitised_copy(directory: Path, tmp: str, edit) -> Path:
    """Copy a checkpoint (symlinks kept) and let ``edit(copy)`` repair what this mutant tolerates."""
    clean = Path(tmp) / "ckpt"
    shutil.copytree(directory, clean, symlinks=True)
    edit(clean)
    return clean


@register("extra-file", ARTIFACTS, {"ART-001"}, "checkpoint directory holds a README", part="artifacts")
class _ExtraFile(Wrapped):
    """Writes a README next to the weights (and ignores it on load)."""

    def save_checkpoint(self, params, directory, **kwargs):
        digest = self._inner.save_checkpoint(params, directory, **kwargs)
        (Path(directory) / "README.txt").write_text("written by a mutant\n")
        return digest

    def load_checkpoint(self, directory):
        with tempfile.TemporaryDirectory() as tmp:
            return self._inner.load_checkpoint(
                _sanitised_copy(Path(directory), tmp, lambda c: (c / "README.txt").unlink(missing_ok=True))
            )


def _header(path: Path) -> dict:
    return load_json_file(path / "header.json")  # bounded: these mutants are lax about one thing only


def _write_header(path: Path, doc: dict) -> None:
    import json

    (path / "header.json").write_text(json.dumps(doc))


@register("unsorted-manifest", ARTIFACTS, {"ART-004"}, "tensor_manifest not sorted by name", part="artifacts")
class _UnsortedManifest(Wrapped):
    """Writes ``tensor_manifest`` in reverse name order (and sorts it back on load)."""

    def save_checkpoint(self, params, directory, **kwargs):
        digest = self._inner.save_checkpoint(params, directory, **kwargs)
        h = _header(Path(directory))
        h["tensor_manifest"] = sorted(h["tensor_manifest"], key=lambda t: t["name"], reverse=True)
        _write_header(Path(directory), h)
        return digest

    def load_checkpoint(self, directory):
        def fix(c: Path) -> None:
            h = _header(c)
            h["tensor_manifest"] = sorted(h["tensor_manifest"], key=lambda t: t["name"].encode())
            _write_header(c, h)

        with tempfile.TemporaryDirectory() as tmp:
            return self._inner.load_checkpoint(_sanitised_copy(Path(directory), tmp, fix))


@register("casts-dtypes", ARTIFACTS, {"ART-005", "ART-011"}, "unsupported dtypes stored as float32", part="artifacts")
class _CastsDtypes(Wrapped):
    """Silently stores unsupported dtypes as float32 instead of raising ArtifactError."""

    def save_checkpoint(self, params, directory, **kwargs):
        import numpy as np

        allowed = {"bool", "float16", "float32", "float64", "int32", "int64", "uint8"}
        fixed = {}
        for k, v in params.items():
            arr = v if not hasattr(v, "numpy") else v
            dtype = str(getattr(arr, "dtype", ""))
            fixed[k] = (
                np.asarray(arr, dtype=np.float32)
                if dtype and "bfloat16" not in dtype and np.dtype(dtype).name not in allowed
                else arr
            )
        return self._inner.save_checkpoint(fixed, directory, **kwargs)


@register("no-residency-on-save", ARTIFACTS, {"ART-006", "ART-011"}, "any tensor name written", part="artifacts")
class _NoResidencyOnSave(Wrapped):
    """Writes any tensor name (no residency check)."""

    def save_checkpoint(self, params, directory, *, round_index, parent_hash, config_hash):
        from lensemble_spec.artifacts.checkpoint import save_checkpoint

        header = save_checkpoint(params, directory, round_index=round_index, parent_hash=parent_hash,
                                 config_hash=config_hash, producer={"name": "mutant", "version": "0"})  # fmt: skip
        return header.content_hash


@register("returns-file-digest", ARTIFACTS, {"ART-008"}, "save returns sha256(header.json)", part="artifacts")
class _ReturnsFileDigest(Wrapped):
    """Returns the SHA-256 of ``header.json``'s bytes instead of the content hash."""

    def save_checkpoint(self, params, directory, **kwargs):
        self._inner.save_checkpoint(params, directory, **kwargs)
        return hashlib.sha256((Path(directory) / "header.json").read_bytes()).hexdigest()


@register("loads-as-float32", ARTIFACTS, {"ART-010"}, "load returns float32 for every dtype", part="artifacts")
class _LoadsAsFloat32(Wrapped):
    """Returns every tensor as float32."""

    def load_checkpoint(self, directory):
        import numpy as np

        return {k: np.asarray(v, dtype=np.float32) for k, v in self._inner.load_checkpoint(directory).items()}


@register("leaves-debris", ARTIFACTS, {"ART-011"}, "failed save leaves a partial directory", part="artifacts")
class _LeavesDebris(Wrapped):
    """A failed save leaves its half-written temporary directory behind."""

    def save_checkpoint(self, params, directory, **kwargs):
        try:
            return self._inner.save_checkpoint(params, directory, **kwargs)
        except Exception:
            debris = Path(directory).with_name(Path(directory).name + ".partial")
            debris.mkdir(exist_ok=True)
            (debris / "weights.safetensors").write_bytes(b"\0" * 8)
            raise


@register("overwrites", ARTIFACTS, {"ART-012"}, "existing checkpoint replaced", part="artifacts")
class _Overwrites(Wrapped):
    """Replaces an existing checkpoint directory."""

    def save_checkpoint(self, params, directory, **kwargs):
        if Path(directory).exists():
            shutil.rmtree(directory)
        return self._inner.save_checkpoint(params, directory, **kwargs)


@register("follows-paths", ARTIFACTS, {"ART-026"}, "weight files read outside the checkpoint", part="artifacts")
class _FollowsPaths(Wrapped):
    """Reads weight files wherever the header points (no confinement)."""

    def load_checkpoint(self, directory):
        directory = Path(directory)
        h = load_json_file(directory / "header.json")

        def pull_in(c: Path) -> None:
            files = []
            for i, wf in enumerate(h["weight_files"]):
                source = (directory / wf).resolve()
                local = c / f"weights-{i:05d}-of-{len(h['weight_files']):05d}.safetensors"
                inside = c / wf
                if inside.is_symlink() or (inside.is_file() and inside.resolve().parent == c.resolve()):
                    inside.unlink()
                shutil.copyfile(source, local)
                files.append(local.name)
            doc = _header(c)
            doc["weight_files"] = files
            _write_header(c, doc)

        with tempfile.TemporaryDirectory() as tmp:
            return self._inner.load_checkpoint(_sanitised_copy(directory, tmp, pull_in))


@register(
    "unbounded-json", ARTIFACTS, {"ART-027", "ART-028"}, "header parsed without size/depth limits", part="artifacts"
)
class _UnboundedJson(Wrapped):
    """Parses ``header.json`` with plain ``json.loads`` (no size or depth limit, last duplicate wins)."""

    def load_checkpoint(self, directory):
        import json

        doc = json.loads((Path(directory) / "header.json").read_bytes())
        doc.pop("padding", None)
        with tempfile.TemporaryDirectory() as tmp:
            return self._inner.load_checkpoint(_sanitised_copy(Path(directory), tmp, lambda c: _write_header(c, doc)))


@register("duplicate-keys-allowed", ARTIFACTS, {"ART-028"}, "repeated JSON keys: last one wins", part="artifacts")
class _DuplicateKeysAllowed(Wrapped):
    """Checks size and depth, but a repeated key silently takes its last value."""

    def load_checkpoint(self, directory):
        import json

        from lensemble_spec.artifacts.safe_json import nesting_depth

        raw = (Path(directory) / "header.json").read_bytes()
        if len(raw) > 16 * 1024 * 1024 or nesting_depth(raw) > 64:
            return self._inner.load_checkpoint(directory)  # the library refuses it
        doc = json.loads(raw, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        with tempfile.TemporaryDirectory() as tmp:
            return self._inner.load_checkpoint(_sanitised_copy(Path(directory), tmp, lambda c: _write_header(c, doc)))


@register("any-schema-version", ARTIFACTS, {"ART-029"}, "any schema_version read as 1", part="artifacts")
class _AnySchemaVersion(Wrapped):
    """Reads any ``schema_version`` as version 1."""

    def load_checkpoint(self, directory):
        def fix(c: Path) -> None:
            doc = _header(c)
            doc["schema_version"] = 1
            _write_header(c, doc)

        with tempfile.TemporaryDirectory() as tmp:
            return self._inner.load_checkpoint(_sanitised_copy(Path(directory), tmp, fix))


@register("single-file-loader", ARTIFACTS, {"ART-002"}, "loader refuses a sharded checkpoint", part="artifacts")
class _SingleFileLoader(Wrapped):
    """Refuses a checkpoint whose tensors are split over shards (ART-002 allows writers to shard)."""

    def load_checkpoint(self, directory):
        from lensemble_spec.errors import CheckpointIntegrityError

        if len(_header(Path(directory)).get("weight_files", [])) > 1:
            raise CheckpointIntegrityError(f"{directory}: sharded checkpoints are not supported")
        return self._inner.load_checkpoint(directory)


@register("rewrites-header-on-load", ARTIFACTS, {"ART-030"}, "loader rewrites header.json", part="artifacts")
class _RewritesHeaderOnLoad(Wrapped):
    """Normalises ``header.json`` in place (sorted keys, indented) after every successful load."""

    def load_checkpoint(self, directory):
        import json

        params = self._inner.load_checkpoint(directory)
        path = Path(directory) / "header.json"
        path.write_text(json.dumps(_header(Path(directory)), indent=2, sort_keys=True))
        return params
