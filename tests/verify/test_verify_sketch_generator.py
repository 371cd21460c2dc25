"""The verifier needs no sketch (RFC-0003 §6.3): a run trained with lensemble-spec 0.1's NumPy
sketches verifies exactly as one trained with the §6.2 generator, because nothing it checks —
hashes, the sketch seeds (FED-026), metrics recomputed from the committed weights — depends on
the sketches a run trained with.

Defect caught: a verifier that starts rebuilding sketches (and would then judge 0.1 runs by
sketches they never trained with) without the migration rule being revisited.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lensemble_spec.metrics import sketch as sketch_module
from lensemble_spec.verify import verify_run


def _no_sketch(*_args, **_kwargs):
    raise AssertionError("the verifier built a SIGReg sketch")


def test_verification_builds_no_sketch(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = json.loads((run_dir / "manifest.json").read_text())["config"]
    assert "sketch_generator" not in config  # like every run written before lensemble-spec 0.2
    before = verify_run(run_dir)
    generators = {id(f) for f in (sketch_module.build_sketch, sketch_module.standard_normals, sketch_module.splitmix64)}
    for module in list(sys.modules.values()):
        for name in ("build_sketch", "standard_normals", "splitmix64"):
            if id(getattr(module, name, None)) in generators:
                monkeypatch.setattr(module, name, _no_sketch)
    after = verify_run(run_dir)
    assert before.ok, before.render_text(show_passed=False)
    assert [(f.requirement, f.status, f.message) for f in after.findings] == [
        (f.requirement, f.status, f.message) for f in before.findings
    ]
