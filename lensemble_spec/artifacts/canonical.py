"""Canonical JSON (RFC 8785, JCS) and the configuration hash (RFC-0010 §4).

``canonical_json(obj)`` is the JSON Canonicalization Scheme of RFC 8785, computed by the
maintained ``rfc8785`` package: object members sorted by the UTF-16 code units of their names,
no whitespace, strings in UTF-8 with only the mandatory escapes, numbers written as ECMAScript's
``Number.prototype.toString`` writes an IEEE-754 double (``1.0`` and ``1`` are both ``1``,
``1e-05`` is ``0.00001``, ``1e21`` is ``1e+21``). One extension, RFC-0010 §4.1: an integer
outside the I-JSON range ``|n| ≤ 2**53 − 1`` — which RFC 8785 leaves undefined and the package
refuses — is written as its exact decimal digits (``-`` and no leading zeros), so 63-bit seeds
in a configuration hash exactly. Every refusal is typed and says where: mapping keys must be
``str``, values plain JSON types (dict, list/tuple, str, int, float, bool, None), floats finite,
strings valid Unicode (no lone surrogates).

``config_hash(config)`` is the SHA-256 hex of ``canonical_json`` of the configuration after
removing every key named in :data:`SINK_PATH_KEYS`, at any nesting depth (inside dicts and
dicts within lists). Those keys name where outputs go (``out_dir``, ``log_path`` …), which
changes nothing about what is trained, so moving a run directory never changes its hash.

The scheme before RFC 8785 (lensemble-spec 0.1: Python's ``json.dumps(sort_keys=True,
separators=(",", ":"), ensure_ascii=True)``) is kept as :func:`legacy_canonical_json` only so
that a reader can *recognise* a legacy configuration hash and refuse it with a message that
says what to do (RFC-0010 §4.3); nothing is ever written with it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import rfc8785

from ..errors import ArtifactError, ConfigError

#: Keys dropped (at any depth) before hashing a configuration: they name output sinks only.
SINK_PATH_KEYS = frozenset({"out_dir", "output_dir", "run_dir", "log_dir", "log_path", "metrics_path"})

#: Identifier of the canonical JSON scheme written into documents that name one.
CANONICAL_JSON_SCHEME = "rfc8785"
#: Identifier of the lensemble-spec 0.1 scheme, recognised only to refuse it with a remediation.
LEGACY_CANONICAL_JSON_SCHEME = "lensemble-spec-0.1-python-json"

#: Largest integer magnitude RFC 8785 defines (I-JSON, RFC 7493 §2.2); larger ones are written exactly.
MAX_SAFE_INTEGER = 2**53 - 1

_REMEDY = "Use only dict/list/str/int/float/bool/None with finite floats (convert numpy scalars first)."


def _plain(obj: Any, path: str = "$") -> Any:
    """A checked copy of ``obj`` with tuples as lists (raises ArtifactError naming the path)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if obj != obj or obj in (float("inf"), float("-inf")):
            raise ArtifactError(f"{path}: {obj!r} is not a JSON number", remediation=_REMEDY)
        return float(obj)
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ArtifactError(f"canonical JSON needs string keys; {path} has key {key!r}", remediation=_REMEDY)
            out[key] = _plain(value, f"{path}.{key}")
        return out
    if isinstance(obj, (list, tuple)):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(obj)]
    raise ArtifactError(f"value is not canonical JSON: {path} is a {type(obj).__name__}", remediation=_REMEDY)


def _utf16_key(item: tuple[str, Any]) -> bytes:
    return item[0].encode("utf-16-be")  # RFC 8785 §3.2.3: compare names as UTF-16 code units


def _encode(value: Any, out: list[bytes]) -> None:
    """Append the canonical bytes of an already-checked value (structure here, scalars by rfc8785)."""
    if isinstance(value, dict):
        out.append(b"{")
        for i, (key, item) in enumerate(sorted(value.items(), key=_utf16_key)):
            out.append(b"," if i else b"")
            out.append(rfc8785.dumps(key))
            out.append(b":")
            _encode(item, out)
        out.append(b"}")
    elif isinstance(value, list):
        out.append(b"[")
        for i, item in enumerate(value):
            out.append(b"," if i else b"")
            _encode(item, out)
        out.append(b"]")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        out.append(str(value).encode("ascii"))  # the RFC-0010 §4.1 extension: exact digits
    else:
        out.append(rfc8785.dumps(value))


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 canonical UTF-8 JSON bytes of ``obj`` (checks and the one extension in the module docstring)."""
    plain = _plain(obj)
    out: list[bytes] = []
    try:
        _encode(plain, out)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError) as exc:  # e.g. a lone surrogate in a string
        raise ArtifactError(f"value is not canonical JSON: {exc}", remediation=_REMEDY) from exc
    return b"".join(out)


def legacy_canonical_json(obj: Any) -> bytes:
    """The lensemble-spec 0.1 canonical form (Python ``json.dumps``); only to recognise old hashes."""
    plain = _plain(obj)
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def strip_sink_paths(obj: Any) -> Any:
    """A copy of ``obj`` without any key in :data:`SINK_PATH_KEYS`, at any depth."""
    if isinstance(obj, Mapping):
        return {k: strip_sink_paths(v) for k, v in obj.items() if k not in SINK_PATH_KEYS}
    if isinstance(obj, (list, tuple)):
        return [strip_sink_paths(v) for v in obj]
    return obj


def _config_bytes(config: Mapping[str, Any] | Any, encode: Any) -> bytes:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, Mapping):
        raise ConfigError(f"a configuration must be a mapping, got {type(config).__name__}")
    try:
        return encode(strip_sink_paths(config))
    except ArtifactError as exc:
        raise ConfigError(
            f"configuration cannot be hashed: {exc.message}",
            remediation="Use only JSON values (finite numbers, integers, strings, booleans, lists, string-keyed "
            "dicts) in the config.",
        ) from exc


def config_hash(config: Mapping[str, Any] | Any) -> str:
    """SHA-256 hex of the RFC 8785 canonical JSON of ``config`` minus sink-path keys.

    ``config`` is a mapping (a dataclass instance is converted with ``dataclasses.asdict``).
    Key order and sink paths never change the hash; any other JSON value does (``3`` and ``3.0``
    are the same JSON number). Raises :class:`ConfigError` when the configuration is not plain
    finite JSON.
    """
    return hashlib.sha256(_config_bytes(config, canonical_json)).hexdigest()


def legacy_config_hash(config: Mapping[str, Any] | Any) -> str:
    """The lensemble-spec 0.1 configuration hash (see :func:`legacy_canonical_json`)."""
    return hashlib.sha256(_config_bytes(config, legacy_canonical_json)).hexdigest()


__all__ = [
    "CANONICAL_JSON_SCHEME",
    "LEGACY_CANONICAL_JSON_SCHEME",
    "MAX_SAFE_INTEGER",
    "SINK_PATH_KEYS",
    "canonical_json",
    "config_hash",
    "legacy_canonical_json",
    "legacy_config_hash",
    "strip_sink_paths",
]
