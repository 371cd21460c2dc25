"""``RunManifest``: what a training run was, reproducibly (``manifest.json`` in a run directory).

``config_hash`` must equal :func:`lensemble_spec.artifacts.canonical.config_hash` of
``config``; a manifest whose configuration does not re-hash is refused on load
(:class:`ArtifactError`). ``round_sketch_seeds[t]`` is the SIGReg sketch seed of round ``t``.
Checkpoint paths are relative to the run directory.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from ..artifacts.canonical import canonical_json, config_hash
from ..errors import ArtifactError, LensembleError
from ._base import StrictModel, VersionedDocument
from ._types import Control, Hash64, Name, NonNegInt, Seed, Text, Timestamp
from .checkpoint import RelPath

#: ``<40 hex>``, ``<40 hex>-dirty`` (uncommitted changes) or ``unknown`` (not run from git).
GitSha = Annotated[str, Field(strict=True), StringConstraints(pattern=r"^([0-9a-f]{40}(-dirty)?|unknown)$")]


class CheckpointRef(StrictModel):
    """A checkpoint written by the run.

    ``participant`` is None for the committed global model, or the silo name for a participant's
    own model (e.g. every silo of the local-only control).
    """

    round_index: NonNegInt
    path: RelPath
    content_hash: Hash64
    participant: Name | None = None


class RunManifest(VersionedDocument):
    """``manifest.json`` of a run (schema_version 1)."""

    schema_version: Literal[1] = 1
    run_id: Name
    control: Control
    config: dict[str, Any]
    config_hash: Hash64
    root_seed: Seed
    round_sketch_seeds: list[Seed]
    probe_hash: Hash64
    data_roots: list[Text]
    split_policy: dict[str, Any] | None = None
    git_sha: GitSha
    versions: dict[str, Text]
    created_at: Timestamp
    checkpoints: list[CheckpointRef] = Field(default_factory=list)

    @field_validator("checkpoints")
    @classmethod
    def _ordered_checkpoints(cls, value: list[CheckpointRef]) -> list[CheckpointRef]:
        keys = [(c.round_index, c.participant or "") for c in value]
        if any(a >= b for a, b in pairwise(keys)):
            raise ValueError("checkpoints must be sorted by (round_index, participant) without repeats")
        if len({c.path for c in value}) != len(value):
            raise ValueError("checkpoints must not repeat a path")
        return value

    @model_validator(mode="after")
    def _config_rehashes(self) -> RunManifest:
        try:
            if self.split_policy is not None:
                canonical_json(self.split_policy)
            recomputed = config_hash(self.config)
        except LensembleError as exc:  # ConfigError for a config that is not plain JSON
            raise ArtifactError(f"RunManifest: {exc.message}") from exc
        if recomputed != self.config_hash:
            raise ArtifactError(
                f"RunManifest: config_hash {self.config_hash} does not match the recomputed {recomputed}",
                remediation="Regenerate the manifest from the run's configuration; it was edited or written by a non-conforming tool.",
            )
        return self
