"""End to end, by commands alone: headline → publish → conformance with --hub-cache → conformant.

``lensemble-spec headline`` writes a four-control comparison at the smallest budget the reference
passes at; ``lensemble-spec publish DIR --repo-id ORG/NAME --hub-cache HUB`` commits its model
card, config and final checkpoints into a local Hugging Face cache and writes full-revision pins
with per-file sha256 into ``DIR/results.json`` (nothing in this test writes a pin or a cache
entry itself); ``pytest conformance --impl reference_impl --level full --run DIR --hub-cache HUB``
runs in a subprocess with the default thread settings; ``lensemble-spec report --require
conformant`` must then exit 0. Both commands run through ``lensemble_spec.cli.main``, the console
script's own entry point.

Budget: ``--rounds 1 --inner-steps 10`` (batch size default 16). Round-1 anchored drift to the
reference, the binding GAUGE-040 bound (30°), per inner-step count H (round 1 is the same for every
R): H=5 45.5°, 6 46.9°, 7 46.5°, 8 34.9°, 9 29.3°, 10 25.3°, 12 20.5°, 15 19.3°, 20 15.4°; batch
size 8 or 4 at H=10 is worse (33.9°, 36.3°); the same to 0.01° at one and two torch threads.
H=9 passes by 0.7° only, so H=10 (4.7° margin) is used.

Defects caught: a reference (or suite) change that makes the reference fail any MUST of its own
suite at a small budget; a results-table check that silently stops running on a ``--run``
comparison (EVAL-010…017 must be *passed*, not skipped); ``publish`` writing pins that do not
reach or do not pass ART-023/024/025, a cache that huggingface_hub itself cannot read at the
pinned revision, or a model card whose ``model-index`` disagrees with the ResultsTable; ``report
--require conformant`` not reflecting the verdict.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUDGET = ("--rounds", "1", "--inner-steps", "10")
REPO_ID = "lensemble-e2e/reference-headline"
RESULTS_TABLE_IDS = tuple(f"EVAL-0{n}" for n in range(10, 18))  # EVAL-010 … EVAL-017
PIN_IDS = ("ART-023", "ART-024", "ART-025")


@pytest.fixture(scope="session")
def reference_session(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from lensemble_spec.cli import main

    root = tmp_path_factory.mktemp("reference-conformance")
    comparison, hub, out = root / "comparison", root / "hub", root / "compliance.json"
    started = time.perf_counter()
    assert main(["headline", "--out", str(comparison), *BUDGET, "--quiet"]) == 0
    assert main(["publish", str(comparison), "--repo-id", REPO_ID, "--hub-cache", str(hub)]) == 0
    published = time.perf_counter()
    cmd = [
        sys.executable, "-m", "pytest", "conformance", "--impl", "reference_impl", "--level", "full",
        "--run", str(comparison), "--hub-cache", str(hub), "--compliance-json", str(out),
        "-q", "-p", "no:cacheprovider",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800, check=False)  # default env
    report = json.loads(out.read_text()) if out.exists() else None
    print(f"headline + publish {published - started:.1f}s, conformance session {time.perf_counter() - published:.1f}s")
    return {"proc": proc, "report": report, "comparison": comparison, "hub": hub, "compliance": out, "root": root}


@pytest.mark.slow
def test_reference_comparison_is_conformant(reference_session: dict) -> None:
    """Slow: ≈ 25 s on the idle 2-core machine (headline + publish ≈ 6 s, suite session ≈ 18 s)."""
    proc, report = reference_session["proc"], reference_session["report"]
    tail = (proc.stdout + proc.stderr)[-3000:]
    assert report is not None, f"the conformance session wrote no compliance JSON:\n{tail}"
    counts = report["counts"]
    assert proc.returncode == 0 and counts["failed"] == 0 and counts["errors"] == 0, tail
    assert counts["collection_errors"] == 0 and counts["not_implemented"] == 0, counts
    assert report["run_info"]["run_dirs"] == [str(reference_session["comparison"])]
    status = {r["id"]: r["status"] for r in report["requirements"]}
    not_passed = {rid: status[rid] for rid in (*RESULTS_TABLE_IDS, *PIN_IDS) if status.get(rid) != "passed"}
    assert not not_passed, f"results-table / pin requirements not checked on the comparison: {not_passed}"
    assert report["verdicts"]["overall"] == "conformant", {
        r["id"]: r["status"] for r in report["requirements"] if r["level"] == "MUST" and r["status"] != "passed"
    }
    assert report["verdicts"]["conformant"] is True


@pytest.mark.slow
def test_published_pins_resolve_through_huggingface_hub_itself(reference_session: dict) -> None:
    """Every pin written by publish: full revision, sha256 of the bytes hf_hub_download returns offline."""
    from huggingface_hub import hf_hub_download

    table = json.loads((reference_session["comparison"] / "results.json").read_text())
    pins = [p for row in table["controls"] for p in row["pins"]]
    assert {row["control"] for row in table["controls"]} == {"local-only", "naive-fedavg", "anchored", "centralized"}
    assert all(row["pins"] for row in table["controls"])
    for pin in pins:
        m = re.fullmatch(rf"hf://models/{REPO_ID}@(?P<rev>[0-9a-f]{{40}})/(?P<path>.+)", pin["uri"])
        assert m, pin
        local = hf_hub_download(REPO_ID, m["path"], revision=m["rev"], cache_dir=reference_session["hub"],
                                local_files_only=True)
        assert hashlib.sha256(Path(local).read_bytes()).hexdigest() == pin["sha256"]
    weights = [p for p in pins if p["uri"].endswith("/weights.safetensors")]
    assert len(weights) == 3 + 4  # one global for three controls, one model per local-only silo


@pytest.mark.slow
def test_model_card_metadata_matches_the_results_table(reference_session: dict) -> None:
    from huggingface_hub import ModelCard, hf_hub_download

    table = json.loads((reference_session["comparison"] / "results.json").read_text())
    revision = table["controls"][0]["pins"][0]["uri"].split("@")[1].split("/")[0]
    card = ModelCard.load(hf_hub_download(REPO_ID, "README.md", revision=revision,
                                          cache_dir=reference_session["hub"], local_files_only=True))
    assert card.data.license == "apache-2.0" and "lensemble-spec" in card.data.tags
    claimed = {r.metric_name: r.metric_value for r in card.data.eval_results}
    expected = {f"{key} ({row['control']})": value for row in table["controls"]
                for key, value in row["metrics"].items() if value is not None and "/" not in key}
    assert claimed == expected
    assert "## Compliance" in card.text and "## How to reproduce" in card.text


@pytest.mark.slow
def test_report_require_conformant_passes_and_renders(reference_session: dict, tmp_path: Path) -> None:
    from lensemble_spec.cli import main

    out = tmp_path / "report"
    assert main(["report", "--from", str(reference_session["compliance"]), "--out", str(out),
                 "--require", "conformant"]) == 0
    html = (out / "report.html").read_text()
    assert 'data-verdict="conformant"' in html
    # the comparison given to --run is read for plots: one line per control on each metric plot
    assert html.count('class="plot"') >= 3
    assert "no rounds.jsonl" not in html


@pytest.mark.slow
def test_the_cards_reproduce_recipe_rebuilds_every_checkpoint_bit_for_bit(
    reference_session: dict, tmp_path: Path
) -> None:
    """The card's "How to reproduce": headline --config train_config.json gives the published content hashes."""
    from huggingface_hub import hf_hub_download

    from lensemble_spec.cli import main

    table = json.loads((reference_session["comparison"] / "results.json").read_text())
    revision = table["controls"][0]["pins"][0]["uri"].split("@")[1].split("/")[0]
    fetch = {name: hf_hub_download(REPO_ID, name, revision=revision, cache_dir=reference_session["hub"],
                                   local_files_only=True) for name in ("train_config.json", "config.json", "README.md")}
    assert "--config train_config.json\n" in Path(fetch["README.md"]).read_text()
    assert main(["headline", "--out", str(tmp_path / "repro"), "--config", fetch["train_config.json"], "--quiet"]) == 0
    published = json.loads(Path(fetch["config.json"]).read_text())["controls"]
    for control, info in published.items():
        manifest = json.loads((tmp_path / "repro" / control / "manifest.json").read_text())
        last = max(c["round_index"] for c in manifest["checkpoints"])
        assert [c["content_hash"] for c in manifest["checkpoints"] if c["round_index"] == last] == info[
            "content_hashes"
        ], control


#: SHOULD/MAY requirements the reference's full-level session may leave unpassed, and why. Every
#: other requirement, and every MUST without exception, has at least one passing test.
NOT_PASSED_ALLOWED: dict[str, str] = {}


@pytest.mark.slow
def test_no_requirement_is_only_ever_skipped(reference_session: dict) -> None:
    """The meta-test of issue #19.6: at --level full with --run on a reference comparison, every MUST
    is *passed* by at least one test (none is only skipped or never tested), and the SHOULD/MAY
    requirements left unpassed are exactly the documented ones."""
    report = reference_session["report"]
    assert report is not None, "the conformance session wrote no compliance JSON"
    assert report["run_info"]["level"] == "full"
    status = {r["id"]: r for r in report["requirements"]}
    musts = {rid: r["status"] for rid, r in status.items() if r["level"] == "MUST" and r["status"] != "passed"}
    assert not musts, f"MUST requirements with no passing test at --level full with --run: {musts}"
    others = {
        rid: (r["status"], r["reasons"][:1])
        for rid, r in status.items()
        if r["level"] != "MUST" and r["status"] != "passed"
    }
    assert set(others) == set(NOT_PASSED_ALLOWED), (
        f"SHOULD/MAY not passed: {others}; documented: {sorted(NOT_PASSED_ALLOWED)}"
    )
