"""Helpers for testing the pytest plugin black-box with pytester (fixtures in conftest.py).

Every inner run is in-process (fast, ~0.1-0.3 s), uses a tiny RFC directory written by the test
(``--rfc-dir rfcs``), a fake implementation module with a unique name, and writes its results to
``out.json`` which :func:`run` parses and validates as a ComplianceReport.
"""

from __future__ import annotations

import itertools
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_counter = itertools.count()

#: RFC number -> (prefix, [(id, level, text)]). Two RFCs so --rfc filtering has something to drop.
RFCS: dict[int, tuple[str, list[tuple[str, str, str]]]] = {
    90: (
        "TST",
        [
            ("TST-001", "MUST", "The gauge part MUST report an effective rank of one for the probe."),
            ("TST-002", "MUST", "The model part MUST round-trip its parameters."),
            ("TST-003", "SHOULD", "An implementation SHOULD publish its version."),
        ],
    ),
    91: ("ALT", [("ALT-001", "MUST", "Run directories MUST hold a manifest.")]),
}


def rfc_markdown(number: int, prefix: str, reqs: list[tuple[str, str, str]]) -> str:
    """RFC text in the block syntax of rfcs/ (``- **ID** (LEVEL): sentence``)."""
    blocks = "\n\n".join(f"- **{rid}** ({level}): {text}" for rid, level, text in reqs)
    return textwrap.dedent(
        f"""\
        # RFC-{number:04d}: Test requirements {number}

        | Field | Value |
        |---|---|
        | Status | Draft |
        | Requirement prefix | {prefix} |

        ## 1. Requirements

        Prose that is not normative.

        {{blocks}}
        """
    ).replace("{blocks}", blocks)


def write_rfcs(root: Path, rfcs: dict[int, tuple[str, list[tuple[str, str, str]]]] = RFCS) -> Path:
    rfc_dir = root / "rfcs"
    rfc_dir.mkdir(exist_ok=True)
    for number, (prefix, reqs) in rfcs.items():
        (rfc_dir / f"RFC-{number:04d}-test-{number}.md").write_text(
            rfc_markdown(number, prefix, reqs), encoding="utf-8"
        )
    return rfc_dir


GAUGE_SRC = '''
class Gauge:
    def procrustes_align(self, source, target):
        return [[1.0]]
    def rotation_angle_deg(self, q):
        return 0.0
    def frame_drift_deg(self, source, target):
        return 0.0
    def effective_rank(self, z):
        return 1.0
    def latent_std_mean(self, z):
        return 1.0
'''


def write_impl(root: Path, *, version: str = "1.2.3", gauge: bool = True, broken_gauge: bool = False) -> str:
    """A fake implementation module (gauge part only, or a gauge lacking a member); returns its name."""
    name = f"fakeimpl_{next(_counter)}_{root.name.replace('-', '_')}"
    gauge_line = "Gauge()" if gauge else "None"
    src = GAUGE_SRC
    if broken_gauge:
        src = src.replace("    def latent_std_mean(self, z):\n        return 1.0\n", "")
    (root / f"{name}.py").write_text(
        src
        + f'''
class Impl:
    name = "fake-impl"
    version = "{version}"
    gauge = {gauge_line}
    model = None
    federation = None
    artifacts = None

IMPLEMENTATION = Impl()
''',
        encoding="utf-8",
    )
    return name


@dataclass
class Run:
    result: Any  # pytest.RunResult
    ret: int
    report: dict[str, Any] | None
    out: str

    def test(self, suffix: str) -> dict[str, Any]:
        assert self.report is not None, self.out
        hits = [t for t in self.report["tests"] if t["nodeid"].endswith(suffix)]
        assert len(hits) == 1, (suffix, [t["nodeid"] for t in self.report["tests"]])
        return hits[0]

    def req(self, rid: str) -> dict[str, Any]:
        assert self.report is not None, self.out
        hits = [r for r in self.report["requirements"] if r["id"] == rid]
        assert len(hits) == 1, rid
        return hits[0]


class Suite:
    def __init__(self, pytester) -> None:
        self.pytester = pytester
        self.path: Path = pytester.path
        self.impl = write_impl(pytester.path)

    def tests(self, source: str, name: str = "test_suite.py") -> Path:
        target = self.path / "conformance" / name
        target.parent.mkdir(exist_ok=True)
        target.write_text(textwrap.dedent(source), encoding="utf-8")
        return target

    def run(self, *args: str, impl: bool = True) -> Run:
        out_json = self.path / "out.json"
        if out_json.exists():
            out_json.unlink()
        argv = ["-p", "no:cacheprovider", "--rfc-dir", "rfcs", "--compliance-json", "out.json", *args]
        if impl:
            argv = ["--impl", self.impl, *argv]
        result = self.pytester.runpytest_inprocess(*argv)
        report = None
        if out_json.exists():
            from lensemble_spec.schemas import load_document
            from lensemble_spec.schemas.compliance import ComplianceReport

            load_document(ComplianceReport, out_json)  # the file validates against the schema
            report = json.loads(out_json.read_text(encoding="utf-8"))
        out = result.stdout.str() + "\n" + result.stderr.str()
        return Run(result=result, ret=int(result.ret), report=report, out=out)


# A conformance module exercising every outcome the plugin classifies.
BASIC_TESTS = '''
import pytest

@pytest.mark.requirement("TST-001")
def test_gauge_rank(gauge_part):
    assert gauge_part.effective_rank(None) == 1.0

@pytest.mark.requirement("TST-002")
def test_model_roundtrip(model_part):
    raise AssertionError("never reached: the model part is None")

@pytest.mark.requirement("TST-003")
def test_version(impl):
    assert impl.version == "1.2.3"

@pytest.mark.requirement("ALT-001")
def test_manifest(run_dirs):
    if not run_dirs:
        pytest.skip("no --run directories given")
    assert all((d / "manifest.json").is_file() for d in run_dirs)
'''
