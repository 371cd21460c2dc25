"""`lensemble-spec verify` end to end, the pytest parametrisation helper, and requirement ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import lensemble_spec.verify as verify_pkg
from lensemble_spec.cli import main
from lensemble_spec.requirements import load_catalog
from lensemble_spec.verify import Finding, VerificationReport, findings_to_pytest_params, verify_run


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["verify", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_passes_a_conformant_comparison_and_prints_json(capsys, comparison: Path, pristine: dict) -> None:
    code, out, _ = run_cli(capsys, str(comparison), "--impl", "_runbuilder:TOY", "--heldout", str(pristine["heldout"]),
                           "--hub-cache", str(pristine["hub"]), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] is True and doc["counts"]["fail"] == 0 and doc["counts"]["pass"] > 300
    assert doc["impl"] == "_runbuilder:TOY"


def test_cli_exits_1_naming_the_requirement_for_a_flipped_byte(capsys, run_dir: Path) -> None:
    weights = run_dir / "checkpoints/round-0002/weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x10
    weights.write_bytes(bytes(data))
    code, out, _ = run_cli(capsys, str(run_dir), "--failures-only")
    assert code == 1
    assert re.search(r"FAIL ART-007 .*checkpoints/round-0002", out)
    assert "failed requirements: ART-007" in out
    assert "PASS" not in out


def test_cli_exits_1_for_an_edited_metric_through_the_impl(capsys, run_dir: Path) -> None:
    path = run_dir / "rounds.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    lines[0]["metrics"]["latent_std_mean"] *= 2
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    code, out, _ = run_cli(capsys, str(run_dir))
    assert code == 0  # without an implementation nothing re-encodes the weights: the edit is invisible
    code, out, _ = run_cli(capsys, str(run_dir), "--impl", "_runbuilder:TOY")
    assert code == 1 and re.search(r"FAIL EVAL-007 .*round-0000.latent_std_mean", out)


def test_cli_claims_seed_fails_on_truncated_revisions(capsys) -> None:
    code, out, _ = run_cli(capsys, "--claims", "seed", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["failed_requirements"] == ["ART-023"]
    assert sum("3c2258ce" in f["message"] for f in doc["findings"]) == 1


def test_cli_checks_claims_against_a_comparison(capsys, comparison: Path) -> None:
    code, out, _ = run_cli(capsys, str(comparison), "--claims", "seed", "--json")
    doc = json.loads(out)
    claims = {
        f["subject"]: f["status"]
        for f in doc["findings"]
        if f["check"] == "claim" and f["subject"].startswith("claims:C")
    }
    assert len(claims) == 7 and set(claims.values()) <= {"pass", "fail", "skip"}
    assert code == 1  # the seed's pins are not pins, whatever the table says


def test_cli_usage_errors(capsys, tmp_path: Path) -> None:
    assert main(["verify"]) == 1
    assert "nothing to verify" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "absent")]) == 1
    assert "not a directory" in capsys.readouterr().err


# --- pytest parametrisation -------------------------------------------------------------------------
def test_findings_become_marked_pytest_params_with_unique_ids(run_dir: Path) -> None:
    report = verify_run(run_dir)
    params = findings_to_pytest_params(report)
    assert len(params) == len(report.findings)
    assert len({p.id for p in params}) == len(params)
    for p, f in zip(params, report.findings, strict=True):
        assert p.values == (f,)
        (mark,) = [m for m in p.marks if m.name == "requirement"]
        assert mark.args == (f.requirement,)


def test_findings_without_a_requirement_carry_no_marker() -> None:
    report = VerificationReport(target="x")
    report.skipped("", "claim", "claims:C1", "no table")
    report.passed("ART-023", "pin-format", "p", "ok")
    report.passed("ART-023", "pin-format", "p", "ok again")
    params = findings_to_pytest_params(report)
    assert list(params[0].marks) == [] and [p.id for p in params[1:]] == [
        "ART-023:pin-format:p",
        "ART-023:pin-format:p#1",
    ]


def test_report_is_not_ok_when_nothing_passed() -> None:
    report = VerificationReport(target="x")
    report.skipped("ART-025", "pin-resolve", "p", "no cache")
    assert not report.ok and report.counts() == {"pass": 0, "fail": 0, "skip": 1}
    with pytest.raises(ValueError):
        Finding("ART-001", "passed", "c", "s", "m")  # type: ignore[arg-type]


# --- requirement ids are the catalog's -------------------------------------------------------------------
def test_every_requirement_id_the_verifier_names_exists_in_the_catalog() -> None:
    catalog = load_catalog()
    source = "".join(p.read_text() for p in Path(verify_pkg.__file__).parent.glob("*.py"))
    ids = set(re.findall(r'"((?:ART|EVAL|GAUGE|FED)-\d{3})"', source))
    assert len(ids) >= 40
    unknown = sorted(i for i in ids if i not in catalog)
    assert unknown == []


#: RFC-0010 requirements about what a *run directory* holds (the others bind writer/loader code).
DIRECTORY_ART = ("ART-001", "ART-003", "ART-004", "ART-007", "ART-013", "ART-014", "ART-015", "ART-016", "ART-017",
                 "ART-018", "ART-019", "ART-020", "ART-021", "ART-022", "ART-023", "ART-024", "ART-025", "ART-026",
                 "ART-027", "ART-028", "ART-029")  # fmt: skip
#: Of those, the checks that look for a defect (a pickle file, a path leaving the directory, oversized
#: or duplicate-key JSON, an unknown schema version): a conformant directory gives them nothing to
#: report, so each is shown failing on a tampered directory in test_verify_run.py.
DEFECT_ONLY = ("ART-003", "ART-026", "ART-027", "ART-028", "ART-029")


def test_every_run_requirement_of_rfc_0010_that_a_directory_can_show_is_checked(pristine: dict) -> None:
    """Verifying a conformant comparison passes each requirement (a finding that was checked and held)."""
    from _runbuilder import TOY

    from lensemble_spec.verify import findings_for

    report = verify_run(pristine["comparison"], impl=TOY, hub_cache=pristine["hub"], heldout=pristine["heldout"])
    unchecked = [
        req
        for req in DIRECTORY_ART
        if req not in DEFECT_ONLY and not any(f.status == "pass" for f in findings_for([report], req))
    ]
    assert unchecked == [], f"no passing finding for {unchecked} on a conformant comparison"
    assert set(DIRECTORY_ART) <= set(verify_pkg.RUN_REQUIREMENTS)


def test_every_defect_only_requirement_is_failed_on_a_tampered_directory() -> None:
    """Each DEFECT_ONLY id is asserted *failed* by a test of test_verify_run.py (not merely named)."""
    source = (Path(__file__).parent / "test_verify_run.py").read_text()
    asserted = set(re.findall(r'failed\([^()]*(?:\([^()]*\))?[^()]*, "((?:ART)-\d{3})"\)', source))
    assert sorted(set(DEFECT_ONLY) - asserted) == []
