"""ComplianceReport: what one conformance run of the pytest plugin writes (``results.json``).

Written by ``lensemble_spec.plugin`` at the end of a conformance session and read by
``lensemble-spec report``. One document answers: *which implementation, checked how, against
which requirements, with what result* — and makes a shrunken run impossible to read as green
(counts of collected / run / skipped / not-implemented tests sit beside the verdict).

Vocabulary (the contract the report and the conformance suite share):

Test outcome (one pytest item):
    ``passed``, ``failed`` (assertion in the test body, or a strict XPASS), ``error`` (setup or
    teardown raised), ``skipped``, ``xfailed`` (failed as the expectations file said it would),
    ``xpassed`` (passed although expected to fail; non-strict), ``not-implemented`` (skipped
    because the capability part the test needs is ``None``), ``deselected`` (filtered out by
    ``--rfc``, ``-k`` or ``-m``; listed only in counts).

Requirement status, from the outcomes of every test that names it, first match wins:
    1. ``failed``            any test failed or errored
    2. ``expected-failure``  any test xfailed (a *known* failure is still a failure of the spec)
    3. ``not-implemented``   any test hit a missing capability part
    4. ``passed``            at least one test passed (or xpassed)
    5. ``skipped``           tests were collected but every one was skipped
    6. ``not-tested``        no test naming it was run or collected (or all were deselected)

Verdict of a set of requirements (one RFC, one RFC 2119 level, or the whole scope):
    ``non-conformant`` any of them is failed or expected-failure;
    ``partial``        none failed, at least one is not-implemented;
    ``incomplete``     none failed or not-implemented, at least one is skipped or not-tested;
    ``conformant``     every one passed;
    ``not-applicable`` the set is empty.
Per part (``by_part``): the MUST requirements named by tests that call that implementation part
(``gauge``, ``model``, ``federation``, ``artifacts``; a test reading a federation run counts as
``federation``), each judged on those tests alone — so a gauge-only implementation can be
``gauge: conformant`` while the overall verdict is ``partial``.
The per-RFC and overall verdicts are computed over **MUST** requirements only (SHOULD/MAY never
make an implementation non-conformant); ``by_level`` gives the same rule applied to each of
MUST, SHOULD and MAY separately. ``conformant`` (bool) is ``overall == "conformant"``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from ._base import StrictModel, VersionedDocument
from ._types import Timestamp
from .round import RoundRecord

COMPLIANCE_SCHEMA_VERSION = 1

ItemOutcome = Literal[
    "passed", "failed", "error", "skipped", "xfailed", "xpassed", "not-implemented"
]
RequirementStatus = Literal[
    "passed", "failed", "expected-failure", "not-implemented", "skipped", "not-tested"
]
Verdict = Literal["conformant", "partial", "incomplete", "non-conformant", "not-applicable"]
RequirementLevel = Literal["MUST", "SHOULD", "MAY"]
RunLevel = Literal["quick", "full"]

#: Status precedence, highest first (see module docstring).
STATUS_PRECEDENCE: tuple[str, ...] = (
    "failed",
    "expected-failure",
    "not-implemented",
    "passed",
    "skipped",
    "not-tested",
)
#: Verdict precedence, worst first.
VERDICT_ORDER: tuple[str, ...] = (
    "non-conformant",
    "partial",
    "incomplete",
    "conformant",
    "not-applicable",
)


_Strict = StrictModel  # frozen, extra="forbid", finite floats


class ImplementationInfo(_Strict):
    """The implementation under test (``None`` fields for an artifact-only run)."""

    spec: str | None = None  # what --impl / LENSEMBLE_SPEC_IMPL said
    name: str | None = None
    version: str | None = None
    capabilities: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)


class HypothesisInfo(_Strict):
    profile: str | None = None
    max_examples: int | None = None
    derandomize: bool | None = None
    deadline_ms: float | None = None
    seed: str | None = None  # --hypothesis-seed when given


class RunInfo(_Strict):
    impl: ImplementationInfo = Field(default_factory=ImplementationInfo)
    lensemble_spec_version: str
    python: str
    platform: str
    pytest: str
    torch: str | None = None
    numpy: str | None = None
    level: RunLevel = "full"
    rfc_filter: list[str] = Field(default_factory=list)
    parts: list[str] = Field(default_factory=list, description="`--lensemble-parts` scope; empty means every part.")
    require: Literal["conformant", "partial"] | None = Field(
        default=None, description="`--lensemble-require` gate the exit code followed, if any."
    )
    run_dirs: list[str] = Field(default_factory=list)
    expectations_file: str | None = None
    strict_expectations: bool = False
    hypothesis: HypothesisInfo = Field(default_factory=HypothesisInfo)
    rootdir: str
    args: list[str] = Field(default_factory=list)
    started_at: Timestamp  # ISO 8601, UTC
    finished_at: Timestamp
    duration_s: float = Field(ge=0)
    exit_status: int | None = None


class Counts(_Strict):
    """Test counts. ``run`` = tests whose body executed to a result (passed + failed + xfailed +
    xpassed; errors in setup/teardown count as ``errors``, not as run)."""

    collected: int = Field(ge=0)
    deselected: int = Field(ge=0)
    selected: int = Field(ge=0)
    run: int = Field(ge=0)
    passed: int = Field(ge=0)
    failed: int = Field(ge=0)
    errors: int = Field(ge=0)
    skipped: int = Field(ge=0)
    xfailed: int = Field(ge=0)
    xpassed: int = Field(ge=0)
    not_implemented: int = Field(ge=0)
    collection_errors: int = Field(ge=0, default=0)
    unmapped: int = Field(ge=0, default=0)  # selected tests naming no requirement


class ItemResult(_Strict):
    nodeid: str
    outcome: ItemOutcome
    requirements: list[str] = Field(default_factory=list)
    level: RunLevel = "quick"
    parts: list[str] = Field(
        default_factory=list,
        description="Implementation parts the test calls (`gauge`, `model`, `federation`, `artifacts`).",
    )
    duration_s: float = Field(ge=0, default=0.0)
    message: str | None = None  # short failure message or skip/xfail reason
    details: str | None = Field(
        default=None,
        description="Full failure text (traceback, Hypothesis falsifying example), at most 20 000 characters.",
    )
    expectation: Literal["xfail", "skip"] | None = None
    expectation_reason: str | None = None


class RequirementResult(_Strict):
    id: str
    rfc: str
    section: str
    rfc_location: str | None = Field(
        default=None, description="Where the RFC states the requirement: `rfcs/RFC-NNNN-….md:line`."
    )
    level: RequirementLevel
    text: str
    status: RequirementStatus
    tests: list[str] = Field(default_factory=list)
    outcomes: dict[str, int] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)
    messages: list[str] = Field(default_factory=list)


class StatusCounts(_Strict):
    total: int = Field(ge=0, default=0)
    passed: int = Field(ge=0, default=0)
    failed: int = Field(ge=0, default=0)
    expected_failure: int = Field(ge=0, default=0)
    not_implemented: int = Field(ge=0, default=0)
    skipped: int = Field(ge=0, default=0)
    not_tested: int = Field(ge=0, default=0)


class ScopeVerdict(_Strict):
    """Verdict of one set of requirements (an RFC, a level, or everything in scope)."""

    verdict: Verdict
    statuses: StatusCounts


class Verdicts(_Strict):
    overall: Verdict
    conformant: bool
    must: StatusCounts
    by_rfc: dict[str, ScopeVerdict] = Field(default_factory=dict)
    by_level: dict[str, ScopeVerdict] = Field(default_factory=dict)
    #: per implementation part: the MUST requirements its tests check, judged on those tests only
    by_part: dict[str, ScopeVerdict] = Field(
        default_factory=dict,
        description="Verdict per implementation part over the mandatory requirements its tests check.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Verdicts:
        if self.conformant != (self.overall == "conformant"):
            raise ValueError("`conformant` must equal (overall == 'conformant')")
        return self


class ExpectationEntry(_Strict):
    kind: Literal["xfail", "skip"]
    match: str  # requirement id or node-id prefix
    reason: str
    by: Literal["requirement", "nodeid"]
    matched: list[str] = Field(default_factory=list)  # node ids


class RunRecords(_Strict):
    """Per-round records of one run directory (for the report's plots); see report.runs."""

    run_dir: str
    control: str | None = None
    source: str | None = None  # which file the records were read from
    latent_dim: int | None = Field(
        default=None, ge=1, description="d, from the shape (k, d) of `probe.safetensors`' targets."
    )
    records: list[RoundRecord] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


class ComplianceReport(VersionedDocument):
    """The whole results document (schema_version 1; newer versions raise SchemaVersionMismatch)."""

    SCHEMA_VERSION = COMPLIANCE_SCHEMA_VERSION
    RFC_RULES: ClassVar[tuple[str, ...]] = (
        "`requirements` names each requirement id once; its `status` follows the precedence failed, "
        "expected-failure, not-implemented, passed, skipped, not-tested over the outcomes of the tests naming it.",
        "`verdicts.conformant` is true exactly when `verdicts.overall` is `conformant`; verdicts are computed over "
        "the `MUST` requirements only (`by_level` applies the same rule to each level).",
    )
    schema_version: Literal[1] = COMPLIANCE_SCHEMA_VERSION
    kind: Literal["lensemble-spec/compliance"] = "lensemble-spec/compliance"
    run_info: RunInfo
    counts: Counts
    verdicts: Verdicts
    requirements: list[RequirementResult]
    tests: list[ItemResult] = Field(default_factory=list)
    expectations: list[ExpectationEntry] = Field(default_factory=list)
    stale_expectations: list[ExpectationEntry] = Field(default_factory=list)
    unknown_requirement_ids: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    runs: list[RunRecords] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_requirements(self) -> ComplianceReport:
        ids = [r.id for r in self.requirements]
        if len(ids) != len(set(ids)):
            raise ValueError("requirement ids must be unique in a compliance report")
        return self


# --- the aggregation rules, kept beside the vocabulary they define --------------------------------
def requirement_status(outcomes: list[str]) -> str:
    """Status of a requirement from its tests' outcomes (module docstring, rules 1-6)."""
    present = set(outcomes)
    if present & {"failed", "error"}:
        return "failed"
    if "xfailed" in present:
        return "expected-failure"
    if "not-implemented" in present:
        return "not-implemented"
    if present & {"passed", "xpassed"}:
        return "passed"
    if "skipped" in present:
        return "skipped"
    return "not-tested"


def status_counts(statuses: list[str]) -> StatusCounts:
    counts = {"total": len(statuses)}
    for s in statuses:
        key = s.replace("-", "_")
        counts[key] = counts.get(key, 0) + 1
    return StatusCounts(**counts)


def verdict_of(statuses: list[str]) -> str:
    """Verdict of a set of requirement statuses (module docstring)."""
    present = set(statuses)
    if not statuses:
        return "not-applicable"
    if present & {"failed", "expected-failure"}:
        return "non-conformant"
    if "not-implemented" in present:
        return "partial"
    if present & {"skipped", "not-tested"}:
        return "incomplete"
    return "conformant"


__all__ = [
    "COMPLIANCE_SCHEMA_VERSION",
    "ComplianceReport",
    "Counts",
    "ExpectationEntry",
    "HypothesisInfo",
    "ImplementationInfo",
    "ItemResult",
    "RequirementResult",
    "RunInfo",
    "RunRecords",
    "ScopeVerdict",
    "StatusCounts",
    "Verdicts",
    "requirement_status",
    "status_counts",
    "verdict_of",
]
