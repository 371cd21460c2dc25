"""A run whose manifest carries a lensemble-spec 0.1 configuration hash (Python ``json.dumps``
instead of RFC 8785) fails ART-013 with a finding that names the old scheme and what to do
(RFC-0010 §4.3), instead of a bare hash mismatch.

Defects caught: a verifier that accepts the legacy hash silently, and one that rejects it
without saying why or how to re-hash.
"""

from __future__ import annotations

import json
from pathlib import Path

from lensemble_spec.artifacts.canonical import config_hash, legacy_config_hash
from lensemble_spec.verify import verify_run


def test_legacy_config_hash_fails_art_013_naming_the_scheme(run_dir: Path) -> None:
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["config"]["inner_lr"] = 1.0  # an integral float: the two schemes write it differently
    legacy = legacy_config_hash(manifest["config"])
    assert legacy != config_hash(manifest["config"])
    manifest["config_hash"] = legacy
    path.write_text(json.dumps(manifest))
    report = verify_run(run_dir)
    findings = [f for f in report.findings if f.requirement == "ART-013" and f.status == "fail"]
    assert findings, report.render_text(show_passed=False)
    assert any("lensemble-spec 0.1" in f.message and "RFC-0010 §4.3" in f.message for f in findings), [
        f.message for f in findings
    ]


def test_a_mismatch_that_is_not_legacy_says_nothing_about_schemes(run_dir: Path) -> None:
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["config_hash"] = "ab" * 32
    path.write_text(json.dumps(manifest))
    findings = [f for f in verify_run(run_dir).findings if f.requirement == "ART-013" and f.status == "fail"]
    assert findings and not any("0.1" in f.message for f in findings)
