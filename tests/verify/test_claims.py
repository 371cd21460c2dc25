"""Claims as data: the seed model card's transcription, number semantics, claims in kind, pins."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from lensemble_spec.claims import ClaimDocument, Num, load_claims, seed_claims
from lensemble_spec.claims.model import ClaimCell
from lensemble_spec.errors import ArtifactError
from lensemble_spec.schemas import ControlResult, ResultsTable
from lensemble_spec.verify import evaluate_cell, evaluate_claim, verify_claims

#: The seed card's tables, copied line for line into the repository (provenance in the file).
CARD_TABLES = Path(__file__).resolve().parents[1] / "data" / "seed-card-tables.txt"
#: The card itself, beside the checkout where it is available (only to check the copy).
SEED_CARD = Path(__file__).resolve().parents[2].parent / "shared" / "seed-model-card.txt"
#: The row label of each (table, control) in the card.
ROW_LABELS = {
    ("headline", "local-only"): "local-only (per-silo)",
    ("headline", "naive-fedavg"): "naive-FedAvg",
    ("headline", "anchored"): "anchored (M1)",
    ("inference", "anchored"): "converged (M1)",
    ("inference", "naive-fedavg"): "naive-FedAvg",
}


def _card_lines() -> list[str]:
    return [line for line in CARD_TABLES.read_text().splitlines() if line and not line.startswith("#")]


def _card_rows() -> dict[tuple[str, str], str]:
    """``(table, control) -> row`` (the headline table precedes the pins line, the inference table follows it)."""
    lines = _card_lines()
    pins = next(i for i, line in enumerate(lines) if line.startswith("Pinned"))
    rows = {}
    for (table, control), label in ROW_LABELS.items():
        section = lines[:pins] if table == "headline" else lines[pins + 1 :]
        hits = [line for line in section if line.startswith(label + " ")]
        assert len(hits) == 1, (table, control, hits)
        rows[(table, control)] = hits[0]
    return rows


# --- the transcription ---------------------------------------------------------------------------
def test_seed_document_transcribes_the_card_verbatim() -> None:
    doc = seed_claims()
    cells = {(t.name, r.control, c.metric): c for t, r, c in doc.cells()}
    expected = {
        ("headline", "local-only", "effective_rank"): ("~105 (healthy)", "point"),
        ("headline", "local-only", "val_pred"): ("~0.025", "point"),
        ("headline", "local-only", "frame_drift_deg"): ("180 (inter-silo)", "point"),
        ("headline", "naive-fedavg", "effective_rank"): ("1.1 → ~1 (collapse)", "series"),
        ("headline", "naive-fedavg", "val_pred"): ("3 → 203 776 (explode)", "series"),
        ("headline", "naive-fedavg", "frame_drift_deg"): ("180 (every round)", "point"),
        ("headline", "anchored", "effective_rank"): ("2.6 → 14.8 (held, grows)", "series"),
        ("headline", "anchored", "val_pred"): ("1.4 → 22.2 (bounded)", "series"),
        ("headline", "anchored", "frame_drift_deg"): ("7–124 (controlled)", "range"),
        ("inference", "anchored", "multistep val_pred_model"): ("19.2", "point"),
        ("inference", "anchored", "skill_vs_identity"): ("5.3e7", "point"),
        ("inference", "naive-fedavg", "multistep val_pred_model"): ("103 320", "point"),
        ("inference", "naive-fedavg", "skill_vs_identity"): ("4.0e11", "point"),
    }
    for key, (published, kind) in expected.items():
        assert cells[key].published == published and cells[key].claim.kind == kind, key
    anchored = cells[("headline", "anchored", "effective_rank")].claim
    assert (anchored.start.value, anchored.end.value) == (2.6, 14.8)
    naive = cells[("headline", "naive-fedavg", "val_pred")].claim
    assert (naive.start.text, naive.end.text) == ("3", "203776")
    drift = cells[("headline", "anchored", "frame_drift_deg")].claim
    assert (drift.low.value, drift.high.value) == (7.0, 124.0)
    assert cells[("headline", "naive-fedavg", "frame_drift_deg")].claim.over == "every-round"
    assert [(p.control, p.published) for p in doc.pins] == [
        ("anchored", "3c2258ce…"), ("naive-fedavg", "cd8481c4…"), ("local-only", "9345bc3c…")
    ]
    assert [c.id for c in doc.checks] == [f"C{i}" for i in range(1, 8)]


def test_every_published_string_stands_in_its_row_of_the_seed_card() -> None:
    rows = _card_rows()
    doc = seed_claims()
    cells = list(doc.cells())
    assert {(table.name, row.control) for table, row, _ in cells} == set(ROW_LABELS)
    for table, row, cell in cells:
        assert cell.published in rows[(table.name, row.control)], (table.name, row.control, cell.metric, cell.published)
    pins_line = next(line for line in _card_lines() if line.startswith("Pinned"))
    for pin in doc.pins:
        assert pin.published in pins_line
        assert pin.uri.rsplit("@", 1)[1] == pin.published.rstrip("…")


@pytest.mark.skipif(
    not SEED_CARD.exists(),
    reason="checks the repository's copy against shared/seed-model-card.txt, not beside this checkout",
)
def test_the_copied_tables_are_lines_of_the_seed_card() -> None:
    card = set(SEED_CARD.read_text().splitlines())
    assert [line for line in _card_lines() if line not in card] == []


def test_seed_pins_are_flagged_as_not_pins() -> None:
    report = verify_claims("seed")
    pins = [f for f in report.findings if f.check == "pin-format"]
    assert len(pins) == 3 and all(f.status == "fail" and f.requirement == "ART-023" for f in pins)
    assert all("abbreviated commit id (8 hex" in f.message for f in pins)
    assert not report.ok
    # nothing is claimed checked without a table
    assert {f.status for f in report.findings if f.check == "claim"} == {"skip"}


def test_claim_documents_are_validated_with_typed_errors() -> None:
    raw = seed_claims().model_dump(mode="json")
    bad = copy.deepcopy(raw)
    bad["tables"][0]["rows"][0]["cells"][0]["claim"]["value"] = "about 105"
    with pytest.raises(ArtifactError, match="published number"):
        load_claims(bad)
    bad = copy.deepcopy(raw)
    bad["checks"][0]["all"][0] = {}
    with pytest.raises(ArtifactError):
        load_claims(bad)
    assert isinstance(load_claims(raw), ClaimDocument)  # a dump round-trips


# --- number semantics ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("2.6", [2.55, 2.649], [2.66, 2.5]),
        ("~105", [95.0, 115.4], [94.0, 116.0]),
        ("~1", [0.51, 1.49], [0.4, 1.6]),
        ("~0.025", [0.0226, 0.0274], [0.02, 0.03]),
        ("5.3e7", [5.26e7, 5.34e7], [5.2e7, 5.4e7]),
        ("203776", [203775.6, 203776.4], [203777.0]),
    ],
)
def test_published_numbers_match_within_their_printed_precision(text: str, inside: list, outside: list) -> None:
    n = Num.model_validate(text)
    assert all(n.matches(x) for x in inside)
    assert not any(n.matches(x) for x in outside)
    assert not n.matches(float("nan"))


def _row(
    control: str = "anchored", *, metrics: dict | None = None, series: dict | None = None, verdict: str = "gauge-held"
) -> ControlResult:
    return ControlResult(control=control, metrics=metrics or {}, series=series or {}, verdict=verdict)


def _cell(claim: dict, field: str = "x") -> ClaimCell:
    return ClaimCell(metric=field, field=field, published="-", claim=claim)


def test_series_claim_reads_start_and_end() -> None:
    cell = _cell({"kind": "series", "start": "1.1", "end": "~1"})
    assert evaluate_cell(cell, _row(series={"x": [1.12, 1.4, 0.97]}))[0] == "pass"
    assert evaluate_cell(cell, _row(series={"x": [1.3, 1.0]}))[0] == "fail"
    assert evaluate_cell(cell, _row(series={"x": [1.1]}))[0] == "skip"


def test_range_claim_reads_the_observed_min_and_max() -> None:
    cell = _cell({"kind": "range", "low": "7", "high": "124"})
    assert evaluate_cell(cell, _row(series={"x": [30.0, 7.2, 123.9, 50.0]}))[0] == "pass"
    assert evaluate_cell(cell, _row(series={"x": [30.0, 7.2, 110.0]}))[0] == "fail"


def test_every_round_point_claim_checks_each_entry() -> None:
    cell = _cell({"kind": "point", "value": "180", "over": "every-round"})
    assert evaluate_cell(cell, _row(series={"x": [180.0, 179.8]}))[0] == "pass"
    assert evaluate_cell(cell, _row(series={"x": [180.0, 90.0]}))[0] == "fail"


def test_final_point_prefers_the_metric_then_the_last_entry() -> None:
    cell = _cell({"kind": "point", "value": "~105"})
    assert evaluate_cell(cell, _row(metrics={"x": 101.0}, series={"x": [3.0]}))[0] == "pass"
    assert evaluate_cell(cell, _row(series={"x": [3.0, 104.0]}))[0] == "pass"
    assert evaluate_cell(cell, _row(metrics={"y": 1.0}))[0] == "skip"


# --- claims in kind (RFC-0005 §7) ------------------------------------------------------------------
def _table(**overrides: dict) -> ResultsTable:
    base = {
        "anchored": {
            "metrics": {"effective_rank": 12.0, "val_pred": 0.5, "state_probe_r2": 0.9, "drift_to_reference_deg": 4.0},
            "series": {"effective_rank": [3.0, 5.0, 9.0, 12.0], "drift_to_reference_deg": [0.0, 3.0, 4.0, 4.0]},
            "verdict": "gauge-held",
        },
        "naive-fedavg": {
            "metrics": {"effective_rank": 1.2, "val_pred": 50.0, "state_probe_r2": 0.2, "drift_to_reference_deg": None},
            "series": {},
            "verdict": "collapsed",
        },
        "local-only": {"metrics": {"val_pred": 0.1}, "series": {}, "verdict": "gauge-held"},
    }
    for control, change in overrides.items():
        control = control.replace("_", "-")
        for k, v in change.items():
            if isinstance(v, dict):
                base[control][k].update(v)
            else:
                base[control][k] = v
    return ResultsTable(
        title="t", split="s", seeds=[0], controls=[ControlResult(control=c, **v) for c, v in base.items()]
    )


def _states(table: ResultsTable) -> dict[str, str]:
    return {c.id: evaluate_claim(c, table)[0] for c in seed_claims().checks}


def test_all_seven_claims_hold_on_a_table_that_reproduces_the_card_in_kind() -> None:
    assert set(_states(_table()).values()) == {"held"}
    report = verify_claims("seed", table=_table())
    claims = [f for f in report.findings if f.check == "claim" and f.subject.startswith("claims:C")]
    assert len(claims) == 7 and all(f.status == "pass" for f in claims)


@pytest.mark.parametrize(
    ("change", "claim"),
    [
        ({"naive_fedavg": {"verdict": "gauge-held"}}, "C1"),
        ({"anchored": {"series": {"effective_rank": [3.0, 9.0, 5.0, 12.0]}}}, "C2"),
        ({"naive_fedavg": {"metrics": {"val_pred": 4.0}}}, "C3"),
        ({"anchored": {"series": {"drift_to_reference_deg": [0.0, 31.0, 4.0, 4.0]}}}, "C4"),
        ({"naive_fedavg": {"metrics": {"drift_to_reference_deg": 2.0}}}, "C5"),
        ({"local_only": {"metrics": {"val_pred": 0.6}}}, "C6"),
        ({"naive_fedavg": {"metrics": {"state_probe_r2": 0.86}}}, "C7"),
    ],
)
def test_each_claim_fails_when_its_own_relation_breaks(change: dict, claim: str) -> None:
    states = _states(_table(**change))
    assert states[claim] == "not held"
    assert {k for k, v in states.items() if v != "held"} == {claim}


def test_missing_values_make_claims_not_checkable_never_held() -> None:
    states = _states(_table(anchored={"metrics": {"val_pred": None, "state_probe_r2": None}}))
    assert states["C3"] == states["C6"] == states["C7"] == "not checkable"
    no_local = ResultsTable(
        title="t", split="s", seeds=[0], controls=[c for c in _table().controls if c.control != "local-only"]
    )
    assert _states(no_local)["C6"] == "not checkable"
