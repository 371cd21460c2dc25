"""Verification of artifacts without trusting their writer: run directories and published claims.

* :func:`verify_run` — a run directory or a comparison directory (RFC-0010 files and hashes, the
  parent chain, pins, and the recomputation of recorded and claimed metrics from the committed
  weights, RFC-0002/RFC-0005);
* :func:`verify_claims` — a claim document (pins; claims in kind on a results table; numbers);
* :func:`findings_to_pytest_params` — findings as ``pytest.param`` objects marked with their
  requirement ids, for the conformance suite's ``--run DIR`` tests.
"""

from __future__ import annotations

from .api import is_comparison, verify_run
from .claims import check_claims, evaluate_cell, evaluate_claim, verify_claims
from .findings import RUN_REQUIREMENTS, add_knock_on, findings_for, is_not_checkable
from .report import STATUSES, Finding, VerificationReport, findings_to_pytest_params
from .results import expected_verdict

__all__ = [
    "RUN_REQUIREMENTS",
    "STATUSES",
    "Finding",
    "VerificationReport",
    "add_knock_on",
    "check_claims",
    "evaluate_cell",
    "evaluate_claim",
    "expected_verdict",
    "findings_for",
    "findings_to_pytest_params",
    "is_comparison",
    "is_not_checkable",
    "verify_claims",
    "verify_run",
]
