"""End to end: the reference's own published comparison passes the whole suite, verdict conformant.

``lensemble-spec headline`` (through ``lensemble_spec.cli.main``) writes a four-control comparison
at the smallest budget the reference passes at, :func:`_publish.publish_comparison` pins every
control's final checkpoint files in a local hub cache (what publishing a model card does; a local
run has no pins, so without this step ART-023/024/025 are skipped and the best verdict is
``incomplete``), and ``pytest conformance --impl lensemble_reference --level full --run DIR --hub-cache
HUB`` runs in a subprocess with the default thread settings.

Budget: ``--rounds 1 --inner-steps 10`` (batch size default 16). Round-1 anchored drift to the
reference, the binding GAUGE-040 bound (30°), per inner-step count H (round 1 is the same for every
R): H=5 45.5°, 6 46.9°, 7 46.5°, 8 34.9°, 9 29.3°, 10 25.3°, 12 20.5°, 15 19.3°, 20 15.4°; batch
size 8 or 4 at H=10 is worse (33.9°, 36.3°); the same to 0.01° at one and two torch threads.
H=9 passes by 0.7° only, so H=10 (4.7° margin) is
used; later rounds only shrink the drift (R=2, H=10: 5.9° at round 2).

Defects caught: a reference (or suite) change that makes the reference fail any MUST of its own
suite at a small budget, a results-table check that silently stops running on a ``--run``
comparison (EVAL-010…017 must be *passed*, not skipped), and pins that stop reaching the
ART-023/024/025 checks (``--run``/``--hub-cache`` wiring end to end).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ._publish import publish_comparison

REPO = Path(__file__).resolve().parents[2]
BUDGET = ("--rounds", "1", "--inner-steps", "10")
RESULTS_TABLE_IDS = tuple(f"EVAL-0{n}" for n in range(10, 18))  # EVAL-010 … EVAL-017
PIN_IDS = ("ART-023", "ART-024", "ART-025")


@pytest.fixture(scope="session")
def reference_session(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from lensemble_spec.cli import main

    root = tmp_path_factory.mktemp("reference-conformance")
    comparison, hub, out = root / "comparison", root / "hub", root / "compliance.json"
    started = time.perf_counter()
    assert main(["headline", "--out", str(comparison), *BUDGET, "--quiet"]) == 0
    pins = publish_comparison(comparison, hub)
    trained = time.perf_counter()
    cmd = [
        sys.executable, "-m", "pytest", "conformance", "--impl", "lensemble_reference", "--level", "full",
        "--run", str(comparison), "--hub-cache", str(hub), "--compliance-json", str(out),
        "-q", "-p", "no:cacheprovider",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800, check=False)  # default env
    report = json.loads(out.read_text()) if out.exists() else None
    print(f"headline + publish {trained - started:.1f}s, conformance session {time.perf_counter() - trained:.1f}s")
    return {"proc": proc, "report": report, "comparison": comparison, "pins": pins}


@pytest.mark.slow
def test_reference_comparison_is_conformant(reference_session: dict) -> None:
    """Slow: ≈ 13 s on the idle 2-core machine (headline + publish 4.4 s, suite session 8.2 s, torch
    at its default one thread); 150 s when measured under load 4-7 from other jobs at two threads."""
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
    assert reference_session["pins"] and all(p["sha256"] for p in reference_session["pins"])
    assert report["verdicts"]["overall"] == "conformant", {
        r["id"]: r["status"] for r in report["requirements"] if r["level"] == "MUST" and r["status"] != "passed"
    }
    assert report["verdicts"]["conformant"] is True


#: SHOULD/MAY requirements the reference's full-level session may leave unpassed, and why. Every
#: other requirement, and every MUST without exception, has at least one passing test.
NOT_PASSED_ALLOWED: dict[str, str] = {
    "FED-025": "the reference exposes no `default_outer`; its own TrainConfig default outer lr is 1.0, "
    "not the 0.5 of RFC-0003 §5.4 (reported to the lead rather than hidden)",
    "FED-027": "not observable through the protocol: local_update is not handed the sketch and its "
    "optimiser is the implementation's own, so no check can tell which sketch it trained with",
}


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
    others = {rid: (r["status"], r["reasons"][:1]) for rid, r in status.items() if r["level"] != "MUST" and r["status"] != "passed"}
    assert set(others) == set(NOT_PASSED_ALLOWED), (
        f"SHOULD/MAY not passed: {others}; documented: {sorted(NOT_PASSED_ALLOWED)}"
    )
