"""pytest plugin of the lensemble-spec conformance harness (entry point ``pytest11``).

It loads in every pytest session of an environment where lensemble-spec is installed, so it stays
out of the way unless asked: it works on a session only when one of its options is given or when
the session collected the suite's own tests (``lensemble_spec/conformance``, recognised by its real
path); ``LENSEMBLE_SPEC_IMPL`` is a fallback for the implementation then, never a reason to
work on a session. Otherwise it registers two
namespaced markers and nothing else: no fixture, no import of numpy/torch/hypothesis, no file.

Usage::

    python -m pytest --pyargs lensemble_spec.conformance --lensemble-impl my_pkg.adapter
    pytest conformance/ --impl reference_impl                # from a checkout (design's short names)
    ... --lensemble-run runs/a --lensemble-expectations my-expectations.toml
    ... --lensemble-parts gauge --lensemble-require conformant   # scope + exit code from the verdict
    ... -n 2                                                  # pytest-xdist: same results file

Options (group "lensemble-spec"; the short alias in brackets exists only when no other plugin
registered that name — see :mod:`.options`):

``--lensemble-impl SPEC`` [``--impl``]   ``module`` or ``module:attribute`` (``LENSEMBLE_SPEC_IMPL`` as
                                         fallback); a bad spec is a usage error with code and fix.
``--lensemble-run DIR`` [``--run``]      (repeatable) run or comparison directories to check.
``--lensemble-hub-cache DIR`` [``--hub-cache``]  a Hugging Face hub cache in which results-table
                                         pins resolve offline (ART-025).
``--lensemble-rfc N`` [``--rfc``]        (repeatable) keep only tests of requirements of RFC N.
``--lensemble-level quick|full`` [``--level``]  default ``full``; ``quick`` skips full-level tests.
``--lensemble-parts P,Q`` [``--parts``]  keep only tests calling these implementation parts; the
                                         requirements in scope are those their tests name.
``--lensemble-require conformant|partial``  exit 1 unless the verdict meets it (:mod:`.summary`).
``--lensemble-expectations FILE`` [``--expectations``]  expected failures (:mod:`.expectations`).
``--lensemble-strict-expectations`` [``--strict-expectations``]  an XPASS fails.
``--lensemble-json PATH`` [``--compliance-json``]  default ``<rootdir>/.lensemble-spec/results.json``.
``--lensemble-max-examples N`` [``--max-examples``]  ``max_examples`` of the Hypothesis profile.
``--lensemble-rfc-dir DIR`` [``--rfc-dir``]  read requirement ids from another RFC directory.

Markers: ``@pytest.mark.lensemble_requirement("GAUGE-001", ...)`` (an id not in the catalog makes
collection of that module fail) and ``@pytest.mark.lensemble_level("full")``; :func:`requirement`
and :func:`level` build them. The suite's modules use the design's short names ``requirement`` /
``level``, read in active sessions only (:mod:`.collection`).

Every test's requirement ids are ``-k`` keywords (``-k GAUGE-014``) and junitxml ``requirement``
properties. Fixtures: :mod:`.fixtures`. Outcome statuses: :mod:`.outcomes` (the one place they are
mapped). Results: :mod:`lensemble_spec.schemas.compliance`; pytest-xdist: :mod:`.recording`.

Hypothesis: a ``lensemble-spec`` profile (``deadline=None``, ``derandomize=True``,
``database=None``, ``max_examples`` from ``--lensemble-max-examples``) is loaded for conformance
runs unless ``--hypothesis-profile`` names another; the previous profile is restored at the end.
"""

from __future__ import annotations

from typing import Any

import pytest

from . import collection, options, summary
from .expectations import EXPECTATION_PREFIX, StaleExpectationWarning
from .outcomes import (
    NOT_APPLICABLE_PREFIX,
    NOT_IMPLEMENTED_PREFIX,
    PRECONDITION_PREFIX,
    is_not_applicable,
    is_not_implemented,
    is_precondition,
    skip_not_applicable,
    skip_not_implemented,
)
from .recording import Recorder
from .state import (
    HYPOTHESIS_PROFILE,
    LEVELS,
    STATE_KEY,
    State,
    get_state,
    is_suite_path,
)

FIXTURES_PLUGIN = "lensemble-spec-fixtures"


def requirement(*ids: str) -> pytest.MarkDecorator:
    """``@requirement("GAUGE-001")``: the requirement ids a test checks."""
    return pytest.mark.lensemble_requirement(*ids)


def level(name: str) -> pytest.MarkDecorator:
    """``@level("full")``: a test run only at ``--lensemble-level full``."""
    return pytest.mark.lensemble_level(name)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]):
    # Every plugin and root conftest has registered its options now; pytest parses for good after.
    result = yield
    options.add_aliases(parser)
    return result


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lensemble_requirement(*ids): RFC requirement ids this test checks (lensemble-spec)"
    )
    config.addinivalue_line(
        "markers", "lensemble_level(name): 'quick' (default) or 'full'; full tests skip at --lensemble-level quick"
    )
    state = State(started_wall=summary.now())
    options.read_options(config, state)
    if state.explicit:  # asked for: the design's short marker names and the fixtures too
        config.addinivalue_line("markers", "requirement(*ids): alias of lensemble_requirement")
        config.addinivalue_line("markers", "level(name): alias of lensemble_level")
        from . import fixtures

        if not config.pluginmanager.is_registered(fixtures):
            config.pluginmanager.register(fixtures, FIXTURES_PLUGIN)
    collection.check_xdist_arguments(config, state)
    if state.conformance_run or state.max_examples is not None:
        _load_hypothesis_profile(config, state)
    elif state.env_spec:  # the profile must be in force before the suite's modules are imported
        config.pluginmanager.register(_SuiteWatcher(config, state), "lensemble-spec-suite-watcher")
    config.stash[STATE_KEY] = state


class _SuiteWatcher:
    """With only ``LENSEMBLE_SPEC_IMPL`` set: load the Hypothesis profile when the suite's conftest
    registers (before its test modules import, so their ``@settings`` inherit the profile)."""

    def __init__(self, config: pytest.Config, state: State) -> None:
        self.config, self.state = config, state

    def pytest_plugin_registered(self, plugin: Any) -> None:
        path = getattr(plugin, "__file__", None)
        if path and self.state.hypothesis_profile is None and is_suite_path(path):
            _load_hypothesis_profile(self.config, self.state)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = get_state(config)
    if state is not None and state.rfc_dir is not None:
        from .. import rfc_params

        rfc_params.select(None)  # an in-process run must not leave its --lensemble-rfc-dir behind
    if state is not None and state.previous_profile is not None:
        from hypothesis import settings

        settings.load_profile(state.previous_profile)  # leave global Hypothesis state as found


def _load_hypothesis_profile(config: pytest.Config, state: State) -> None:
    """Register and load the ``lensemble-spec`` profile unless the user chose another one."""
    from hypothesis import settings

    kwargs: dict[str, Any] = {"deadline": None, "derandomize": True, "database": None}
    if state.max_examples is not None:
        kwargs["max_examples"] = state.max_examples
    settings.register_profile(HYPOTHESIS_PROFILE, **kwargs)
    chosen = getattr(config.option, "hypothesis_profile", None)
    if chosen and chosen != HYPOTHESIS_PROFILE:
        state.hypothesis_profile = chosen
        return
    state.previous_profile = settings.get_current_profile_name()
    settings.load_profile(HYPOTHESIS_PROFILE)
    state.hypothesis_profile = HYPOTHESIS_PROFILE


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = get_state(config)
    if state is None or not state.explicit:
        return None
    lines = []
    if state.impl is not None:
        caps = state.impl.capabilities()
        missing = [p for p in summary._parts() if p not in caps]
        lines.append(f"lensemble-spec impl: {state.impl.name} {state.impl.version} ({state.impl_spec})")
        lines.append(
            f"lensemble-spec capabilities: {', '.join(caps) or 'none'}"
            + (f"; not implemented: {', '.join(missing)}" if missing else "")
        )
    else:
        lines.append("lensemble-spec impl: none (artifact-only run; implementation tests -> not implemented)")
    lines.append(
        f"lensemble-spec level: {state.level}; rfc: {', '.join(state.rfc_filter_raw) or 'all'}; "
        f"parts: {', '.join(state.parts) or 'all'}; runs: {len(state.run_dirs)}; "
        f"hub cache: {state.hub_cache or 'none'}; expectations: {state.expectations_file or 'none'}"
        f"{' (strict)' if state.strict else ''}; hypothesis profile: {state.hypothesis_profile}"
    )
    return lines


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    rep = yield
    collection.validate_collect_report(collector, rep)
    return rep


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    collection.modify_items_first(config, items)


class _LateCollection:
    """``trylast`` half of the collection hook (a module has one implementation per hook name)."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items: list) -> None:
        collection.modify_items_last(config, items)


def pytest_deselected(items: list) -> None:
    # pytest calls this hook on every plugin; the count lives on each item's config.
    if items:
        state = get_state(items[0].config)
        if state is not None:
            state.deselected += len(items)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    collection.collection_finish(session)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    state = get_state(session.config)
    if state is not None:
        pm = session.config.pluginmanager
        pm.register(Recorder(state), "lensemble-spec-recorder")
        pm.register(_LateCollection(), "lensemble-spec-late-collection")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    summary.session_finish(session, exitstatus)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    summary.terminal_summary(terminalreporter, config)


build_report = summary.build_report

__all__ = [
    "EXPECTATION_PREFIX",
    "LEVELS",
    "NOT_APPLICABLE_PREFIX",
    "NOT_IMPLEMENTED_PREFIX",
    "PRECONDITION_PREFIX",
    "StaleExpectationWarning",
    "build_report",
    "is_not_applicable",
    "is_not_implemented",
    "is_precondition",
    "level",
    "requirement",
    "skip_not_applicable",
    "skip_not_implemented",
]
