"""Base classes: strict frozen models and versioned documents with a migration rule.

Migration rule (every versioned document): a reader whose ``SCHEMA_VERSION`` is ``N`` accepts
documents with ``1 <= schema_version <= N``. An older document is upgraded step by step by
``MIGRATIONS[v]`` (a function ``dict -> dict`` turning version ``v`` into ``v + 1``) inside a
``model_validator(mode="before")``, then validated as version ``N``. A newer version, a
version that is not a plain integer (``True``, ``"1"``, ``1.0``) or one below 1 raises
:class:`~lensemble_spec.errors.SchemaVersionMismatch` — a typed error, not a pydantic
``ValidationError``. A missing ``schema_version`` means "current" when a model is built in
Python; :func:`lensemble_spec.schemas.load_document` refuses documents that omit it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

from ..errors import SchemaVersionMismatch


class StrictModel(BaseModel):
    """Frozen, no extra fields, finite floats."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class VersionedDocument(StrictModel):
    """A top-level document carrying ``schema_version`` (see the module docstring for the rule)."""

    SCHEMA_VERSION: ClassVar[int] = 1
    MIGRATIONS: ClassVar[Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or "schema_version" not in data:
            return data
        current = cls.SCHEMA_VERSION
        version = data["schema_version"]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise SchemaVersionMismatch(
                f"{cls.__name__}: schema_version must be an integer >= 1, got {version!r}",
                file_schema_version=version,
                reader_max_version=current,
            )
        if version > current:
            raise SchemaVersionMismatch(
                f"{cls.__name__}: document has schema_version {version}, this reader supports <= {current}",
                file_schema_version=version,
                reader_max_version=current,
            )
        doc = dict(data)
        while version < current:
            step = cls.MIGRATIONS.get(version)
            if step is None:
                raise SchemaVersionMismatch(
                    f"{cls.__name__}: no migration from schema_version {version}",
                    file_schema_version=version,
                    reader_max_version=current,
                )
            doc = dict(step(doc))
            version += 1
            doc["schema_version"] = version
        return doc
