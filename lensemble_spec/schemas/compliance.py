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
    because the capability part or method the test needs is absent or raised
    ``NotImplementedError``), ``not-applicable`` (the suite established that the check has
    nothing to apply to: an optional feature the implementation *declares* it does not offer, or
    a document the given inputs cannot contain, e.g. artifact pins in runs made without
    ``--run``), ``deselected`` (filtered out by ``--rfc``, ``-k`` or ``-m``; listed only in counts).
    Only the suite sets ``not-applicable`` (a skip reason starting ``not-applicable:``); a
    capability that is declared but does not work, or a method that raises, never reads so.
    ``precondition-not-met`` (a skip reason starting ``harness precondition not met:``): the
    harness, not the implementation, could not set the check up — its oracle refused the input,
    the harness world does not fit the model's declared shapes, … — and the message names the fix.
    Never a failure of the implementation and never a pass.

Requirement status, from the outcomes of every test that names it, first match wins:
    1. ``failed``            any test failed or errored
    2. ``expected-failure``  any test xfailed (a *known* failure is still a failure of the spec)
    3. ``not-implemented``   any test hit a missing capability part or method
    4. ``passed``            at least one test passed (or xpassed)
    5. ``precondition-not-met`` a test hit a harness precondition not met
    6. ``skipped``           a test was skipped for another reason
    7. ``not-applicable``    every test that ran was not-applicable
    8. ``not-tested``        no test naming it was run or collected (or all were deselected)
So a pass in any test beats not-applicable, skipped and precondition-not-met; a skip beats
not-applicable (something that applies was left unchecked); a harness precondition beats a plain
skip (it names its fix); nothing but a failure or a missing capability beats a pass.

Verdict of a set of requirements (one RFC, one RFC 2119 level, one part, or the whole scope),
:func:`verdict_of` over their statuses with ``not-applicable`` ones left out:
    ``non-conformant`` any of them is failed or expected-failure;
    ``partial``        none failed, at least one is not-implemented;
    ``incomplete``     none failed or not-implemented, at least one is skipped, precondition-not-met
                       or not-tested (anything but passed);
    ``conformant``     every one passed;
    ``not-applicable`` the set is empty (or every one is not-applicable).
Every verdict is this one function over the requirements' statuses (one status per requirement
in the whole document, from all its tests): the overall verdict over every MUST requirement,
``by_rfc`` over an RFC's MUST requirements, ``by_part`` over the MUST requirements named by any
test that calls that implementation part (``gauge``, ``model``, ``federation``, ``artifacts``; a
test reading a federation run counts as ``federation``). A part's verdict is therefore never
better than the overall verdict's worst requirement it names, and an overall ``conformant``
means every part is ``conformant``. To judge one part alone, ``--lensemble-parts`` drops the
other parts' tests before they run.
The per-RFC, per-part and overall verdicts are computed over **MUST** requirements only
(SHOULD/MAY never make an implementation non-conformant); ``by_level`` gives the same rule applied
to each of MUST, SHOULD and MAY separately. ``conformant`` (bool) is ``overall == "conformant"``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from ._base import StrictModel, VersionedDocument
from ._types import Timestamp
from .round import RoundRecord

COMPLIANCE_SCHEMA_VERSION = 1

ItemOutcome = Literal[
    "passed", "failed", "error", "skipped", "xfailed", "xpassed", "not-implemented", "not-applicable",
    "precondition-not-met",
]
RequirementStatus = Literal[
    "passed", "failed", "expected-failure", "not-implemented", "precondition-not-met", "skipped", "not-applicable",
    "not-tested",
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
    "precondition-not-met",
    "skipped",
    "not-applicable",
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
    not_applicable: int = Field(
        ge=0,
        default=0,
        description="Tests the suite found nothing to apply to (an optional feature the implementation declares it "
            "does not offer, a document the inputs cannot contain).",
    )
    precondition_not_met: int = Field(
        ge=0,
        default=0,
        description="Tests the harness could not set up (a harness precondition not met; the message names the fix): "
            "unchecked, never failed or passed.",
    )
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
    not_applicable: int = Field(
        ge=0,
        default=0,
        description="Requirements every test of which found nothing to apply to; left out of the verdict.",
    )
    precondition_not_met: int = Field(
        ge=0,
        default=0,
        description="Requirements left unchecked because a harness precondition was not met (the harness's problem, "
            "not the implementation's); never passed.",
    )
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
        "expected-failure, not-implemented, passed, precondition-not-met, skipped, not-applicable, not-tested over the "
        "outcomes of the tests naming it.",
        "`verdicts.conformant` is true exactly when `verdicts.overall` is `conformant`; verdicts are computed over "
        "the `MUST` requirements only (`by_level` applies the same rule to each level).",
        "Every verdict (overall, `by_rfc`, `by_part`, `by_level`) is the same function of the `status` of the "
        "requirements in its scope, not-applicable ones left out: non-conformant if any is failed or expected-failure, "
        "else partial if any is not-implemented, else incomplete if any is precondition-not-met, skipped or "
        "not-tested, "
        "else conformant; "
        "`not-applicable` when none is left.",
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
    """Status of a requirement from its tests' outcomes (module docstring, rules 1-8)."""
    present = set(outcomes)
    if present & {"failed", "error"}:
        return "failed"
    if "xfailed" in present:
        return "expected-failure"
    if "not-implemented" in present:
        return "not-implemented"
    if present & {"passed", "xpassed"}:
        return "passed"
    if "precondition-not-met" in present:
        return "precondition-not-met"
    if "skipped" in present:
        return "skipped"
    if "not-applicable" in present:
        return "not-applicable"
    return "not-tested"


def status_counts(statuses: list[str]) -> StatusCounts:
    counts = {"total": len(statuses)}
    for s in statuses:
        key = s.replace("-", "_")
        counts[key] = counts.get(key, 0) + 1
    return StatusCounts(**counts)


def verdict_of(statuses: list[str]) -> str:
    """Verdict of a set of requirement statuses (module docstring); ``not-applicable`` statuses
    are left out, so a requirement with nothing to apply to neither helps nor hurts."""
    statuses = [s for s in statuses if s != "not-applicable"]
    present = set(statuses)
    if not statuses:
        return "not-applicable"
    if present & {"failed", "expected-failure"}:
        return "non-conformant"
    if "not-implemented" in present:
        return "partial"
    if present - {"passed"}:  # skipped, precondition-not-met, not-tested: unchecked, never passed
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
