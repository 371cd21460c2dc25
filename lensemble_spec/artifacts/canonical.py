"""Canonical JSON and the configuration hash.

``canonical_json(obj)`` is exactly::

    json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")

with two refusals that keep it canonical: every mapping key must be a ``str`` (``json`` would
silently turn ``1`` and ``"1"`` into the same key) and NaN/Infinity are rejected. Values are
plain JSON types (dict, list/tuple, str, int, float, bool, None); numpy scalars must be converted
by the caller. Floats are written with Python's shortest round-trip ``repr``.

``config_hash(config)`` is the SHA-256 hex of ``canonical_json`` of the configuration after
removing every key named in :data:`SINK_PATH_KEYS`, at any nesting depth (inside dicts and
dicts within lists). Those keys name where outputs go (``out_dir``, ``log_path`` …), which
changes nothing about what is trained, so moving a run directory never changes its hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from ..errors import ArtifactError, ConfigError

#: Keys dropped (at any depth) before hashing a configuration: they name output sinks only.
SINK_PATH_KEYS = frozenset({"out_dir", "output_dir", "run_dir", "log_dir", "log_path", "metrics_path"})

_HASH64 = re.compile(r"[0-9a-f]{64}")
_REV40 = re.compile(r"[0-9a-f]{40}")


def is_hash64(value: object) -> bool:
    """True for a 64-character lowercase hex string (a SHA-256 digest)."""
    return isinstance(value, str) and _HASH64.fullmatch(value) is not None


def is_revision40(value: object) -> bool:
    """True for a full 40-character lowercase hex git revision."""
    return isinstance(value, str) and _REV40.fullmatch(value) is not None


def _check_keys(obj: Any, path: str = "$") -> None:
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ArtifactError(f"canonical JSON needs string keys; {path} has key {key!r}")
            _check_keys(value, f"{path}.{key}")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _check_keys(value, f"{path}[{i}]")


def canonical_json(obj: Any) -> bytes:
    """Canonical ASCII JSON bytes of ``obj`` (sorted keys, no spaces, no NaN/Infinity)."""
    _check_keys(obj)
    try:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ArtifactError(
            f"value is not canonical JSON: {exc}",
            remediation="Use only dict/list/str/int/float/bool/None with finite floats (convert numpy scalars first).",
        ) from exc
    return text.encode("ascii")


def strip_sink_paths(obj: Any) -> Any:
    """A copy of ``obj`` without any key in :data:`SINK_PATH_KEYS`, at any depth."""
    if isinstance(obj, Mapping):
        return {k: strip_sink_paths(v) for k, v in obj.items() if k not in SINK_PATH_KEYS}
    if isinstance(obj, (list, tuple)):
        return [strip_sink_paths(v) for v in obj]
    return obj


def config_hash(config: Mapping[str, Any] | Any) -> str:
    """SHA-256 hex of the canonical JSON of ``config`` minus sink-path keys.

    ``config`` is a mapping (a dataclass instance is converted with ``dataclasses.asdict``).
    Key order and sink paths never change the hash; any other value does. Raises
    :class:`ConfigError` when the configuration is not plain finite JSON.
    """
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, Mapping):
        raise ConfigError(f"a configuration must be a mapping, got {type(config).__name__}")
    try:
        data = canonical_json(strip_sink_paths(config))
    except ArtifactError as exc:
        raise ConfigError(
            f"configuration cannot be hashed: {exc.message}",
            remediation="Use only JSON values (finite numbers, strings, booleans, lists, string-keyed dicts) in the config.",
        ) from exc
    return hashlib.sha256(data).hexdigest()


__all__ = ["SINK_PATH_KEYS", "canonical_json", "config_hash", "is_hash64", "is_revision40", "strip_sink_paths"]
