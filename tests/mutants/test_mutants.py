"""The conformance suite must reject every mutant with exactly the requirement ids it violates.

Each job is one conformance session (``--level quick``) in a pool of two worker processes
(``mutants.worker``); its compliance JSON gives the failed requirement ids. A job is judged against
its *baseline* (the reference for implementation mutants, the pristine directories for tampered
run directories): the ids it must fail are its expected ids plus the ids of tests that already fail
in the baseline and were selected in the job, so a defect of the reference shows up once, in the
baseline test, and not as a mismatch in every mutant.

Also here: the partial-implementation check (gauge part only: gauge requirements judged, everything
else not implemented, no errors) and the meta-test that every MUST requirement is failed by at least
one mutant.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lensemble_spec.requirements import load_catalog

from .expectations import MUTANTS, TAMPER_EXPECTED, UNCAUGHT_MUST
from .rundirs import TAMPERS, build_pristine, hub_cache_args, materialise

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
WORKERS = 2
QUICK = ["--level", "quick", "-q", "-p", "no:cacheprovider", "--hypothesis-profile", "lensemble-spec-mutants"]
#: Mutants that patch the reference when built: they get a worker process of their own.
ISOLATED = frozenset({"magnitude-collapse"})
FAILED = frozenset({"failed", "error"})


@dataclass
class Job:
    name: str
    args: list[str]
    expected: frozenset[str] = frozenset()
    baseline: str | None = None
    isolated: bool = False
    result: dict = field(default_factory=dict)
    seconds: float = 0.0


def _jobs(root: Path) -> dict[str, Job]:
    pristine = build_pristine(root / "pristine")
    jobs: dict[str, Job] = {}

    def add(name: str, args: list[str], **kw) -> None:
        out = root / "json" / f"{name}.json"
        jobs[name] = Job(name, [*args, *QUICK, "--compliance-json", str(out)], **kw)

    add("reference", ["conformance", "--impl", "lensemble_reference"], isolated=True)
    add(
        "reference-primitives",
        ["conformance", "--impl", "mutants.primitives:reference_without_run", "-m", "harness_run"],
    )
    add("partial", ["conformance", "--impl", "mutants.partial:gauge_only"])
    for name, m in MUTANTS.items():
        baseline = "reference-primitives" if m.impl.startswith("mutants.primitives:") else "reference"
        add(name, [*m.args, "--impl", m.impl], expected=m.expected, baseline=baseline, isolated=name in ISOLATED)
    rundir_args = ["conformance", "--impl", "mutants.rundirs:model_only", "-m", "harness_run"]
    for name in ("pristine", "pristine-degenerate", *TAMPERS):
        dirs = materialise(name, pristine, root / "dirs" / name)
        runs = [a for d in dirs for a in ("--run", str(d))] + hub_cache_args(root / "dirs" / name)
        baseline = (
            None
            if name.startswith("pristine")
            else ("pristine-degenerate" if name == "degenerate-as-zero" else "pristine")
        )
        add(
            f"dir:{name}" if not name.startswith("pristine") else name,
            [*rundir_args, *runs],
            expected=TAMPER_EXPECTED.get(name, frozenset()),
            baseline=baseline,
        )
    (root / "json").mkdir(exist_ok=True)
    return jobs


def _run_batch(batch: list[Job], root: Path) -> None:
    spec = root / f"batch-{batch[0].name.replace(':', '_')}.json"
    spec.write_text(json.dumps([{"name": j.name, "args": j.args} for j in batch]))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), str(REPO), os.environ.get("PYTHONPATH", "")]))
    # WORKERS processes share the cores: one BLAS/OpenMP thread each, so none spin-waits on another.
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mutants.worker", str(spec)], cwd=REPO, env=env, check=False, timeout=1200)
    elapsed = time.perf_counter() - start
    for job in batch:
        out = Path(job.args[job.args.index("--compliance-json") + 1])
        job.result = json.loads(out.read_text()) if out.exists() else {}
        job.seconds = elapsed / len(batch)


@pytest.fixture(scope="session")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Job]:
    root = tmp_path_factory.mktemp("mutants")
    start = time.perf_counter()
    jobs = _jobs(root)
    isolated = [[j] for j in jobs.values() if j.isolated]
    rest = [j for j in jobs.values() if not j.isolated]
    per = max(1, -(-len(rest) // (2 * WORKERS)))
    batches = isolated + [rest[i : i + per] for i in range(0, len(rest), per)]
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda b: _run_batch(b, root), batches))
    print(
        f"\nmutation jobs: {len(jobs)} sessions in {time.perf_counter() - start:.1f}s (incl. the pristine comparison)"
    )
    return jobs


def failed_ids(result: dict) -> set[str]:
    return {r["id"] for r in result.get("requirements", []) if r["status"] == "failed"}


def _inherited(job: Job, jobs: dict[str, Job]) -> set[str]:
    """Ids of tests that fail in the job's baseline and were selected in the job."""
    if not job.baseline:
        return set()
    base = jobs[job.baseline].result
    broken = {t["nodeid"]: t["requirements"] for t in base.get("tests", []) if t["outcome"] in FAILED}
    selected = {t["nodeid"] for t in job.result.get("tests", [])}
    return {rid for nodeid in selected & set(broken) for rid in broken[nodeid]}


def _check(job: Job, jobs: dict[str, Job]) -> None:
    """The job fails every expected id, and nothing else except ids its baseline already fails."""
    assert job.result, f"{job.name}: the conformance session wrote no compliance JSON (see its .log)"
    got, want, inherited = failed_ids(job.result), set(job.expected), _inherited(job, jobs)
    missed, extra = want - got, got - want - inherited
    messages = {r["id"]: r["messages"][:1] for r in job.result["requirements"] if r["id"] in missed | extra}
    assert not missed and not extra, (
        f"{job.name}: failed {sorted(got)}, expected {sorted(want)} (+ baseline {sorted(inherited)}); "
        f"missed {sorted(missed)}, unexpected {sorted(extra)}; messages {messages}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_rejected_with_exactly_its_ids(outcomes, name):
    _check(outcomes[name], outcomes)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_run_directory_is_rejected_with_exactly_its_ids(outcomes, name):
    _check(outcomes[f"dir:{name}"], outcomes)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["reference", "reference-primitives", "pristine", "pristine-degenerate"])
def test_baseline_passes(outcomes, name):
    result = outcomes[name].result
    assert result, f"{name}: no compliance JSON"
    broken = [(t["nodeid"], t["message"]) for t in result["tests"] if t["outcome"] in FAILED]
    assert not broken, f"{name} fails {len(broken)} conformance test(s): {broken[:5]}"


@pytest.mark.slow
def test_partial_implementation_reports_not_implemented(outcomes):
    """Gauge part only: gauge requirements are judged, the others are not implemented, no errors."""
    result = outcomes["partial"].result
    assert result, "no compliance JSON"
    assert result["counts"]["errors"] == 0 and result["counts"]["collection_errors"] == 0
    status = {r["id"]: r["status"] for r in result["requirements"]}
    gauge_ids = {"GAUGE-010", "GAUGE-011", "GAUGE-012", "GAUGE-013", "GAUGE-014", "GAUGE-016", "GAUGE-017",
                 "GAUGE-018", "GAUGE-019", "GAUGE-020", "GAUGE-036", "GAUGE-037", "GAUGE-038", "GAUGE-039"}  # fmt: skip
    assert all(status[i] in ("passed", "failed") for i in gauge_ids), {i: status[i] for i in gauge_ids}
    for rid in ("GAUGE-002", "GAUGE-026", "GAUGE-040", "FED-015", "FED-009", "EVAL-007", "ART-007", "ART-015"):
        assert status[rid] == "not-implemented", (rid, status[rid])
    assert result["verdicts"]["overall"] in ("partial", "non-conformant")
    assert not any(t["outcome"] == "error" for t in result["tests"])


#: Run-level requirements a primitives-only implementation is judged on through the runs the harness
#: drives itself (issue #10): drift bounds per round, rank and scale non-collapse, recorded metrics.
RUN_LEVEL_QUICK = ("GAUGE-040", "GAUGE-041", "GAUGE-042", "GAUGE-033", "GAUGE-024", "EVAL-007", "ART-020")


@pytest.mark.slow
def test_primitives_only_reference_passes_the_run_level_requirements(outcomes):
    """The reference with ``run`` hidden: the run-level requirements are *passed* (not skipped, not
    not-implemented), judged on the harness-driven runs."""
    result = outcomes["reference-primitives"].result
    assert result, "no compliance JSON"
    status = {r["id"]: r["status"] for r in result["requirements"]}
    assert {rid: status[rid] for rid in RUN_LEVEL_QUICK} == dict.fromkeys(RUN_LEVEL_QUICK, "passed")
    assert result["counts"]["errors"] == 0


@pytest.mark.slow
def test_verify_and_the_suite_fail_the_same_ids_on_every_tampered_directory(outcomes, capsys, tmp_path):
    """One checker (issue #11): ``lensemble-spec verify DIR`` and ``pytest conformance --run DIR``
    fail the same requirement ids on every tampered directory (the suite's ids restricted to those
    the verifier checks; the suite's other run tests — what the controls do, residency, seeds —
    have no ``verify`` counterpart)."""
    from conformance._comparison import heldout_file
    from conformance._world import world_for
    from lensemble_spec.cli import main
    from lensemble_spec.verify import RUN_REQUIREMENTS

    from ._base import reference

    heldout = heldout_file(world_for(reference().model).heldout, tmp_path / "heldout.safetensors")
    mismatches = {}
    for name in ("pristine", "pristine-degenerate", *(f"dir:{t}" for t in TAMPERS)):
        job = outcomes[name]
        assert job.result, f"{name}: no compliance JSON"
        args = job.args
        dirs = [args[i + 1] for i, a in enumerate(args) if a == "--run"]
        hub = [a for i, a in enumerate(args) if a == "--hub-cache" or (i and args[i - 1] == "--hub-cache")]
        cli_failed: set[str] = set()
        for d in dirs:
            main(["verify", d, "--impl", "tests.mutants.rundirs:model_only", "--heldout", str(heldout), "--json", *hub])
            captured = capsys.readouterr()
            assert captured.out.strip(), f"{name}: verify {d} printed no JSON; stderr: {captured.err[-2000:]}"
            cli_failed |= set(json.loads(captured.out)["failed_requirements"])
        suite_failed = failed_ids(job.result) & set(RUN_REQUIREMENTS)
        if cli_failed != suite_failed:
            mismatches[name] = {"verify": sorted(cli_failed), "pytest": sorted(suite_failed)}
    assert not mismatches, mismatches


def test_every_must_requirement_is_failed_by_a_mutant():
    """Static: the union of the expected ids covers every MUST, except the documented allow-list."""
    musts = {r.id for r in load_catalog().by_level("MUST")}
    caught = set().union(*(m.expected for m in MUTANTS.values()), *TAMPER_EXPECTED.values())
    missing = sorted(musts - caught - set(UNCAUGHT_MUST))
    assert not missing, f"MUST requirements no mutant fails: {missing}"
    stale = sorted(set(UNCAUGHT_MUST) & caught)
    assert not stale, f"UNCAUGHT_MUST lists ids a mutant now fails: {stale}"
    unknown = sorted(set(UNCAUGHT_MUST) - musts)
    assert not unknown, f"UNCAUGHT_MUST lists unknown or non-MUST ids: {unknown}"


def test_expected_ids_are_known_requirements():
    catalog = load_catalog()
    named = set().union(*(m.expected for m in MUTANTS.values()), *TAMPER_EXPECTED.values())
    assert not sorted(i for i in named if i not in catalog)
    assert set(TAMPER_EXPECTED) <= set(TAMPERS), sorted(set(TAMPER_EXPECTED) - set(TAMPERS))


#: Helper modules of the suite that call a protocol method, and why a unit mutant of that method
#: may still leave out the tests using the helper.
HELPER_CALLS = {
    **{
        (
            method,
            "_driver.py",
        ): "harness-driven runs (the federation through the primitives): reached only by run tests (-m harness_run)"
        for method in ("init", "local_update", "outer_init", "outer_step", "align_release")
    },
    ("encode", "_assertions.py"): "wrapped by encoded(): a test file calling it is taken as calling encode (WRAPPERS)",
    (
        "predict",
        "_assertions.py",
    ): "wrapped by predicted(): a test file calling it is taken as calling predict (WRAPPERS)",
}
#: Suite helpers that call one protocol method for a test: a call of the helper counts as a call of the method.
WRAPPERS = {"encode": ("encoded",), "predict": ("predicted",)}


def _overridden(spec: str) -> set[str]:
    """Public methods the mutant's wrapper classes define (what it changes)."""
    from lensemble_spec.protocol import PARTS, resolve_implementation

    from ._base import Wrapped

    impl = resolve_implementation(f"tests.{spec}")  # the same modules as this package's relative imports
    names: set[str] = set()
    for part in PARTS:
        obj = getattr(impl, part)
        if isinstance(obj, Wrapped):
            for cls in type(obj).__mro__:
                if cls is Wrapped:
                    break
                names |= {n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")}
    return names


@pytest.mark.parametrize("name", sorted(n for n, m in MUTANTS.items() if m.args[0] != "conformance"))
def test_unit_selection_is_sound(name):
    """A unit mutant's session runs every conformance test file that calls a method it replaces."""
    import re

    m = MUTANTS[name]
    selected = {Path(a).name for a in m.args if a.startswith("conformance/")}
    methods = _overridden(m.impl)
    assert methods, f"{name}: no replaced method found"
    for path in sorted((REPO / "conformance").glob("*.py")):
        text = path.read_text()
        for method in methods:
            if not re.search(rf"\.(?:{'|'.join((method, *WRAPPERS.get(method, ())))})\(", text):
                continue
            if path.name.startswith("test_"):
                assert path.name in selected, (
                    f"{name} replaces {method}, called in {path.name}, which its session leaves out"
                )
            else:
                assert (method, path.name) in HELPER_CALLS, f"{name} replaces {method}, called by helper {path.name}"
