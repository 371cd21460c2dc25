"""``CheckpointHeader``: the ``header.json`` of an RFC-0010 checkpoint directory.

A checkpoint directory holds ``header.json`` and the safetensors files named in
``weight_files``. ``content_hash`` is :func:`lensemble_spec.artifacts.hashing.content_hash` of
the tensors together with ``schema_version``, ``round_index``, ``parent_hash`` and
``config_hash``; ``tensor_manifest``, ``weight_files``, ``producer`` and ``created_at`` are
descriptive and checked against the files on load, but not hashed.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from ..artifacts.paths import check_relative
from ._base import StrictModel, VersionedDocument
from ._types import DType, Hash64, NonNegInt, Text, Timestamp

TensorName = Annotated[str, StringConstraints(min_length=1, max_length=1024), Field(strict=True)]
#: A relative POSIX path inside the artifact directory (PathEscape for '..', absolute, '\\').
RelPath = Annotated[str, Field(strict=True), AfterValidator(check_relative)]


class TensorSpec(StrictModel):
    """One tensor as stored: its name, dtype as saved (e.g. ``bfloat16``) and shape."""

    name: TensorName
    dtype: DType
    shape: list[NonNegInt] = Field(max_length=32)


class Producer(StrictModel):
    """The software that wrote an artifact."""

    name: Text
    version: Text


class CheckpointHeader(VersionedDocument):
    """``header.json`` of a checkpoint (schema_version 1)."""

    schema_version: Literal[1] = 1
    content_hash: Hash64
    parent_hash: Hash64 | None
    round_index: NonNegInt
    config_hash: Hash64
    tensor_manifest: list[TensorSpec] = Field(min_length=1)
    weight_files: list[RelPath] = Field(min_length=1)
    producer: Producer
    created_at: Timestamp

    @field_validator("tensor_manifest")
    @classmethod
    def _sorted_unique_names(cls, value: list[TensorSpec]) -> list[TensorSpec]:
        keys = [t.name.encode("utf-8", "surrogatepass") for t in value]
        if any(a >= b for a, b in pairwise(keys)):
            raise ValueError("tensor_manifest must be sorted by name (UTF-8 byte order) with unique names")
        return value

    @field_validator("weight_files")
    @classmethod
    def _unique_files(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("weight_files must not repeat a file")
        return value
