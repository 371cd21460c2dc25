"""Names and patterns every layer of the library shares, defined once.

This module is a leaf: it imports nothing from ``lensemble_spec`` (``tests/structure`` checks
it), so the schemas, the artifact writers, the protocol and the suite can all depend on it
without depending on each other. Layering above it::

    constants, errors                 (leaves)
    artifacts primitives              canonical JSON, hashing, atomic writes, bounded JSON, paths, pin URI grammar
    schemas                           pydantic documents
    artifacts.checkpoint / pins / rundir, protocol, metrics, verify, plugin, report, commands

Contracts:

* :data:`PARTS` are the capability parts of an implementation in report order (RFC-0003 §8).
* :data:`CONTROLS` are the control names of RFC-0005 §2.
* :data:`DTYPE_NAMES` are the tensor dtype names written in hashes and checkpoint headers
  (RFC-0010 §3).
* A *hash* is a SHA-256 digest as 64 lowercase hex characters; a *revision* is a full git
  commit id as 40 lowercase hex characters (never a branch, tag, prefix or uppercase hex).
* A pin URI is ``hf://{models|datasets}/<org>/<name>@<revision>[/<path>]`` (RFC-0010 §6);
  :data:`PIN_URI_RE` only splits it into pieces, which
  :func:`lensemble_spec.artifacts.pin_uri.split_pin_uri` then validates one by one so that the
  error names the piece that is wrong.
"""

from __future__ import annotations

import re

#: Names of the capability parts, in report order.
PARTS = ("gauge", "model", "federation", "artifacts")

#: Control names (RFC-0005 §2).
CONTROLS = ("local-only", "naive-fedavg", "anchored", "centralized")

#: Supported dtype names, as written in hashes and checkpoint manifests.
DTYPE_NAMES = ("bfloat16", "bool", "float16", "float32", "float64", "int32", "int64", "uint8")

#: A SHA-256 digest: 64 lowercase hex characters (JSON Schema / pydantic pattern form).
HASH64_PATTERN = r"^[0-9a-f]{64}$"
#: A full git commit id: 40 lowercase hex characters.
REVISION40_PATTERN = r"^[0-9a-f]{40}$"
HASH64_RE = re.compile(HASH64_PATTERN)
REVISION40_RE = re.compile(REVISION40_PATTERN)


def is_hash64(value: object) -> bool:
    """True for a 64-character lowercase hex string (a SHA-256 digest)."""
    return isinstance(value, str) and HASH64_RE.fullmatch(value) is not None


def is_revision40(value: object) -> bool:
    """True for a full 40-character lowercase hex git revision."""
    return isinstance(value, str) and REVISION40_RE.fullmatch(value) is not None


# --- the pin URI grammar (RFC-0010 §6) ----------------------------------------------------------
#: The form, as error messages and docs spell it.
PIN_URI_FORM = "hf://{models|datasets}/<org>/<name>@<40-hex>[/<path>]"
#: URI kind (plural, as in Hub URLs) -> huggingface_hub ``repo_type``.
REPO_KINDS: dict[str, str] = {"models": "model", "datasets": "dataset"}
#: Splits a pin URI into kind, org, name, revision and path (each piece is validated apart).
PIN_URI_RE = re.compile(r"^hf://(?P<kind>[a-z]+)/(?P<org>[^/@]+)/(?P<name>[^/@]+)@(?P<rev>[^/]*)(?:/(?P<path>.*))?$")
#: One repo-id component: the Hub's own rule (letters, digits, '-', '_', '.'; no leading/trailing
#: '-' or '.', no '--' or '..'; at most 96 characters).
REPO_PART_RE = re.compile(r"^(?!-)(?!\.)(?!.*--)(?!.*\.\.)[A-Za-z0-9_.\-]{1,96}(?<!-)(?<!\.)$")
#: JSON Schema hint for a pin's ``uri`` (for external tools; the validator is the authority).
PIN_URI_PATTERN = r"^hf://(models|datasets)/[A-Za-z0-9_.-]{1,96}/[A-Za-z0-9_.-]{1,96}@[0-9a-f]{40}(/[^/\\]+)*$"

__all__ = [
    "CONTROLS",
    "DTYPE_NAMES",
    "HASH64_PATTERN",
    "HASH64_RE",
    "PARTS",
    "PIN_URI_FORM",
    "PIN_URI_PATTERN",
    "PIN_URI_RE",
    "REPO_KINDS",
    "REPO_PART_RE",
    "REVISION40_PATTERN",
    "REVISION40_RE",
    "is_hash64",
    "is_revision40",
]
