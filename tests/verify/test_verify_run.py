"""verify_run on a conformant comparison, and on copies with exactly one defect each.

Every defect test asserts the verdict (not ok) AND the requirement id of the failure, so a
verifier that fails "somewhere" for the wrong reason does not pass.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from _runbuilder import ROUNDS, TOY
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from lensemble_spec.artifacts import canonical_json, config_hash
from lensemble_spec.artifacts.checkpoint import save_checkpoint
from lensemble_spec.errors import ArtifactError
from lensemble_spec.verify import verify_run


def failed(report, requirement: str) -> list:
    return [f for f in report.failures if f.requirement == requirement]


def only_failures(report) -> set[str]:
    return set(report.failed_requirements())


def edit_json(path: Path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def edit_rounds(path: Path, round_index: int, fn) -> None:
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    fn(lines[round_index])
    path.write_bytes(b"".join(canonical_json(x) + b"\n" for x in lines))


def ckpt(run: Path, r: int) -> Path:
    return run / f"checkpoints/round-{r:04d}"


# --- the good case ---------------------------------------------------------------------------------
def test_conformant_comparison_verifies_with_every_check_run(comparison: Path, pristine: dict) -> None:
    report = verify_run(comparison, impl=TOY, heldout=pristine["heldout"], hub_cache=pristine["hub"])
    assert report.ok, report.render_text(show_passed=False)
    assert report.counts()["skip"] == 0
    passed = {f.requirement for f in report.findings if f.status == "pass"}
    for req in ("ART-001", "ART-004", "ART-007", "ART-013", "ART-014", "ART-015", "ART-016", "ART-017", "ART-018",
                "ART-019", "ART-020", "ART-021", "ART-022", "ART-023", "ART-024", "ART-025", "EVAL-001", "EVAL-002",
                "EVAL-003", "EVAL-004", "EVAL-007", "EVAL-008", "EVAL-010", "EVAL-011", "EVAL-014", "EVAL-015",
                "EVAL-016", "EVAL-017", "GAUGE-024", "GAUGE-033", "GAUGE-034", "GAUGE-040", "GAUGE-041", "GAUGE-042"):
        assert req in passed, req
    # every round of every control was recomputed, final and series
    assert sum(f.requirement == "EVAL-011" for f in report.findings) == 4 * 4 * (ROUNDS + 1)


def test_run_directory_without_impl_verifies_structure_and_says_what_it_skipped(run_dir: Path) -> None:
    report = verify_run(run_dir)
    assert report.ok
    skipped = [f for f in report.findings if f.status == "skip"]
    assert [f.requirement for f in skipped] == ["EVAL-007"]
    assert "--impl" in skipped[0].message


def test_impl_can_be_named_as_a_module_spec(run_dir: Path) -> None:
    report = verify_run(run_dir, impl="_runbuilder:TOY")
    assert report.ok and report.impl == "_runbuilder:TOY"
    assert any(f.requirement == "EVAL-007" and f.status == "pass" for f in report.findings)


def test_not_a_directory_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError):
        verify_run(tmp_path / "absent")


# --- integrity ---------------------------------------------------------------------------------------
def test_one_flipped_weight_byte_fails_the_content_hash(run_dir: Path) -> None:
    weights = ckpt(run_dir, 1) / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # last byte of the tensor data, not the safetensors header
    weights.write_bytes(bytes(data))
    report = verify_run(run_dir)
    assert not report.ok
    (f,) = failed(report, "ART-007")
    assert f.subject == "checkpoints/round-0001"
    assert only_failures(report) == {"ART-007"}


def test_edited_config_fails_the_config_hash(run_dir: Path) -> None:
    edit_json(run_dir / "manifest.json", lambda m: m["config"].update(inner_lr=0.01))
    report = verify_run(run_dir)
    assert failed(report, "ART-013")
    # checkpoints still carry the original hash, which is now not the config's
    assert only_failures(report) == {"ART-013"}


def test_moved_sink_path_does_not_change_the_config_hash(run_dir: Path) -> None:
    edit_json(run_dir / "manifest.json", lambda m: m["config"].update(out_dir="/elsewhere"))
    assert verify_run(run_dir).ok


def test_manifest_listing_another_hash_fails(run_dir: Path) -> None:
    edit_json(run_dir / "manifest.json", lambda m: m["checkpoints"][1].update(content_hash="ab" * 32))
    report = verify_run(run_dir)
    assert failed(report, "ART-018")


def test_broken_parent_chain_fails(run_dir: Path) -> None:
    """Round 2 re-committed with round 0 as its parent: hashes are self-consistent, the chain is not."""
    import shutil

    from lensemble_spec.artifacts.checkpoint import load_checkpoint

    tensors, header = load_checkpoint(ckpt(run_dir, 2))
    round0 = load_checkpoint(ckpt(run_dir, 0))[1]
    shutil.rmtree(ckpt(run_dir, 2))
    new = save_checkpoint(tensors, ckpt(run_dir, 2), round_index=2, parent_hash=round0.content_hash,
                          config_hash=header.config_hash, producer={"name": "x", "version": "1"})
    edit_json(run_dir / "manifest.json", lambda m: m["checkpoints"][2].update(content_hash=new.content_hash))
    edit_rounds(run_dir / "rounds.jsonl", 2, lambda rec: rec.update(global_hash=new.content_hash))
    report = verify_run(run_dir)
    (f,) = failed(report, "ART-019")
    assert f.subject == "checkpoints/round-0002" and "round-1" in f.message
    assert only_failures(report) == {"ART-019"}


def test_record_naming_another_global_fails(run_dir: Path) -> None:
    edit_rounds(run_dir / "rounds.jsonl", 1, lambda rec: rec.update(global_hash="cd" * 32))
    assert failed(verify_run(run_dir), "ART-021")


def test_probe_points_edit_fails_the_probe_hash(run_dir: Path) -> None:
    probe = st_load((run_dir / "probe.safetensors").read_bytes())
    probe["points"] = probe["points"].copy()
    probe["points"][0, 0, 0, 0] += 0.5
    (run_dir / "probe.safetensors").write_bytes(st_save(probe))
    assert only_failures(verify_run(run_dir)) == {"ART-022"}


def test_refreshed_targets_fail_gauge_024(run_dir: Path) -> None:
    """Targets from a later encoder (re-snapshotted) instead of θ_0: points still hash correctly."""
    from lensemble_spec.artifacts.checkpoint import load_checkpoint

    probe = st_load((run_dir / "probe.safetensors").read_bytes())
    theta1 = load_checkpoint(ckpt(run_dir, 1))[0]
    probe["targets"] = TOY.model.encode(theta1, probe["points"])
    (run_dir / "probe.safetensors").write_bytes(st_save(probe))
    report = verify_run(run_dir, impl=TOY)
    assert failed(report, "GAUGE-024")
    assert verify_run(run_dir).ok  # invisible without re-encoding: that is why --impl exists


# --- recorded and claimed metrics ---------------------------------------------------------------------
def test_edited_record_metric_fails_recomputation(run_dir: Path) -> None:
    edit_rounds(
        run_dir / "rounds.jsonl",
        1,
        lambda rec: rec["metrics"].update(effective_rank=rec["metrics"]["effective_rank"] * 1.01),
    )
    report = verify_run(run_dir, impl=TOY)
    (f,) = failed(report, "EVAL-007")
    assert f.subject == "round-0001.effective_rank"
    assert only_failures(report) == {"EVAL-007"}


def test_edited_record_drift_fails_gauge_033(run_dir: Path) -> None:
    edit_rounds(
        run_dir / "rounds.jsonl",
        2,
        lambda rec: rec["metrics"].update(drift_to_reference_deg=rec["metrics"]["drift_to_reference_deg"] + 0.5),
    )
    assert only_failures(verify_run(run_dir, impl=TOY)) == {"GAUGE-033"}


def test_record_within_tolerance_still_passes(run_dir: Path) -> None:
    edit_rounds(
        run_dir / "rounds.jsonl",
        1,
        lambda rec: rec["metrics"].update(latent_rms=rec["metrics"]["latent_rms"] * (1 + 1e-6)),
    )
    assert verify_run(run_dir, impl=TOY).ok


def test_heldout_metric_in_a_record_fails_eval_008(run_dir: Path) -> None:
    edit_rounds(run_dir / "rounds.jsonl", 1, lambda rec: rec["metrics"].update(val_pred=0.5))
    assert only_failures(verify_run(run_dir)) == {"EVAL-008"}


def test_anchored_drift_over_the_bound_fails_gauge_040(run_dir: Path) -> None:
    edit_rounds(run_dir / "rounds.jsonl", 2, lambda rec: rec["metrics"].update(drift_to_reference_deg=45.0))
    assert only_failures(verify_run(run_dir)) == {"GAUGE-040"}
    assert only_failures(verify_run(run_dir, impl=TOY)) == {"GAUGE-040", "GAUGE-033"}


def test_backstop_flags_in_a_backstop_free_run_fail_gauge_031(comparison: Path) -> None:
    run = comparison / "naive-fedavg"
    edit_rounds(run / "rounds.jsonl", 1, lambda rec: rec["backstop_fired"].update(silo0=True))
    assert only_failures(verify_run(run)) == {"GAUGE-031"}


def test_edited_results_metric_fails_eval_010(comparison: Path, pristine: dict) -> None:
    edit_json(
        comparison / "results.json",
        lambda t: t["controls"][0]["metrics"].update(val_pred=t["controls"][0]["metrics"]["val_pred"] * 1.5),
    )
    report = verify_run(comparison, impl=TOY, heldout=pristine["heldout"])
    (f,) = failed(report, "EVAL-010")
    assert f.subject == "results.json:anchored.metrics.val_pred"
    assert only_failures(report) == {"EVAL-010"}


def test_edited_results_series_entry_fails_eval_011(comparison: Path, pristine: dict) -> None:
    edit_json(comparison / "results.json", lambda t: t["controls"][2]["series"]["effective_rank"].__setitem__(1, 3.9))
    report = verify_run(comparison, impl=TOY, heldout=pristine["heldout"])
    (f,) = failed(report, "EVAL-011")
    assert f.subject == "results.json:local-only.series.effective_rank[1]"


def test_asserted_verdict_fails_eval_014(comparison: Path) -> None:
    edit_json(comparison / "results.json", lambda t: t["controls"][1].update(verdict="gauge-held"))
    report = verify_run(comparison)
    (f,) = failed(report, "EVAL-014")
    assert "collapsed" in f.message and "naive-fedavg" in f.subject


def test_missing_heldout_split_skips_recomputation_instead_of_passing(comparison: Path) -> None:
    report = verify_run(comparison, impl=TOY)
    assert report.ok
    skips = [f for f in report.findings if f.status == "skip" and f.requirement != "ART-025"]  # no hub cache either
    assert {f.requirement for f in skips} == {"EVAL-010"}
    assert len(skips) == 4 and all("--heldout" in f.message for f in skips)


# --- pins -------------------------------------------------------------------------------------------
def test_pin_to_main_fails_art_023(comparison: Path) -> None:
    def to_main(t: dict) -> None:
        pin = t["controls"][0]["pins"][0]
        pin["uri"] = pin["uri"].split("@")[0] + "@main/weights.safetensors"

    edit_json(comparison / "results.json", to_main)
    report = verify_run(comparison)
    (f,) = failed(report, "ART-023")
    assert "symbolic" in f.message
    assert only_failures(report) == {"ART-023", "EVAL-015"}  # and the table itself is invalid


def test_truncated_pin_and_missing_sha256_fail(comparison: Path) -> None:
    edit_json(comparison / "results.json", lambda t: t["controls"][0]["pins"][0].update(sha256=None))
    assert only_failures(verify_run(comparison)) == {"ART-024"}


def test_pins_resolve_offline_and_a_tampered_cache_fails(comparison: Path, pristine: dict, tmp_path: Path) -> None:
    import shutil

    from _hubcache import blob_of

    hub = tmp_path / "hub"
    shutil.copytree(pristine["hub"], hub, symlinks=True)
    ok = verify_run(comparison, hub_cache=hub)
    assert any(f.requirement == "ART-025" and f.status == "pass" and "verified" in f.message for f in ok.findings)
    entry = next(hub.glob("models--acme--toy-anchored/snapshots/*/weights.safetensors"))
    blob = blob_of(entry)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    assert only_failures(verify_run(comparison, hub_cache=hub)) == {"ART-025"}
    no_cache = verify_run(comparison)
    assert any(f.requirement == "ART-025" and f.status == "skip" for f in no_cache.findings)


# --- untrusted paths and documents ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "weight_file", ["../../../outside.safetensors", "/tmp/outside.safetensors", "sub/../../x.safetensors"]
)
def test_header_path_outside_the_run_fails_art_026(run_dir: Path, weight_file: str) -> None:
    edit_json(ckpt(run_dir, 1) / "header.json", lambda h: h.update(weight_files=[weight_file]))
    report = verify_run(run_dir)
    (f,) = failed(report, "ART-026")
    assert f.subject == "checkpoints/round-0001"


def test_symlinked_weights_pointing_out_of_the_run_fail_art_026(run_dir: Path, tmp_path: Path) -> None:
    weights = ckpt(run_dir, 1) / "weights.safetensors"
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(weights.read_bytes())
    weights.unlink()
    os.symlink(outside, weights)
    assert failed(verify_run(run_dir), "ART-026")


def test_manifest_checkpoint_path_escaping_fails_art_026(run_dir: Path) -> None:
    edit_json(
        run_dir / "manifest.json", lambda m: m["checkpoints"][1].update(path="../naive-fedavg/checkpoints/round-0001")
    )
    assert failed(verify_run(run_dir), "ART-026")


def test_pickle_file_in_a_checkpoint_fails_art_003(run_dir: Path) -> None:
    (ckpt(run_dir, 1) / "weights.pt").write_bytes(b"\x80\x04not really a pickle")
    report = verify_run(run_dir)
    (f,) = failed(report, "ART-003")
    assert "refused unread" in f.message


def test_stray_files_fail_the_layout(run_dir: Path) -> None:
    (run_dir / "results.json").write_text("{}")
    (run_dir / "logs").mkdir()
    (run_dir / "logs" / "train.log").write_text("fine")
    report = verify_run(run_dir)
    (f,) = failed(report, "ART-015")
    assert "results.json" in f.message and "train.log" not in f.message


def test_rounds_file_under_another_name_fails_the_layout_and_is_not_read(run_dir: Path) -> None:
    (run_dir / "rounds.jsonl").rename(run_dir / "records.jsonl")
    report = verify_run(run_dir)
    (layout,) = failed(report, "ART-015")
    assert "missing rounds.jsonl" in layout.message and "records.jsonl" in layout.message
    assert failed(report, "ART-020")
    assert not any(f.requirement == "ART-020" and f.status == "pass" for f in report.findings)


def test_oversized_manifest_is_refused_before_parsing(run_dir: Path) -> None:
    from lensemble_spec.artifacts.safe_json import DEFAULT_MAX_BYTES

    with open(run_dir / "manifest.json", "ab") as fh:
        fh.write(b" " * DEFAULT_MAX_BYTES)
    report = verify_run(run_dir)
    assert failed(report, "ART-027") and not report.ok


def test_deeply_nested_header_is_refused_before_parsing(run_dir: Path) -> None:
    header = ckpt(run_dir, 1) / "header.json"
    header.write_text(header.read_text()[:-2] + ', "x": ' + "[" * 100 + "]" * 100 + "}\n")
    assert failed(verify_run(run_dir), "ART-027")


def test_nan_literal_in_rounds_fails_art_028(run_dir: Path) -> None:
    path = run_dir / "rounds.jsonl"
    path.write_text(path.read_text().replace('"latent_rms":', '"latent_rms":NaN,"x":', 1))
    assert failed(verify_run(run_dir), "ART-028")


def test_too_new_schema_version_fails_art_029(run_dir: Path) -> None:
    edit_json(ckpt(run_dir, 2) / "header.json", lambda h: h.update(schema_version=2))
    assert failed(verify_run(run_dir), "ART-029")


# --- the comparison as a whole -------------------------------------------------------------------------
def test_missing_control_fails_eval_001(comparison: Path) -> None:
    import shutil

    shutil.rmtree(comparison / "centralized")
    report = verify_run(comparison)
    assert failed(report, "EVAL-001")


def test_different_theta0_fails_eval_002(comparison: Path) -> None:
    import shutil

    from lensemble_spec.artifacts.checkpoint import load_checkpoint

    run = comparison / "centralized"
    tensors, header = load_checkpoint(ckpt(run, 0))
    tensors = {k: v + np.float32(1e-3) if k == "predictor.b" else v for k, v in tensors.items()}
    shutil.rmtree(ckpt(run, 0))
    save_checkpoint(
        tensors,
        ckpt(run, 0),
        round_index=0,
        parent_hash=None,
        config_hash=header.config_hash,
        producer={"name": "x", "version": "1"},
    )
    assert failed(verify_run(comparison), "EVAL-002")


def test_naive_run_changing_more_than_allowed_fails_eval_004(comparison: Path) -> None:
    run = comparison / "naive-fedavg"

    def change(m: dict) -> None:
        m["config"]["backstop_threshold_deg"] = 20.0
        m["config_hash"] = config_hash(m["config"])

    edit_json(run / "manifest.json", change)
    report = verify_run(comparison)
    (f,) = failed(report, "EVAL-004")
    assert "backstop_threshold_deg" in f.message
