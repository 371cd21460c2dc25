"""``CheckpointHeader``: the ``header.json`` of an RFC-0010 checkpoint directory.

A checkpoint directory holds ``header.json`` and the safetensors files named in
``weight_files``. ``content_hash`` is :func:`lensemble_spec.artifacts.hashing.content_hash` of
the tensors together with ``schema_version``, ``round_index``, ``parent_hash`` and
``config_hash``; ``tensor_manifest``, ``weight_files``, ``producer`` and ``created_at`` are
descriptive and checked against the files on load, but not hashed.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from ..artifacts.paths import check_relative
from ._base import StrictModel, VersionedDocument
from ._types import DType, Hash64, NonNegInt, Text, Timestamp

TensorName = Annotated[str, StringConstraints(min_length=1, max_length=1024), Field(strict=True)]
#: A relative POSIX path inside the artifact directory (PathEscape for '..', absolute, '\\').
RelPath = Annotated[str, Field(strict=True), AfterValidator(check_relative)]


class TensorSpec(StrictModel):
    """One tensor as stored: its name, dtype as saved (e.g. ``bfloat16``) and shape."""

    name: TensorName = Field(description="Tensor name (`encoder.*` or `predictor.*` in a run's shared model).")
    dtype: DType = Field(description="Dtype as stored in the safetensors file.")
    shape: list[NonNegInt] = Field(max_length=32, description="Dimensions as stored; `[]` for a scalar.")


class Producer(StrictModel):
    """The software that wrote an artifact."""

    name: Text = Field(description="Distribution or implementation name.")
    version: Text = Field(description="Its version string.")


class CheckpointHeader(VersionedDocument):
    """``header.json`` of a checkpoint (schema_version 1)."""

    RFC_RULES: ClassVar[tuple[str, ...]] = (
        "`content_hash` equals the RFC-0010 §3 content hash of the stored tensors and of `schema_version`, "
        "`round_index`, `parent_hash` and `config_hash`.",
        "`tensor_manifest` is sorted by the UTF-8 bytes of `name`, names unique, and lists every stored tensor "
        "exactly once with its stored dtype and shape.",
        "`weight_files` has no repeats; each entry is a relative POSIX path (RFC-0010 §7) naming a `.safetensors` "
        "file inside the checkpoint directory, and every tensor is stored in exactly one of them.",
    )

    schema_version: Literal[1] = Field(default=1, description="Document layout version.")
    content_hash: Hash64 = Field(description="SHA-256 (hex) content hash of this checkpoint (RFC-0010 §3).")
    parent_hash: Hash64 | None = Field(
        description="`content_hash` of the same model's checkpoint of the previous round; null for the round-0 global."
    )
    round_index: NonNegInt = Field(description="Round this checkpoint was committed in (0 = initial global).")
    config_hash: Hash64 = Field(description="The run manifest's `config_hash` (RFC-0010 §4).")
    tensor_manifest: list[TensorSpec] = Field(min_length=1, description="One entry per stored tensor.")
    weight_files: list[RelPath] = Field(
        min_length=1, description="The safetensors files, relative to the checkpoint directory."
    )
    producer: Producer = Field(description="Software that wrote the checkpoint (not hashed).")
    created_at: Timestamp = Field(description="Write time, e.g. `2026-11-25T08:00:00Z` (not hashed).")

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
