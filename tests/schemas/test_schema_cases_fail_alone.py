"""Every bad-document case of the schema rule tests fails on its own, and only it.

The rule tests (``test_schemas_documents.py``: header, round record, run manifest and results-table
rules; ``test_schemas_pins_versions_export.py``: bad pin URIs and bad exploded pins) are
parametrized, one bad document per case. That they *can* fail one at a time is shown here: for
each case the loader those tests call is replaced by one that wrongly accepts exactly that case's
document (the defect "the schema lets this one through") and validates everything else as before;
then every case of the same test is run. Exactly that case must fail (``pytest.raises`` reports
DID NOT RAISE) and every other case must still pass — so no case hides behind another and each
one guards a rule of its own (two cases building the same document would both fail here).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import test_schemas_documents as documents  # tests/schemas/ (rootdir-relative, like _schema_examples)
import test_schemas_pins_versions_export as pins

RULE_TESTS = [
    (documents, "test_header_rules"),
    (documents, "test_round_record_rules"),
    (documents, "test_run_manifest_rules"),
    (documents, "test_results_table_rules"),
    (pins, "test_bad_pins_are_pin_errors"),
    (pins, "test_bad_exploded_pins_are_pin_errors"),
]


ParameterSet = type(pytest.param(None))


def _cases(test: Callable[..., Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(id, kwargs)`` of every parametrized case of ``test`` (the product of its parametrize marks)."""
    cases: list[tuple[str, dict[str, Any]]] = [("", {})]
    for mark in getattr(test, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        names = [n.strip() for n in mark.args[0].split(",")]
        rows = []
        for value in mark.args[1]:
            values = value.values if isinstance(value, ParameterSet) else (value if len(names) > 1 else (value,))
            case_id = (value.id if isinstance(value, ParameterSet) else None) or "-".join(map(str, values))
            rows.append((case_id, dict(zip(names, values, strict=True))))
        cases = [(f"{a}-{b}".strip("-"), {**ka, **kb}) for a, ka in cases for b, kb in rows]
    return cases


def _documents_loaded(module, test, kwargs) -> list[tuple[type, Any]]:
    """What the case hands the loader (model, document), recorded while the real loader runs."""
    real, seen = module.load_document, []

    def recording(model, doc, **kw):
        seen.append((model, copy.deepcopy(doc)))
        return real(model, doc, **kw)

    module.load_document = recording
    try:
        test(**kwargs)
    finally:
        module.load_document = real
    return seen


def _failing_cases(module, test, cases, accepted: tuple[type, Any]) -> list[str]:
    """Ids of the cases of ``test`` that fail when the loader wrongly accepts ``accepted``."""
    real = module.load_document

    def lenient(model, doc, **kw):
        if (model, doc) == accepted:
            return None  # the defect: this one bad document goes through
        return real(model, doc, **kw)

    failing = []
    module.load_document = lenient
    try:
        for case_id, kwargs in cases:
            try:
                test(**kwargs)
            except (AssertionError, pytest.fail.Exception):
                failing.append(case_id)
    finally:
        module.load_document = real
    return failing


@pytest.mark.parametrize("module, name", RULE_TESTS, ids=[name for _m, name in RULE_TESTS])
def test_each_case_fails_alone_when_the_schema_accepts_its_document(module, name):
    test = getattr(module, name)
    cases = _cases(test)
    assert len(cases) >= 4, f"{name}: found {len(cases)} cases; the parametrization was not read"
    for case_id, kwargs in cases:
        loaded = _documents_loaded(module, test, kwargs)
        assert len(loaded) == 1, f"{name}[{case_id}] loads {len(loaded)} documents; one case, one document"
        failing = _failing_cases(module, test, cases, loaded[0])
        assert failing == [case_id], (
            f"{name}: accepting the document of case {case_id!r} must fail that case and no other; failed: {failing}"
        )


def test_the_case_reader_sees_every_case():
    """The reader above finds the ids pytest reports (so the check covers every collected case)."""
    ids = [case_id for case_id, _ in _cases(documents.test_header_rules)]
    assert ids[:2] == ["manifest-repeated", "dtype-int8"] and len(ids) == 10
    exploded = [case_id for case_id, _ in _cases(pins.test_bad_exploded_pins_are_pin_errors)]
    assert exploded[:2] == ["uri-disagrees-with-parts-models", "uri-disagrees-with-parts-model"]
    assert len(exploded) == 6
