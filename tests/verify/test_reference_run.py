"""verify_run on a run directory written by the bundled reference trainer (through the protocol).

Slow (one real training run of one round on the harness world, ~20 s on 2 shared cores), so the
trainer runs once per session. The integrity requirements must pass on the untouched run and
fail, each naming its requirement, on copies with one flipped weight byte, one edited metric, a
pin to ``main`` and a header path outside the run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

#: Requirements a reference run must satisfy whatever else is still open (RFC-0010 integrity,
#: RFC-0002 anchor and drift recomputation).
INTEGRITY = ("ART-001", "ART-004", "ART-007", "ART-013", "ART-014", "ART-016", "ART-018", "ART-019", "ART-020",
             "ART-021", "ART-022", "GAUGE-024", "GAUGE-033")


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lensemble_reference = pytest.importorskip("lensemble_reference")
    from lensemble_spec.protocol import FederationConfig
    from lensemble_spec.worlds import harness_world

    world = harness_world(0)
    out = tmp_path_factory.mktemp("reference") / "anchored"
    lensemble_reference.IMPLEMENTATION.federation.run(
        FederationConfig(control="anchored", rounds=1, inner_steps=1, batch_size=4), world.silos, world.probe, out
    )
    return out


@pytest.fixture
def ref_copy(reference_run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(reference_run, dst, symlinks=True)
    return dst


@pytest.fixture(scope="session")
def ref_impl():  # type: ignore[no-untyped-def]
    return pytest.importorskip("lensemble_reference").IMPLEMENTATION


def _status(report, req: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.status for f in report.findings if f.requirement == req}


def test_reference_run_passes_every_integrity_requirement(reference_run: Path, ref_impl) -> None:  # type: ignore[no-untyped-def]
    from lensemble_spec.verify import verify_run

    report = verify_run(reference_run, impl=ref_impl)
    for req in INTEGRITY:
        assert _status(report, req) == {"pass"}, (req, report.render_text(show_passed=False))


def test_reference_run_is_fully_conformant(reference_run: Path, ref_impl) -> None:  # type: ignore[no-untyped-def]
    from lensemble_spec.verify import verify_run

    report = verify_run(reference_run, impl=ref_impl)
    assert report.ok, report.render_text(show_passed=False)


def test_flipped_weight_byte_in_a_reference_run_fails_art_007(ref_copy: Path) -> None:
    from lensemble_spec.verify import verify_run

    weights = ref_copy / "checkpoints/round-0001/weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    assert _status(verify_run(ref_copy), "ART-007") == {"pass", "fail"}


def test_edited_drift_in_a_reference_run_fails_gauge_033(ref_copy: Path, ref_impl) -> None:  # type: ignore[no-untyped-def]
    from lensemble_spec.verify import verify_run

    name = "rounds.jsonl"
    lines = [json.loads(x) for x in (ref_copy / name).read_text().splitlines()]
    lines[1]["metrics"]["drift_to_reference_deg"] = lines[1]["metrics"]["drift_to_reference_deg"] + 1.0
    (ref_copy / name).write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert "fail" in _status(verify_run(ref_copy, impl=ref_impl), "GAUGE-033")


def test_pin_to_main_in_a_reference_run_fails_art_023(ref_copy: Path) -> None:
    from lensemble_spec.verify import verify_run

    manifest = json.loads((ref_copy / "manifest.json").read_text())
    manifest["data_roots"].append("hf://datasets/acme/so100-silos@main")
    (ref_copy / "manifest.json").write_text(json.dumps(manifest))
    (f,) = [f for f in verify_run(ref_copy).failures if f.requirement == "ART-023"]
    assert "symbolic" in f.message


def test_header_path_outside_a_reference_run_fails_art_026(ref_copy: Path) -> None:
    from lensemble_spec.verify import verify_run

    header = ref_copy / "checkpoints/round-0001/header.json"
    doc = json.loads(header.read_text())
    doc["weight_files"] = ["../../../../outside/weights.safetensors"]
    header.write_text(json.dumps(doc))
    assert "fail" in _status(verify_run(ref_copy), "ART-026")
