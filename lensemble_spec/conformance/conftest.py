"""Harness fixtures of the conformance suite (the plugin provides ``impl`` and the part fixtures).

Session-scoped and lazy: a run is made the first time a test asks for it and shared by every
test after that, so ``--level quick`` makes one anchored federation run and ``--level full`` adds
the other three controls of the comparison. Runs the suite makes and directories given with
``--run`` are read by the same :class:`~conformance._runview.RunView` and checked by the same tests.

Markers added here from each test's fixture closure, so a caller can select the tests a change
can reach (the mutation tests do): ``harness_run`` (the test reads a federation run) and
``part_gauge`` / ``part_model`` / ``part_federation`` / ``part_artifacts`` (the test calls that
part of the implementation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lensemble_spec.errors import CapabilityMissing
from lensemble_spec.guard import guarded
from lensemble_spec.metrics import build_sketch
from lensemble_spec.plugin import fixtures as _plugin_fixtures
from lensemble_spec.plugin import skip_not_implemented
from lensemble_spec.plugin.fixtures import (  # noqa: F401 - the plugin's fixtures, for this suite's tests only
    artifacts_part,
    federation_part,
    gauge_part,
    hub_cache_dir,
    model_part,
    requirement_catalog,
    run_dirs,
    run_level,
)
from lensemble_spec.protocol import CONTROLS, Batch

from . import bounds
from ._expect import precondition_not_met
from ._runs import HarnessRun, Runner
from ._runview import RunView, expand_run_dirs
from ._world import world_for, world_problem

#: Fixtures that hand a test a federation run (made by the harness or given with ``--run``): the
#: names of the fixtures defined with :func:`run_fixture`. A test whose fixture closure holds one
#: is marked ``harness_run``.
RUN_FIXTURES: set[str] = set()


def run_fixture(func: Any) -> Any:
    """A session-scoped fixture that yields runs (or reads them): registered in :data:`RUN_FIXTURES`."""
    RUN_FIXTURES.add(func.__name__)
    return pytest.fixture(scope="session")(func)


#: Marker per implementation part, added when the part's fixture is in a test's closure.
PART_MARKERS = {
    "gauge_part": "part_gauge",
    "model_part": "part_model",
    "federation_part": "part_federation",
    "artifacts_part": "part_artifacts",
}


def pytest_configure(config: pytest.Config) -> None:
    # the design's short marker names, which this suite's modules use (the plugin reads them here)
    config.addinivalue_line("markers", "requirement(*ids): RFC requirement ids this test checks (lensemble-spec)")
    config.addinivalue_line("markers", "level(name): 'quick' (default) or 'full'")
    config.addinivalue_line(
        "markers", "harness_run: the test reads a federation run (made by the harness or given with --run)"
    )
    for fixture, marker in PART_MARKERS.items():
        config.addinivalue_line(
            "markers", f"{marker}: the test calls the implementation's {fixture.removesuffix('_part')} part"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if RUN_FIXTURES & names:
            item.add_marker(pytest.mark.harness_run)
        for fixture, marker in PART_MARKERS.items():
            if fixture in names:
                item.add_marker(getattr(pytest.mark, marker))


def pytest_report_header(config: pytest.Config) -> list[str]:
    shown = ", ".join(f"{k}={v}" for k, v in bounds.describe().items())
    return [f"lensemble-spec bounds: {shown}"]


# --- the world and small inputs ---------------------------------------------------------------------
def _optional_part(request: pytest.FixtureRequest, name: str) -> Any:
    """The part, or None when it (or the whole implementation) is absent."""
    try:
        return request.getfixturevalue(name)
    except pytest.skip.Exception:
        return None


def _require_world_fits(model: Any) -> None:
    """A harness precondition: the harness world can feed ``model`` (else precondition-not-met)."""
    problem = world_problem(model)
    if problem:
        precondition_not_met(
            f"the harness world cannot feed this model: {problem}",
            "declare obs_shape (3, H, H) with H a multiple of 8 and action_dim 5, or adapt the model to them in the "
            "adapter",
        )


@pytest.fixture(scope="session")
def world(impl: Any) -> Any:
    _require_world_fits(impl.model)
    return world_for(impl.model)


@pytest.fixture(scope="session")
def params0(model_part: Any) -> dict[str, Any]:
    """``model_part.init(0)``: the round-0 parameters every model-level check starts from."""
    return dict(model_part.init(0))


@pytest.fixture(scope="session")
def params1(model_part: Any) -> dict[str, Any]:
    """A second, independent initialisation (a non-trivial 'global' for backstop checks)."""
    return dict(model_part.init(1))


@pytest.fixture(scope="session")
def batch(world: Any) -> Batch:
    """Six windows of ``WINDOW`` steps from silo0 (spread over its episodes)."""
    silo = world.silos["silo0"]
    w = bounds.WINDOW
    obs = np.stack([silo.obs[e, s : s + w + 1] for e, s in ((0, 0), (3, 2), (5, 5), (8, 1), (11, 7), (15, 3))])
    act = np.stack([silo.actions[e, s : s + w] for e, s in ((0, 0), (3, 2), (5, 5), (8, 1), (11, 7), (15, 3))])
    return Batch(obs=np.ascontiguousarray(obs, dtype=np.float32), actions=np.ascontiguousarray(act, dtype=np.float32))


@pytest.fixture(scope="session")
def frames(world: Any) -> np.ndarray:
    """Twelve observation frames from two silos (encoder checks)."""
    return np.ascontiguousarray(np.concatenate([world.silos["silo1"].obs[2, :6], world.silos["silo2"].obs[4, :6]]))


@pytest.fixture(scope="session")
def sketch(model_part: Any) -> np.ndarray:
    return np.asarray(build_sketch(12345, int(model_part.latent_dim), bounds.SKETCH_DIRECTIONS), dtype=np.float32)


# --- federation runs ----------------------------------------------------------------------------------
@run_fixture
def runner(federation_part: Any, impl: Any, run_level: str, tmp_path_factory: pytest.TempPathFactory) -> Runner:
    _require_world_fits(impl.model)
    runner = Runner(federation_part, impl.model, run_level, tmp_path_factory.mktemp("harness-runs"))
    if not runner.sources():
        skip_not_implemented(
            f"{impl.name}: the federation part has no `run` and the primitives cannot be driven without a model part"
        )
    return runner


def successful(run: HarnessRun) -> HarnessRun:
    """The run, or a test failure naming what it raised."""
    if run.error is not None:
        pytest.fail(
            f"FederationPart.run({run.name!r}) raised {type(run.error).__name__}: {run.error}", pytrace=False
        )
    if run.result is None:
        pytest.fail(f"FederationPart.run({run.name!r}) returned nothing", pytrace=False)
    return run


@run_fixture
def anchored_run(runner: Runner) -> HarnessRun:
    """The harness's anchored run (the only full-size run made at ``--level quick``)."""
    return successful(runner.get("anchored"))


@run_fixture
def comparison(runner: Runner, run_level: str) -> dict[str, HarnessRun]:
    """One run of each control (RFC-0005 §2) on the harness world — ``--level full`` only (the
    implementation's own runs when it has ``run``, else the primitive-driven ones)."""
    if run_level != "full":
        pytest.skip("the four-control comparison is made at --level full")
    return {c: successful(runner.get(c)) for c in CONTROLS}


def _harness_runs(request: pytest.FixtureRequest) -> list[HarnessRun]:
    """The harness's runs to check: the anchored run (``--level quick``) or the comparison
    (``--level full``), from the implementation's own ``run`` and, when it also exposes the
    primitives, driven by the harness through them (an implementation with only the primitives
    gets the driven runs alone)."""
    federation = _optional_part(request, "federation_part")
    if federation is None:
        return []
    impl = request.getfixturevalue("impl")
    if world_problem(impl.model):
        return []
    runner: Runner | None = _optional_part(request, "runner")
    if runner is None:
        return []
    names = CONTROLS if request.getfixturevalue("run_level") == "full" else ("anchored",)
    runs = [runner.get(n) for n in names]
    if runs and runs[0].driver == "run" and runner.can_drive:
        runs += [runner.make(n, "primitives") for n in names]
    return [successful(r) for r in runs]


def _harness_views(request: pytest.FixtureRequest) -> list[RunView]:
    return [run.view for run in _harness_runs(request)]


@run_fixture
def given_runs(run_dirs: list[Path]) -> tuple[list[RunView], list[tuple[Path, dict[str, RunView]]]]:
    return expand_run_dirs(run_dirs)


@run_fixture
def runs_under_test(request: pytest.FixtureRequest, given_runs: Any) -> list[RunView]:
    """Every run to check: the harness's own (when the implementation can run) and ``--run`` dirs."""
    views = _harness_views(request) + list(given_runs[0])
    if not views:
        skip_not_implemented("no federation part to make a run and no --run directory")
    return views


@run_fixture
def anchored_runs(runs_under_test: list[RunView]) -> list[RunView]:
    views = [v for v in runs_under_test if v.control == "anchored"]
    if not views:
        pytest.skip("no anchored run among the runs under test")
    return views


@run_fixture
def comparisons_under_test(
    request: pytest.FixtureRequest, given_runs: Any, run_level: str
) -> list[tuple[str, dict[str, RunView]]]:
    """Comparisons (control -> run): the harness's at ``--level full`` and ``--run`` comparison dirs."""
    out: list[tuple[str, dict[str, RunView]]] = []
    if run_level == "full":
        by_driver: dict[str, dict[str, RunView]] = {}
        for run in _harness_runs(request):
            by_driver.setdefault(run.driver, {})[run.config.control] = run.view
        for driver, members in by_driver.items():
            out.append((f"harness comparison ({driver})", members))
    for path, members in given_runs[1]:
        out.append((str(path), {v.control if _safe_control(v) else name: v for name, v in members.items()}))
    if not out:
        pytest.skip("no comparison: the harness makes one at --level full, or pass a comparison directory with --run")
    return out


def _safe_control(view: RunView) -> bool:
    try:
        return isinstance(view.manifest().get("control"), str)
    except AssertionError:
        return False


@run_fixture
def results_tables(given_runs: Any) -> list[tuple[Path, dict[str, RunView]]]:
    """Comparison directories given with ``--run`` (each must hold a ``results.json``, RFC-0005 §6)."""
    if not given_runs[1]:
        pytest.skip("results tables are checked on comparison directories given with --run")
    return list(given_runs[1])


# --- how the harness calls the implementation, and how a failure reads --------------------------------
@pytest.fixture(scope="session")
def impl(request: pytest.FixtureRequest) -> Any:
    """The plugin's implementation (``plugin.fixtures.impl``) with every part guarded
    (lensemble_spec.guard.GuardedPart): its declared ``error_map`` applied, and
    ``NotImplementedError`` from any method reported as *not implemented* for the test that
    needed it. The plugin's part fixtures (``gauge_part`` …) read this one."""
    return guarded(_plugin_fixtures.impl.__wrapped__(request), on_missing=skip_not_implemented)


def _requirement_ids(item: pytest.Item) -> list[str]:
    return [str(a) for m in item.iter_markers("requirement") for a in m.args]


def _leaves(group: BaseException) -> list[BaseException]:
    if isinstance(group, BaseExceptionGroup):
        return [leaf for e in group.exceptions for leaf in _leaves(e)]
    return [group]


def _explained(exc: BaseException, ids: str) -> str | None:
    """A one-paragraph message for failures whose own text does not say expected/got/requirement."""
    if isinstance(exc, BaseExceptionGroup):
        leaves = _leaves(exc)
        parts = [f"({i + 1}) {type(e).__name__}: {' '.join(str(e).split())[:240]}" for i, e in enumerate(leaves[:4])]
        return f"{ids}: {len(leaves)} distinct failing examples: " + " ".join(parts)
    text = " ".join(str(exc).split())
    if isinstance(exc, pytest.fail.Exception) and text.startswith("DID NOT RAISE"):
        expected = text.removeprefix("DID NOT RAISE").strip()
        return f"{ids}: expected the implementation to raise {expected}; the call returned normally"
    if isinstance(exc, (AssertionError, pytest.fail.Exception)) and not text.startswith(ids):
        return f"{ids}: {text or 'assertion failed'}"
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    try:
        return (yield)
    except CapabilityMissing as exc:  # raised where on_missing could not be used
        skip_not_implemented(exc.message)
    except (AssertionError, pytest.fail.Exception, BaseExceptionGroup) as exc:
        ids = ", ".join(_requirement_ids(item)) or "unmapped test"
        message = _explained(exc, ids)
        if message is None:
            raise
        notes = [n for n in getattr(exc, "__notes__", []) if n.startswith("Falsifying")]
        if notes:
            message = f"{message} | {' '.join(notes[0].split())[:300]}"
        if isinstance(exc, AssertionError):
            raise AssertionError(message) from exc  # noqa: TRY004 - keep it an assertion failure
        pytest.fail(message, pytrace=False)
