"""Loading, saving and exporting schema documents.

:func:`load_document` is the one entry point for reading a document from untrusted input: it
bounds the JSON (size and depth, :mod:`lensemble_spec.artifacts.safe_json`), requires a
``schema_version`` on versioned documents, and turns every failure into a typed error —
:class:`SchemaVersionMismatch` for a version problem, :class:`PinError` / :class:`PathEscape`
for a bad pin or path, :class:`ArtifactError` (with a compact list of the failing fields) for
any other invalid content.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..artifacts.atomic import atomic_write_json
from ..artifacts.safe_json import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, load_json_file, loads_bounded
from ..errors import ArtifactError
from ._base import VersionedDocument

M = TypeVar("M", bound=BaseModel)

_MAX_REPORTED_ERRORS = 3


def _compact(exc: ValidationError, limit: int = _MAX_REPORTED_ERRORS) -> tuple[str, list[dict[str, str]]]:
    errors = [{"loc": ".".join(str(p) for p in err["loc"]) or "<document>", "msg": err["msg"]} for err in exc.errors()]
    shown = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:limit])
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return shown + more, errors


def load_document(
    model_cls: type[M],
    data_or_path: Mapping[str, Any] | str | os.PathLike[str] | bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> M:
    """Validate a document as ``model_cls``.

    ``data_or_path`` is a mapping (already parsed), ``bytes`` (JSON text) or a path (``str`` or
    ``os.PathLike``) to a JSON file.
    """
    source = model_cls.__name__
    if isinstance(data_or_path, (bytes, bytearray)):
        data: Any = loads_bounded(bytes(data_or_path), source=source, max_bytes=max_bytes, max_depth=max_depth)
    elif isinstance(data_or_path, (str, os.PathLike)):
        source = str(data_or_path)
        data = load_json_file(data_or_path, max_bytes=max_bytes, max_depth=max_depth)
    else:
        data = data_or_path
    if not isinstance(data, Mapping):
        raise ArtifactError(
            f"{source}: a {model_cls.__name__} document must be a JSON object, got {type(data).__name__}"
        )
    if issubclass(model_cls, VersionedDocument) and "schema_version" not in data:
        raise ArtifactError(
            f"{source}: {model_cls.__name__} document has no schema_version",
            remediation="Write schema_version into every document so readers can migrate or refuse it.",
        )
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        summary, errors = _compact(exc)
        raise ArtifactError(f"{source}: invalid {model_cls.__name__}: {summary}", errors=errors) from None


def dump_document(model: BaseModel) -> dict[str, Any]:
    """The JSON-mode dict of a document (what :func:`save_document` writes)."""
    return model.model_dump(mode="json")


def save_document(model: BaseModel, path: str | os.PathLike[str]) -> Path:
    """Write a document atomically as indented, key-sorted JSON."""
    return atomic_write_json(path, dump_document(model))


def json_schema(model_cls: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a model, validation mode, titled by the class name."""
    schema = model_cls.model_json_schema(mode="validation")
    schema.setdefault("title", model_cls.__name__)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def export_json_schemas(directory: str | os.PathLike[str], models: Mapping[str, type[BaseModel]]) -> list[Path]:
    """Write ``<Name>.schema.json`` for each model atomically; return the paths in name order."""
    directory = Path(directory)
    written = []
    for name in sorted(models):
        path = directory / f"{name}.schema.json"
        atomic_write_json(path, json_schema(models[name]))
        written.append(path)
    return written
