"""Pydantic v2 models of every document the RFCs define, plus loading and JSON Schema export.

All models are frozen and forbid extra fields; floats are finite, hashes 64 lowercase hex,
revisions 40 lowercase hex. Versioned documents follow the migration rule in
:mod:`lensemble_spec.schemas._base`. Read untrusted documents with :func:`load_document`.
"""

from __future__ import annotations

from pydantic import BaseModel

from ._base import StrictModel, VersionedDocument
from ._types import HASH64_PATTERN, REVISION40_PATTERN, Hash64, Revision40, utc_now
from .checkpoint import CheckpointHeader, Producer, TensorSpec
from .compliance import ComplianceReport
from .io import dump_document, export_json_schemas, json_schema, load_document, save_document
from .pin import ArtifactPin
from .results import ControlResult, Difference, Interval, ResultsTable, SeedRows, VariantResult
from .round import RoundMetrics, RoundRecord
from .run import CheckpointRef, RunManifest

_DOCUMENTS: dict[str, type[BaseModel]] = {
    "ArtifactPin": ArtifactPin,
    "CheckpointHeader": CheckpointHeader,
    "ResultsTable": ResultsTable,
    "RoundRecord": RoundRecord,
    "RunManifest": RunManifest,
    "ComplianceReport": ComplianceReport,
}


def document_models() -> dict[str, type[BaseModel]]:
    """Every exportable document model by name."""
    return dict(_DOCUMENTS)


__all__ = [
    "HASH64_PATTERN",
    "REVISION40_PATTERN",
    "ArtifactPin",
    "CheckpointHeader",
    "CheckpointRef",
    "ComplianceReport",
    "ControlResult",
    "Difference",
    "Hash64",
    "Interval",
    "Producer",
    "ResultsTable",
    "Revision40",
    "RoundMetrics",
    "RoundRecord",
    "RunManifest",
    "SeedRows",
    "StrictModel",
    "TensorSpec",
    "VariantResult",
    "VersionedDocument",
    "document_models",
    "dump_document",
    "export_json_schemas",
    "json_schema",
    "load_document",
    "save_document",
    "utc_now",
]
