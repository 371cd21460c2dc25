"""Artifacts: canonical JSON, hashes, atomic writes, bounded JSON, path confinement.

This package holds two layers. The names exported here are the primitives *below* the schemas
(:mod:`lensemble_spec.schemas` uses them), so importing the package never imports a schema.
Above the schemas, import from the module itself:

* checkpoints: :mod:`lensemble_spec.artifacts.checkpoint` (``save_checkpoint``,
  ``load_checkpoint``, ``verify_checkpoint``, ``HEADER_FILE``, ``WEIGHTS_FILE``);
* pin resolution: :mod:`lensemble_spec.artifacts.pins` (the URI grammar is
  :mod:`lensemble_spec.artifacts.pin_uri`, below the schemas);
* run directories: :mod:`lensemble_spec.artifacts.rundir` (direct, or staged in ``OUT.partial`` and
  resumable: :mod:`lensemble_spec.artifacts.staging`).
"""

from __future__ import annotations

from ..constants import DTYPE_NAMES, is_hash64, is_revision40
from .atomic import atomic_directory, atomic_write_bytes, atomic_write_json, atomic_write_text
from .canonical import SINK_PATH_KEYS, canonical_json, config_hash
from .hashing import content_hash, probe_hash, sha256_file, tensor_bytes
from .paths import check_relative, confine
from .safe_json import load_json_file, loads_bounded

__all__ = [
    "DTYPE_NAMES",
    "SINK_PATH_KEYS",
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
    "load_json_file",
    "loads_bounded",
    "probe_hash",
    "sha256_file",
    "tensor_bytes",
]
