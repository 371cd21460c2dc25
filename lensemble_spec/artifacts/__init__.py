"""Artifacts: canonical JSON, hashes, checkpoints, atomic writes, bounded JSON, path confinement.

The checkpoint functions are imported lazily (module ``__getattr__``) because
:mod:`lensemble_spec.artifacts.checkpoint` depends on :mod:`lensemble_spec.schemas`, which in
turn uses the leaf modules of this package.
"""

from __future__ import annotations

from typing import Any

from .atomic import atomic_directory, atomic_write_bytes, atomic_write_json, atomic_write_text
from .canonical import SINK_PATH_KEYS, canonical_json, config_hash, is_hash64, is_revision40
from .hashing import DTYPE_NAMES, content_hash, probe_hash, sha256_file, tensor_bytes
from .paths import check_relative, confine
from .safe_json import load_json_file, loads_bounded

_LAZY = {
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "verify_checkpoint": "checkpoint",
    "HEADER_FILE": "checkpoint",
    "WEIGHTS_FILE": "checkpoint",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DTYPE_NAMES",
    "HEADER_FILE",
    "SINK_PATH_KEYS",
    "WEIGHTS_FILE",
    "atomic_directory",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "canonical_json",
    "check_relative",
    "config_hash",
    "confine",
    "content_hash",
    "is_hash64",
    "is_revision40",
    "load_checkpoint",
    "load_json_file",
    "loads_bounded",
    "probe_hash",
    "save_checkpoint",
    "sha256_file",
    "tensor_bytes",
    "verify_checkpoint",
]
