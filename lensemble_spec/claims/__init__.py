"""Published results as checkable data (see :mod:`lensemble_spec.claims.model` for the format).

``seed_claims()`` is the seed model card's headline and inference tables, transcribed verbatim
with a typed reading of every cell; ``load_claims(path)`` reads any claim document (bounded JSON,
typed errors). Checking happens in :func:`lensemble_spec.verify.verify_claims`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from typing import Any

from pydantic import ValidationError

from ..artifacts.safe_json import load_json_file, loads_bounded
from ..errors import ArtifactError
from .model import (
    APPROX_REL,
    BoundClaim,
    ClaimCell,
    ClaimDocument,
    ClaimedPin,
    ClaimRow,
    ClaimTable,
    Num,
    PointClaim,
    RangeClaim,
    SeriesClaim,
)

#: Package resource holding the seed model card's claims.
SEED_CLAIMS_RESOURCE = "seed_model_card.json"


def load_claims(source: str | os.PathLike[str] | Mapping[str, Any] | bytes) -> ClaimDocument:
    """Validate a claim document from a path, JSON bytes or a parsed mapping."""
    if isinstance(source, (bytes, bytearray)):
        data: Any = loads_bounded(bytes(source), source="claims")
        label = "claims"
    elif isinstance(source, Mapping):
        data, label = source, "claims"
    else:
        data, label = load_json_file(source), str(source)
    try:
        return ClaimDocument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<document>"
        raise ArtifactError(
            f"{label}: invalid claim document at {where}: {first['msg']}",
            remediation="Follow the claim format in lensemble_spec/claims/model.py (numbers as published strings, one "
                        "claim kind per cell).",
        ) from None


def seed_claims() -> ClaimDocument:
    """The seed model card's claims, shipped as package data."""
    data = resources.files(__package__).joinpath(SEED_CLAIMS_RESOURCE).read_bytes()
    return load_claims(data)


__all__ = [
    "APPROX_REL",
    "BoundClaim",
    "ClaimCell",
    "ClaimDocument",
    "ClaimRow",
    "ClaimTable",
    "ClaimedPin",
    "Num",
    "PointClaim",
    "RangeClaim",
    "SEED_CLAIMS_RESOURCE",
    "SeriesClaim",
    "load_claims",
    "seed_claims",
]
