"""``RunManifest``: what a training run was, reproducibly (``manifest.json`` in a run directory).

``config_hash`` must equal :func:`lensemble_spec.artifacts.canonical.config_hash` of
``config``; a manifest whose configuration does not re-hash is refused on load
(:class:`ArtifactError`). ``round_sketch_seeds[t]`` is the SIGReg sketch seed of round ``t``.
Checkpoint paths are relative to the run directory.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from ..artifacts.canonical import LEGACY_CANONICAL_JSON_SCHEME, canonical_json, config_hash, legacy_config_hash
from ..constants import REVISION40_PATTERN
from ..errors import ArtifactError, LensembleError
from ._base import StrictModel, VersionedDocument
from ._types import Control, Hash64, Name, NonNegInt, Seed, Text, Timestamp
from .checkpoint import RelPath

#: ``<40 hex>``, ``<40 hex>-dirty`` (uncommitted changes) or ``unknown`` (not run from git).
GitSha = Annotated[
    str, Field(strict=True), StringConstraints(pattern=rf"^({REVISION40_PATTERN[1:-1]}(-dirty)?|unknown)$")
]


class CheckpointRef(StrictModel):
    """A checkpoint written by the run.

    ``participant`` is None for the committed global model, or the silo name for a participant's
    own model (e.g. every silo of the local-only control).
    """

    round_index: NonNegInt = Field(description="Round the checkpoint belongs to; equals its header's `round_index`.")
    path: RelPath = Field(
        description="Checkpoint directory, a relative POSIX path inside the run directory (RFC-0010 §7)."
    )
    content_hash: Hash64 = Field(description="The `content_hash` in that checkpoint's header.")
    participant: Name | None = Field(
        default=None, description="null for a global model; the silo name for a participant's own model (local-only)."
    )


class RunManifest(VersionedDocument):
    """``manifest.json`` of a run (schema_version 1)."""

    RFC_RULES: ClassVar[tuple[str, ...]] = (
        "`config_hash` equals the configuration hash of `config` (RFC-0010 §4.2: RFC 8785 canonical JSON with the "
        "sink-path keys removed); a hash that matches only the lensemble-spec 0.1 scheme is refused (RFC-0010 §4.3).",
        "`config` holds plain JSON only (string keys, finite numbers, strings, booleans, null, arrays, objects); "
        "so does `split_policy`.",
        "`checkpoints` is sorted by (`round_index`, `participant`, with null sorting as the empty string), with no "
        "repeated (`round_index`, `participant`) pair and no repeated `path`.",
        "`round_sketch_seeds[t]` is the sketch seed of round `t` (RFC-0003 §6), one entry per round 0 … R.",
    )

    schema_version: Literal[1] = Field(default=1, description="Document layout version.")
    run_id: Name = Field(description="Identifier of the run; every round record repeats it.")
    control: Control = Field(description="The control this run trained (RFC-0005 §2).")
    config: dict[str, Any] = Field(
        description="The resolved configuration: every `FederationConfig` field (`outer` nested) plus "
        "implementation-specific keys, with the values actually used."
    )
    config_hash: Hash64 = Field(description="Configuration hash of `config` (RFC-0010 §4.2).")
    root_seed: Seed = Field(description="The configuration's `seed`.")
    round_sketch_seeds: list[Seed] = Field(description="Sketch seed of each round `0 … R` (RFC-0003 §6).")
    probe_hash: Hash64 = Field(description="Probe hash of `probe.safetensors`'s `points` (RFC-0010 §3).")
    data_roots: list[Text] = Field(description="Where the training data came from (free text, one entry per source).")
    split_policy: dict[str, Any] | None = Field(
        default=None, description="How the held-out split was chosen (RFC-0005 §3)."
    )
    git_sha: GitSha = Field(description="Commit of the producing code, `<40 hex>-dirty`, or `unknown`.")
    versions: dict[str, Text] = Field(description="Versions of the software used, by name (e.g. `python`, `torch`).")
    created_at: Timestamp = Field(description="Write time.")
    checkpoints: list[CheckpointRef] = Field(default_factory=list, description="Every checkpoint the run committed.")

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
        if recomputed != self.config_hash and self.config_hash == legacy_config_hash(self.config):
            raise ArtifactError(
                f"RunManifest: config_hash {self.config_hash} was computed with the lensemble-spec 0.1 scheme "
                f"(Python json.dumps), not RFC 8785 canonical JSON (which gives {recomputed})",
                remediation="Re-run the configuration with this lensemble-spec (runs are deterministic, FED-028) "
                "to get RFC 8785 hashes, or verify the run with lensemble-spec 0.1.",
                hash_scheme=LEGACY_CANONICAL_JSON_SCHEME,
                expected=recomputed,
            )
        if recomputed != self.config_hash:
            raise ArtifactError(
                f"RunManifest: config_hash {self.config_hash} does not match the recomputed {recomputed}",
                remediation="Regenerate the manifest from the run's configuration; it was edited or written by a "
                            "non-conforming tool.",
            )
        return self
