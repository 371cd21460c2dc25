"""Which requirement ids each mutant must fail, and which tests it is run against.

``args`` restricts a mutant's conformance session to the tests its defect can reach. A unit
mutant replaces protocol methods of one part; its session runs the test files that call those
methods (checked statically by ``test_mutants.py::test_unit_selection_is_sound``). The harness's
runs go through ``FederationPart.run``, which in the reference calls its own internals, never the
wrapped protocol methods, so run tests are left out exactly for the mutants that do not touch
``run``; run-level mutants are checked against every run test (``-m harness_run``), and the two
whose defect only shows below quorum or with a too-small probe against the one run that has it
(``-k``). Run directories are checked by the marker ``harness_run`` too (``rundirs.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


#: What a mutant's session runs: test files (the only ones calling the methods the mutant
#: replaces; ``test_unit_selection_is_sound`` checks that statically) or a marker expression.
def files(*names: str) -> tuple[str, ...]:
    return tuple(f"conformance/{n}" for n in names)


PRIMITIVES = files("test_gauge_primitives.py")
ROTATE = files("test_gauge_model.py", "test_gauge_backstop.py")  # rotate / predict
LOSS = files("test_gauge_model.py", "test_gauge_frame_anchor.py", "test_federation_local.py")  # loss_terms
OUTER = files("test_federation_outer.py")  # outer_init / outer_step
LOCAL = files("test_federation_local.py")  # local_update
BACKSTOP = files("test_gauge_backstop.py")  # align_release
ARTIFACTS = files("test_artifacts.py", "test_artifacts_shards_versions.py")  # save_checkpoint / load_checkpoint
RUNS = ("conformance", "-m", "harness_run")  # FederationPart.run
MODEL_AND_RUNS = ("conformance", "-m", "part_model or harness_run")  # encode, everywhere


@dataclass(frozen=True)
class Mutant:
    impl: str  # --impl spec
    args: tuple[str, ...]  # what the session runs (paths, -m, -k)
    expected: frozenset[str]  # requirement ids the suite must report as failed
    defect: str  # one line: what is wrong


def _m(impl: str, args: tuple[str, ...], expected: set[str], defect: str, keyword: str = "") -> Mutant:
    return Mutant(impl, args + (("-k", keyword) if keyword else ()), frozenset(expected), defect)


MUTANTS: dict[str, Mutant] = {
    # --- gauge part (RFC-0002 §3, §7) ---
    "procrustes-transpose": _m(
        "mutants.gauge:procrustes_transpose",
        PRIMITIVES,
        {"GAUGE-011", "GAUGE-012", "GAUGE-013", "GAUGE-014"},
        "procrustes_align returns Qᵀ",
    ),
    "trace-angle": _m(
        "mutants.gauge:trace_angle",
        PRIMITIVES,
        {"GAUGE-016", "GAUGE-018", "GAUGE-020"},
        "saturating arccos((tr Q − (d−2))/2) angle (self-consistent: not charged to GAUGE-019)",
    ),
    "drift-over-sod": _m(
        "mutants.gauge:drift_over_sod",
        PRIMITIVES,
        {"GAUGE-019"},
        "frame_drift_deg over SO(d) while procrustes_align is over O(d)",
    ),
    "degenerate-zero": _m(
        "mutants.gauge:degenerate_zero", PRIMITIVES, {"GAUGE-020"}, "degenerate frame reported as 0° drift"
    ),
    "rank-floor": _m(
        "mutants.gauge:rank_floor",
        PRIMITIVES,
        {"GAUGE-036", "GAUGE-037", "GAUGE-038"},
        "eigenvalues floored at 1e-12: a constant latent reads full rank, a near-rank-1 spectrum reads high",
    ),
    # --- model part (RFC-0002 §2) ---
    "rotate-transpose": _m(
        "mutants.model:rotate_transpose",
        ROTATE,
        {"GAUGE-002", "GAUGE-003", "GAUGE-007", "GAUGE-009"},
        "rotate applies Qᵀ",
    ),
    "fixed-sketch": _m(
        "mutants.model:fixed_sketch",
        LOSS,
        {"GAUGE-007", "GAUGE-008", "GAUGE-009"},
        "loss_terms ignores the given sketch (not co-rotatable)",
    ),
    "magnitude-collapse": _m(
        "mutants.model:magnitude_collapse", MODEL_AND_RUNS, {"GAUGE-042"}, "encoder output scaled by 1e-4"
    ),
    # --- federation part, unit level (RFC-0002 §5, RFC-0003) ---
    "flipped-sign": _m(
        "mutants.federation:flipped_sign",
        OUTER,
        {"FED-015", "FED-016", "FED-017"},
        "outer step subtracts the local−global delta",
    ),
    "plain-momentum": _m(
        "mutants.federation:plain_momentum",
        OUTER,
        {"FED-016", "FED-017"},
        "heavy-ball momentum where Nesterov is declared",
    ),
    "arrival-order": _m("mutants.federation:arrival_order", OUTER, {"FED-020"}, "float32 reduction in arrival order"),
    "mutating-state": _m(
        "mutants.federation:mutating_state", OUTER, {"FED-014", "FED-018"}, "outer_step decays the given state in place"
    ),
    "reads-states": _m(
        "mutants.federation:reads_states",
        LOCAL,
        {"FED-004"},
        "local_update's sampler seed depends on ground-truth states",
    ),
    "delta-only-backstop": _m(
        "mutants.federation:delta_only_backstop",
        BACKSTOP,
        {"GAUGE-027", "GAUGE-028", "GAUGE-029"},
        "backstop rotates only the delta",
    ),
    "kabsch-backstop": _m(
        "mutants.federation:kabsch_backstop",
        BACKSTOP,
        {"GAUGE-026", "GAUGE-029"},
        "backstop aligns over SO(d) (reflections not undone)",
    ),
    # --- federation part, inside run (RFC-0002 §4, RFC-0003 §2) ---
    "resnapshot-targets": _m(
        "mutants.runs:resnapshot_targets", RUNS, {"GAUGE-023", "GAUGE-024"}, "anchor targets re-snapshotted every round"
    ),
    "no-anchor": _m("mutants.runs:no_anchor", RUNS, {"GAUGE-023", "GAUGE-025"}, "run trains without the anchor"),
    "writes-raw-data": _m(
        "mutants.runs:writes_raw_data", RUNS, {"FED-005", "ART-015"}, "run directory caches raw silo observations"
    ),
    "procrustes-lstsq": _m(
        "mutants.gauge:procrustes_lstsq",
        PRIMITIVES,
        {"GAUGE-010", "GAUGE-014", "GAUGE-015"},
        "least-squares map instead of an orthogonal one",
    ),
    "no-degenerate-check": _m(
        "mutants.gauge:no_degenerate_check", PRIMITIVES, {"GAUGE-014", "GAUGE-015"}, "rank-deficient SᵀT aligned anyway"
    ),
    "full-rank-only": _m(
        "mutants.gauge:full_rank_only",
        PRIMITIVES,
        {"GAUGE-014", "GAUGE-020"},
        "a rank d − 1 (LayerNorm) frame refused as degenerate",
    ),
    "float32-angles": _m(
        "mutants.gauge:float32_angles", PRIMITIVES, {"GAUGE-017"}, "arccos in float32: noise floor near 0°"
    ),
    "sample-std": _m("mutants.gauge:sample_std", PRIMITIVES, {"GAUGE-039"}, "latent_std_mean with ddof=1"),
    "eigen-entropy-rank": _m(
        "mutants.gauge:eigen_entropy_rank", PRIMITIVES, {"GAUGE-036"}, "entropy of eigenvalues, not singular values"
    ),
    "noisy-predict": _m(
        "mutants.model:noisy_predict", ROTATE, {"GAUGE-001"}, "predict is not a function of its arguments"
    ),
    "rotate-in-place": _m(
        "mutants.model:rotate_in_place",
        ROTATE,
        {"GAUGE-002", "GAUGE-003", "GAUGE-004", "GAUGE-021"},
        "rotate overwrites the parameters it was given",
    ),
    "pred-doubled": _m("mutants.model:pred_doubled", LOSS, {"GAUGE-005"}, "pred term twice the mean squared error"),
    "frame-weighted-pred": _m(
        "mutants.model:frame_weighted_pred",
        LOSS,
        {"GAUGE-005", "GAUGE-006", "GAUGE-009"},
        "pred weights latent coordinates unequally",
    ),
    "anchor-epsilon": _m("mutants.model:anchor_epsilon", LOSS, {"GAUGE-009"}, "anchor term 1e-12 without an anchor"),
    "anchor-unweighted": _m(
        "mutants.model:anchor_unweighted", LOSS, {"GAUGE-021", "GAUGE-043"}, "anchor term ignores the weight"
    ),
    "frame-as-landmark": _m(
        "mutants.model:frame_as_landmark",
        LOSS,
        {"GAUGE-043", "GAUGE-044"},
        "a frame-only anchor computed as the landmark anchor (pins content)",
    ),
    "no-probe-check": _m(
        "mutants.model:no_probe_check", LOSS, {"GAUGE-022"}, "loss_terms drops a k < d anchor silently"
    ),
    "float64-delta": _m("mutants.federation:float64_delta", LOCAL, {"FED-001"}, "delta returned in float64"),
    "no-residency-check": _m(
        "mutants.federation:no_residency_check",
        OUTER,
        {"FED-003", "FED-014"},
        "outer step drops foreign names silently",
    ),
    "writes-into-anchor": _m(
        "mutants.federation:writes_into_anchor", LOCAL, {"FED-006"}, "local_update scribbles on the anchor"
    ),
    "at-least-one-step": _m("mutants.federation:at_least_one_step", LOCAL, {"FED-007"}, "steps=0 still trains"),
    "negated-delta": _m("mutants.federation:negated_delta", LOCAL, {"FED-008"}, "local_update releases global − local"),
    "noisy-outer": _m(
        "mutants.federation:noisy_outer",
        OUTER,
        {"FED-014", "FED-018", "FED-019", "FED-020"},
        "one-ulp random jitter in the outer step",
    ),
    "float64-global": _m("mutants.federation:float64_global", OUTER, {"FED-021"}, "new global in float64"),
    "empty-is-noop": _m(
        "mutants.federation:empty_is_noop", OUTER, {"FED-014", "FED-022"}, "no deltas returns the global unchanged"
    ),
    "mismatch-is-value-error": _m(
        "mutants.federation:mismatch_is_value_error", OUTER, {"FED-023"}, "mismatched delta raises an untyped error"
    ),
    "nan-to-zero": _m(
        "mutants.federation:nan_to_zero", OUTER, {"FED-014", "FED-024"}, "non-finite updates zeroed instead of refused"
    ),
    "align-swallows-degenerate": _m(
        "mutants.federation:align_swallows_degenerate",
        BACKSTOP,
        {"GAUGE-030"},
        "degenerate probe embedding released unaligned",
    ),
    "ignores-quorum": _m(
        "mutants.runs:ignores_quorum",
        RUNS,
        {"FED-012"},
        "run below quorum trains anyway",
        keyword="test_run_below_quorum",
    ),
    "no-probe-check-in-run": _m(
        "mutants.runs:no_probe_check_in_run",
        RUNS,
        {"GAUGE-022"},
        "run accepts a k < d probe",
        keyword="test_run_rejects_a_probe",
    ),
    # --- primitives only (no run): the harness drives the federation (baseline reference-primitives) ---
    "magnitude-collapse-primitives": _m(
        "mutants.primitives:magnitude_collapse_primitives",
        RUNS,
        {"GAUGE-042"},
        "primitives only; encoder latents 1e-3 of the reference's",
    ),
    # --- artifacts part (RFC-0010) ---
    "extra-file": _m("mutants.artifacts:extra_file", ARTIFACTS, {"ART-001"}, "checkpoint directory holds a README"),
    "unsorted-manifest": _m(
        "mutants.artifacts:unsorted_manifest", ARTIFACTS, {"ART-004"}, "tensor_manifest not sorted by name"
    ),
    "casts-dtypes": _m(
        "mutants.artifacts:casts_dtypes", ARTIFACTS, {"ART-005", "ART-011"}, "unsupported dtypes stored as float32"
    ),
    "no-residency-on-save": _m(
        "mutants.artifacts:no_residency_on_save", ARTIFACTS, {"ART-006", "ART-011"}, "any tensor name written"
    ),
    "returns-file-digest": _m(
        "mutants.artifacts:returns_file_digest", ARTIFACTS, {"ART-008"}, "save returns sha256(header.json)"
    ),
    "loads-as-float32": _m(
        "mutants.artifacts:loads_as_float32", ARTIFACTS, {"ART-010"}, "load returns float32 for every dtype"
    ),
    "leaves-debris": _m(
        "mutants.artifacts:leaves_debris", ARTIFACTS, {"ART-011"}, "failed save leaves a partial directory"
    ),
    "overwrites": _m("mutants.artifacts:overwrites", ARTIFACTS, {"ART-012"}, "existing checkpoint replaced"),
    "follows-paths": _m(
        "mutants.artifacts:follows_paths", ARTIFACTS, {"ART-026"}, "weight files read outside the checkpoint"
    ),
    "unbounded-json": _m(
        "mutants.artifacts:unbounded_json", ARTIFACTS, {"ART-027", "ART-028"}, "header parsed without size/depth limits"
    ),
    "duplicate-keys-allowed": _m(
        "mutants.artifacts:duplicate_keys_allowed", ARTIFACTS, {"ART-028"}, "repeated JSON keys: last one wins"
    ),
    "any-schema-version": _m(
        "mutants.artifacts:any_schema_version", ARTIFACTS, {"ART-029"}, "any schema_version read as 1"
    ),
    "hash-without-dtype": _m(
        "mutants.artifacts:hash_without_dtype", ARTIFACTS, {"ART-007", "ART-009"}, "content hash omits the dtype"
    ),
    "unpickles-weights": _m(
        "mutants.artifacts:unpickles_weights", ARTIFACTS, {"ART-003"}, "loader deserialises pickle files"
    ),
    "single-file-loader": _m(
        "mutants.artifacts:single_file_loader", ARTIFACTS, {"ART-002"}, "loader refuses a sharded checkpoint"
    ),
    "rewrites-header-on-load": _m(
        "mutants.artifacts:rewrites_header_on_load", ARTIFACTS, {"ART-030"}, "loader rewrites header.json"
    ),
    # --- values recorded vs values used, defaults (RFC-0010 ART-017, RFC-0003 FED-025) ---
    "ignores-batch-size": _m(
        "mutants.runs:ignores_batch_size", RUNS, {"ART-017"}, "trains with batch 8 whatever batch_size says"
    ),
    "diloco-default-outer": _m(
        "mutants.federation:diloco_default_outer",
        ("conformance",),
        {"FED-025"},
        "default outer lr 0.7, momentum 0.9",
        keyword="test_default_outer_configuration",
    ),
}


#: Tampered run directories (``rundirs.TAMPERS``): the ids the suite must fail for each.
TAMPER_EXPECTED: dict[str, frozenset[str]] = {
    name: frozenset(ids)
    for name, ids in {
        "targets-refreshed": {"EVAL-010", "EVAL-011", "GAUGE-024", "GAUGE-033"},
        "backstop-fired-when-disabled": {"GAUGE-031"},
        "backstop-flags-missing": {"GAUGE-032"},
        "drift-misrecorded": {"GAUGE-033"},
        "pairwise-without-pairs": {"GAUGE-034"},
        "degenerate-as-zero": {"GAUGE-033", "GAUGE-035"},
        "anchored-drift-large": {"GAUGE-033", "GAUGE-040"},
        "rank-collapsed": {"GAUGE-041", "EVAL-007"},
        "scale-collapsed": {"GAUGE-042", "EVAL-007"},
        "foreign-tensor": {"EVAL-007", "EVAL-010", "FED-002"},
        "raw-data-file": {"FED-005", "ART-015"},
        "round-missing": {"FED-009"},
        "below-quorum": {"FED-011"},
        "record-chain-broken": {"FED-013"},
        "record-wrong-control": {"ART-020", "FED-010"},
        "sketch-seeds-wrong": {"FED-026"},
        "config-hash-not-canonical": {"ART-013", "ART-014"},
        "config-hash-legacy": {"ART-013", "ART-014"},
        "checkpoint-config-hash": {"ART-014"},
        "stray-file": {"ART-015", "FED-005"},
        "manifest-extra-field": {"ART-016"},
        "config-field-missing": {"ART-017", "EVAL-003", "EVAL-004"},
        "manifest-entry-missing": {"ART-015", "ART-018", "ART-019", "ART-021", "FED-005"},
        "checkpoint-parent-broken": {"ART-019"},
        "records-out-of-order": {"ART-020", "FED-009", "FED-013"},
        "record-global-hash-wrong": {"ART-021"},
        "probe-hash-wrong": {"ART-022", "EVAL-001"},
        "pin-branch": {"ART-023", "EVAL-015"},
        "pin-without-sha": {"ART-024", "EVAL-018"},
        "pin-cache-tampered": {"ART-025"},
        "pin-not-cached": {"ART-025"},
        "control-missing": {"EVAL-001", "EVAL-005"},
        "round0-differs": {"EVAL-002"},
        "budget-differs": {"EVAL-003", "EVAL-004"},
        "naive-changes-more": {"EVAL-004"},
        "local-only-aggregates": {"ART-021", "EVAL-005"},
        "centralized-partial": {"EVAL-006"},
        "effective-dim-misrecorded": {"EVAL-007"},
        "heldout-in-record": {"EVAL-008"},
        "rank-without-scale": {"EVAL-009", "EVAL-007"},
        "results-metric-wrong": {"EVAL-010"},
        "results-series-wrong": {"EVAL-011"},
        "results-non-finite": {"EVAL-012", "EVAL-015"},
        "verdict-asserted": {"EVAL-013", "EVAL-014"},
        "results-schema-version": {"EVAL-015"},
        "results-key-missing": {"EVAL-016"},
        "results-series-short": {"EVAL-017"},
    }.items()
}

#: MUST requirements no mutant fails, each with the reason (agreed with the lead).
UNCAUGHT_MUST: dict[str, str] = {}
