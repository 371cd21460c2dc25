"""Small ComplianceReport builders for the report tests (no pytest session needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from lensemble_spec.report.aggregate import build_compliance_report
from lensemble_spec.schemas.compliance import RunRecords

#: A requirement text with everything that could break HTML or a Markdown table.
NASTY = 'S @ Q ≈ T <script>alert("x")</script> | a|b & *bold* _u_ `tick` [link](http://e) \n newline'


def req(rid: str, level: str = "MUST", rfc: str = "RFC-0002", section: str = "2.1", text: str | None = None) -> Any:
    return SimpleNamespace(id=rid, rfc=rfc, section=section, level=level, text=text or f"{rid} text.")


RUN_INFO = {
    "impl": {"spec": "fake_impl", "name": "fake <impl>", "version": "1.0", "capabilities": ["gauge"],
             "missing": ["model", "federation", "artifacts"]},
    "lensemble_spec_version": "0.1.0",
    "python": "3.11.7",
    "platform": "linux",
    "pytest": "9.2.0",
    "rootdir": "/tmp/x",
    "started_at": "2026-11-25T08:00:00Z",
    "finished_at": "2026-11-25T08:00:02Z",
    "duration_s": 2.0,
}


def make_report(
    requirements: list[Any],
    outcomes: dict[str, tuple[list[str], str, str | None]],
    *,
    runs: list[RunRecords] = (),
    **kwargs: Any,
):
    """``outcomes``: node id -> (requirement ids, outcome, message)."""
    items = {n: {"requirements": ids, "level": "quick"} for n, (ids, _, _) in outcomes.items()}
    outs = {n: {"outcome": o, "message": m, "duration": 0.01} for n, (_, o, m) in outcomes.items()}
    return build_compliance_report(
        requirements=requirements, items=items, outcomes=outs, run_info=RUN_INFO, runs=list(runs), **kwargs
    )


def round_record(i: int, control: str = "anchored", **metrics: Any) -> dict[str, Any]:
    base = {
        "effective_rank": 4.0 + i,
        "latent_std_mean": 0.5,
        "drift_to_reference_deg": 2.0 * i,
        "val_pred": 1.0 / (i + 1),
    }
    base.update(metrics)
    return {
        "schema_version": 1, "run_id": f"run-{control}", "control": control, "round_index": i,
        "participants": ["silo0", "silo1"], "global_hash": None, "parent_hash": None,
        "metrics": base, "backstop_fired": {}, "wall_time_s": 0.25,
    }


def sample_report(with_runs: bool = False):
    reqs = [
        req("GAUGE-001", text=NASTY),
        req("GAUGE-002", section="2.2"),
        req("GAUGE-003", level="SHOULD", section="3"),
        req("FED-001", rfc="RFC-0003", section="1"),
        req("FED-002", rfc="RFC-0003", section="4", level="MAY"),
    ]
    outcomes = {
        "conformance/test_gauge.py::test_a": (["GAUGE-001"], "passed", None),
        "conformance/test_gauge.py::test_b[x|y]": (["GAUGE-002"], "failed", "AssertionError: <b>1 != 2</b> | bad"),
        "conformance/test_gauge.py::test_c": (["GAUGE-003"], "not-implemented", "not-implemented: no `model` part"),
        "conformance/test_fed.py::test_d": (["FED-001"], "xfailed", "expectation: sign differs"),
    }
    runs = []
    if with_runs:
        runs = [
            RunRecords(run_dir="/runs/anchored", control="anchored",
                       records=[round_record(i) for i in range(4)]),
            RunRecords(run_dir="/runs/naive", control="naive-fedavg",
                       records=[round_record(i, "naive-fedavg", drift_to_reference_deg=None,
                                             drift_degenerate=(i == 3)) for i in range(4)]),
        ]
    return make_report(reqs, outcomes, runs=runs)
