"""What each mutant must fail, and which tests it is run against.

Implementation mutants declare their expectations where they are defined (``_registry.register``
on the mutant's class or factory); :data:`MUTANTS` is that registry once every mutant module is
imported. ``args`` restricts a mutant's conformance session to the tests its defect can reach. A
unit mutant replaces protocol methods of one part; its session runs the test files that call those
methods (checked statically by ``test_mutants.py::test_unit_selection_is_sound``). The harness's
runs go through ``FederationPart.run``, which in the reference calls its own internals, never the
wrapped protocol methods, so run tests are left out exactly for the mutants that do not touch
``run``; run-level mutants are checked against every run test (``-m harness_run``), and the two
whose defect only shows below quorum or with a too-small probe against the one run that has it
(``-k``). Tampered run directories (``rundirs.py``) are listed here, with the ids each must fail.
"""

from __future__ import annotations

from . import artifacts, federation, gauge, model, planning, primitives, runs  # noqa: F401 - registers the mutants
from ._registry import REGISTRY, Mutant

#: Every implementation mutant by name (the registry, filled by importing the mutant modules).
MUTANTS: dict[str, Mutant] = dict(REGISTRY)


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
        "foreign-tensor": {"EVAL-007", "EVAL-010", "EVAL-021", "FED-002"},
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
        "planning-peeks-at-state": {"EVAL-021"},
        "planning-success-from-latents": {"EVAL-020", "EVAL-021"},
        "planning-conditions-differ": {"EVAL-019", "EVAL-021"},
    }.items()
}

#: MUST requirements no mutant fails, each with the reason (agreed with the lead).
UNCAUGHT_MUST: dict[str, str] = {}
