"""Typed errors: every failure carries a stable ``code`` and a one-sentence ``remediation``.

Families mirror the RFCs: configuration, protocol (an implementation that does not satisfy the
harness interface), gauge (Procrustes, drift, anchors), aggregation (the outer step), artifact
(checkpoints, hashes, pins), probe, evaluation (metrics on bad input) and round (federation
lifecycle). Codes are append-only string values; never renumber or reuse one.
"""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):
    """Stable, append-only error codes (the string value is what tools match on)."""

    INTERNAL = "internal"
    CONFIG_INVALID = "config_invalid"
    PROTOCOL_VIOLATION = "protocol_violation"
    CAPABILITY_MISSING = "capability_missing"
    RESIDENCY_VIOLATION = "residency_violation"
    GAUGE_FAILED = "gauge_failed"
    PROCRUSTES_DEGENERATE = "procrustes_degenerate"
    AGGREGATION_FAILED = "aggregation_failed"
    AGG_NONDETERMINISTIC = "agg_nondeterministic"
    QUORUM_NOT_MET = "quorum_not_met"
    ROUND_FAILED = "round_failed"
    ARTIFACT_INVALID = "artifact_invalid"
    SCHEMA_VERSION_MISMATCH = "schema_version_mismatch"
    CHECKPOINT_INTEGRITY = "checkpoint_integrity"
    PIN_INVALID = "pin_invalid"
    PIN_UNRESOLVED = "pin_unresolved"
    PATH_ESCAPE = "path_escape"
    PROBE_INVALID = "probe_invalid"
    EVALUATION_FAILED = "evaluation_failed"
    INPUT_INVALID = "input_invalid"
    REQUIREMENT_INVALID = "requirement_invalid"
    DATA_INVALID = "data_invalid"


class LensembleError(Exception):
    """Base of every error this project raises on purpose.

    ``code`` is an :class:`ErrorCode`; ``remediation`` is one sentence telling the user what to do.
    ``details`` holds structured context (numbers, names) for reports.
    """

    default_code: ErrorCode = ErrorCode.INTERNAL
    default_remediation: str = "This is a bug in lensemble-spec; please report it with the traceback."

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        remediation: str | None = None,
        **details: object,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = ErrorCode(code) if code is not None else self.default_code
        self.remediation = remediation or self.default_remediation
        self.details = details

    def __str__(self) -> str:
        return f"[{self.code.value}] {self.message} (remediation: {self.remediation})"

    def to_dict(self) -> dict[str, object]:
        return {
            "error": type(self).__name__,
            "code": self.code.value,
            "message": self.message,
            "remediation": self.remediation,
        }


# --- configuration ------------------------------------------------------------------------------
class ConfigError(LensembleError):
    default_code = ErrorCode.CONFIG_INVALID
    default_remediation = "Fix the named configuration field; `lensemble-spec train --help` lists the valid values."


# --- protocol (implementation vs harness interface) ---------------------------------------------
class ProtocolError(LensembleError):
    default_code = ErrorCode.PROTOCOL_VIOLATION
    default_remediation = (
        "Expose an object with `name`, `version` and the capability parts described in "
        "lensemble_spec.protocol, and pass it as --impl module[:attribute]."
    )


class CapabilityMissing(ProtocolError):
    default_code = ErrorCode.CAPABILITY_MISSING
    default_remediation = (
        "Implement the named capability part, or accept that its requirements are reported as not implemented."
    )


class ResidencyViolation(ProtocolError):
    default_code = ErrorCode.RESIDENCY_VIOLATION
    default_remediation = (
        "Release only encoder.* and predictor.* parameter deltas; keep raw data and action heads local."
    )


# --- gauge ----------------------------------------------------------------------------------------
class GaugeError(LensembleError):
    default_code = ErrorCode.GAUGE_FAILED
    default_remediation = "Check that both embedding sets come from the same probe points in the same order."


class DegenerateProcrustes(GaugeError):
    default_code = ErrorCode.PROCRUSTES_DEGENERATE
    default_remediation = (
        "The frame is (near) rank-deficient, which usually means a collapsed encoder: inspect "
        "effective_rank and latent_std_mean, or use more probe points than latent dimensions."
    )


# --- aggregation ----------------------------------------------------------------------------------
class AggregationError(LensembleError):
    default_code = ErrorCode.AGGREGATION_FAILED
    default_remediation = "Send deltas with exactly the global model's parameter names, shapes and dtypes."


class NonDeterministicAggregation(AggregationError):
    default_code = ErrorCode.AGG_NONDETERMINISTIC
    default_remediation = "Reduce deltas in sorted participant order in a fixed dtype with no nondeterministic kernels."


class QuorumNotMet(AggregationError):
    default_code = ErrorCode.QUORUM_NOT_MET
    default_remediation = "Wait for at least the quorum of participants or lower min_participants in the config."


class RoundError(LensembleError):
    default_code = ErrorCode.ROUND_FAILED
    default_remediation = "Restart the round from the last committed checkpoint."


# --- artifacts ------------------------------------------------------------------------------------
class ArtifactError(LensembleError):
    default_code = ErrorCode.ARTIFACT_INVALID
    default_remediation = "Re-export the artifact with a conforming writer (RFC-0010)."


class SchemaVersionMismatch(ArtifactError):
    default_code = ErrorCode.SCHEMA_VERSION_MISMATCH
    default_remediation = "Upgrade lensemble-spec to a version that reads this schema_version."


class CheckpointIntegrityError(ArtifactError):
    default_code = ErrorCode.CHECKPOINT_INTEGRITY
    default_remediation = "The checkpoint does not match its header hash; re-download or re-create it from the run."


class PinError(ArtifactError):
    default_code = ErrorCode.PIN_INVALID
    default_remediation = (
        "Pin artifacts as hf://{models|datasets}/<org>/<name>@<40-hex revision> with each file's sha256."
    )


class PinUnresolved(PinError):
    default_code = ErrorCode.PIN_UNRESOLVED
    default_remediation = (
        "Populate the local Hugging Face cache with the pinned revision (no network is used at run time)."
    )


class PathEscape(ArtifactError):
    default_code = ErrorCode.PATH_ESCAPE
    default_remediation = (
        "Name files relative to the run directory, without '..', absolute paths or symlinks out of it."
    )


# --- probe ----------------------------------------------------------------------------------------
class ProbeError(LensembleError):
    default_code = ErrorCode.PROBE_INVALID
    default_remediation = "Rebuild the probe from its pinned source; its targets must come from the round-0 encoder."


# --- evaluation and input validation --------------------------------------------------------------
class EvaluationError(LensembleError):
    default_code = ErrorCode.EVALUATION_FAILED
    default_remediation = "Pass finite latents with at least two samples and matching shapes."


class InputError(EvaluationError):
    """Bad array input to a metric (NaN/Inf, wrong rank, shape mismatch, too few samples)."""

    default_code = ErrorCode.INPUT_INVALID


class DataError(LensembleError):
    default_code = ErrorCode.DATA_INVALID
    default_remediation = "Point the loader at a valid dataset root; see README for the expected layout."


class RequirementError(LensembleError):
    default_code = ErrorCode.REQUIREMENT_INVALID
    default_remediation = "Fix the requirement block at the named file and line (see rfcs/README.md for the format)."


__all__ = [name for name in dir() if not name.startswith("_") and name not in {"annotations", "Enum"}]
