"""pytest plugin of the lensemble-spec conformance harness (entry point ``pytest11``).

It loads in every pytest run of an environment where lensemble-spec is installed, so it is inert
unless asked: without ``--impl``/``LENSEMBLE_SPEC_IMPL``, ``--run`` or ``--compliance-json``, and
with no collected test using the implementation fixtures, it adds two markers and nothing else (no
import of numpy/torch/hypothesis, no file written).

Usage::

    pytest conformance/ --impl lensemble_reference                 # module (attribute IMPLEMENTATION)
    pytest conformance/ --impl my_pkg.adapter:IMPL --run runs/a --expectations my-expectations.toml
    pytest conformance/ --run runs/a                          # artifact-only: impl tests -> not implemented

Options (group "lensemble-spec"):

``--impl SPEC``            ``module`` or ``module:attribute`` (env ``LENSEMBLE_SPEC_IMPL`` as fallback),
                           resolved once at configure time by ``protocol.resolve_implementation``; a
                           bad spec is a usage error naming the code and the fix. Required when the
                           selected tests use an implementation fixture, unless ``--run`` is given.
``--run DIR``              (repeatable) run directories for artifact checks (fixture ``run_dirs``).
``--hub-cache DIR``        a Hugging Face hub cache (huggingface_hub's layout: ``models--org--name/
                           blobs|snapshots|refs``) in which the pins of results tables given with
                           ``--run`` are resolved offline (fixture ``hub_cache_dir``; RFC-0010 §6,
                           ART-025). Without it the pin-resolution test is skipped.
``--rfc N``                (repeatable) keep only tests naming a requirement of RFC N (``2``, ``0002``
                           and ``RFC-0002`` are the same); requirements of other RFCs leave the scope.
``--level quick|full``     default ``full``. At ``quick``, tests marked ``@pytest.mark.level("full")``
                           are skipped (so a quick run can be ``incomplete`` but never ``conformant``
                           on a requirement only a full test checks).
``--expectations FILE``    per-implementation expected failures (format below).
``--strict-expectations``  an expected failure that passes (XPASS) fails the test.
``--compliance-json PATH`` default ``<rootdir>/.lensemble-spec/results.json`` (written atomically,
                           validated by ``lensemble_spec.schemas.ComplianceReport``).
``--max-examples N``       ``max_examples`` of the ``lensemble-spec`` Hypothesis profile.
``--rfc-dir DIR``          read requirement ids from another RFC directory (drafts, tests).

Markers:

``@pytest.mark.requirement("GAUGE-001", ...)``  the requirement ids a test checks; an id not in the
    catalog parsed from ``rfcs/`` makes collection of that module fail, naming test and id.
``@pytest.mark.level("full")``  a slow test run only at ``--level full`` (unmarked tests are "quick").

Fixtures (session scoped, so Hypothesis ``@given`` tests may use them):

``impl``                                  the resolved :class:`~lensemble_spec.protocol.Implementation`.
``gauge_part``, ``model_part``, ``federation_part``, ``artifacts_part``
                                          that part; when it is ``None`` the test is skipped with a
                                          reason starting ``not-implemented:``, reported as NOT
                                          IMPLEMENTED (never passed).
``run_dirs``                              ``list[Path]`` from ``--run`` (possibly empty).
``hub_cache_dir``                         ``Path`` from ``--hub-cache``, or ``None``.
``run_level``                             ``"quick"`` or ``"full"``.
``requirement_catalog``                   the parsed requirement catalog.

A test may also call :func:`skip_not_implemented` itself (e.g. for an optional method).

Expectations file (TOML). Two optional tables, ``xfail`` and ``skip``; each key is a requirement id
(exact, e.g. ``GAUGE-003``) or a test node-id prefix (``conformance/test_gauge.py::test_angle``,
``conformance/test_fed.py``), each value the reason (a non-empty string)::

    # expectations for my_impl 0.3 -- keep next to the implementation, not in the suite
    [xfail]
    GAUGE-003 = "rotation angle uses the single-plane formula (issue #12)"
    "conformance/test_federation.py::test_outer_step_sign" = "sign convention differs"

    [skip]
    "conformance/test_federation.py::test_run_" = "needs a GPU"

A key that looks like a requirement id (``ABC-123``) matches by requirement, anything else by node-id
prefix. ``skip`` wins over ``xfail`` when both match one test. Entries that match no collected test
are stale: a ``StaleExpectationWarning`` is issued and they are listed in the JSON. xfails are
non-strict unless ``--strict-expectations``.

Hypothesis: a ``lensemble-spec`` profile (``deadline=None``, ``derandomize=True``, ``database=None``,
``max_examples`` from ``--max-examples``, else Hypothesis' default) is loaded for conformance runs
(``--impl`` or ``--run``) unless ``--hypothesis-profile`` names another, and the previous profile
is restored at the end. A test's own ``@settings(max_examples=...)`` still wins over the profile.

Run records: for each ``--run DIR`` the JSON's ``runs`` carries the round records read from
``DIR/rounds.jsonl`` (RFC-0010's name; else ``records.jsonl``, else ``DIR/records/*.json``) for
the report's plots; see :mod:`lensemble_spec.report.runs`.

Results JSON: see :mod:`lensemble_spec.schemas.compliance` for the statuses, the precedence that
turns test outcomes into a requirement status, and the verdict rules (conformant iff every MUST
requirement in scope has a passing test and none failed, is expected to fail, is not implemented,
or went untested).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from .errors import LensembleError  # cheap: enum only

IMPL_FIXTURES = frozenset({"impl", "gauge_part", "model_part", "federation_part", "artifacts_part"})
NOT_IMPLEMENTED_PREFIX = "not-implemented:"
EXPECTATION_PREFIX = "expectation:"
LEVELS = ("quick", "full")
HYPOTHESIS_PROFILE = "lensemble-spec"
DEFAULT_JSON = Path(".lensemble-spec") / "results.json"
_REQ_ID_SHAPE = re.compile(r"^[A-Z][A-Z0-9]*-\d+$")
_MESSAGE_LIMIT = 400


class StaleExpectationWarning(pytest.PytestWarning):
    """An expectations-file entry matched no collected test."""


def skip_not_implemented(reason: str) -> NoReturn:
    """Skip the current test as NOT IMPLEMENTED (never counted as passed)."""
    pytest.skip(f"{NOT_IMPLEMENTED_PREFIX} {reason}")


def is_not_implemented(reason: str | None) -> bool:
    return bool(reason) and reason.lstrip().startswith(NOT_IMPLEMENTED_PREFIX)


# --- state ----------------------------------------------------------------------------------------
@dataclass
class _Expectation:
    kind: str  # "xfail" | "skip"
    match: str
    reason: str
    by: str  # "requirement" | "nodeid"
    matched: list[str] = field(default_factory=list)


@dataclass
class _Outcome:
    outcome: str | None = None
    message: str | None = None
    duration: float = 0.0


@dataclass
class _State:
    impl: Any = None
    impl_spec: str | None = None
    run_dirs: list[Path] = field(default_factory=list)
    hub_cache: Path | None = None
    rfc_filter: list[int] = field(default_factory=list)
    rfc_filter_raw: list[str] = field(default_factory=list)
    rfc_dir: Path | None = None
    level: str = "full"
    expectations_file: Path | None = None
    expectations: list[_Expectation] = field(default_factory=list)
    strict: bool = False
    json_path: Path | None = None
    json_explicit: bool = False
    max_examples: int | None = None
    active: bool = False
    catalog: Any = None
    started_wall: str = ""
    started_mono: float = 0.0
    deselected: int = 0
    collection_errors: int = 0
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, _Outcome] = field(default_factory=dict)
    unknown_ids: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    hypothesis_profile: str | None = None
    previous_profile: str | None = None
    written: Path | None = None
    write_error: str | None = None
    report: Any = None

    @property
    def conformance_run(self) -> bool:
        return self.impl is not None or bool(self.run_dirs)


_STATE = pytest.StashKey[_State]()


def _state(config: pytest.Config) -> _State | None:
    return config.stash.get(_STATE, None)


def _usage_error(exc: Exception, context: str) -> pytest.UsageError:
    code = getattr(getattr(exc, "code", None), "value", "usage")
    fix = getattr(exc, "remediation", None)
    msg = f"lensemble-spec: {context}: [{code}] {getattr(exc, 'message', exc)}"
    if fix:
        msg += f"\n  fix: {fix}"
    return pytest.UsageError(msg)


# --- options and configuration --------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("lensemble-spec", "lensemble-spec conformance harness")
    g.addoption("--impl", dest="lensemble_impl", default=None, metavar="MODULE[:ATTR]",
                help="implementation under test (env LENSEMBLE_SPEC_IMPL as fallback)")
    g.addoption("--run", dest="lensemble_run", action="append", default=[], metavar="DIR",
                help="run directory for artifact checks (repeatable)")
    g.addoption("--hub-cache", dest="lensemble_hub_cache", default=None, metavar="DIR",
                help="Hugging Face hub cache in which pins of --run results tables are resolved offline")
    g.addoption("--rfc", dest="lensemble_rfc", action="append", default=[], metavar="N",
                help="keep only tests of requirements in RFC N (repeatable)")
    g.addoption("--level", dest="lensemble_level", choices=LEVELS, default="full",
                help="quick skips tests marked level('full') (default: full)")
    g.addoption("--expectations", dest="lensemble_expectations", default=None, metavar="FILE",
                help="TOML file of expected failures/skips by requirement id or node-id prefix")
    g.addoption("--strict-expectations", dest="lensemble_strict", action="store_true",
                help="an expected failure that passes (XPASS) fails")
    g.addoption("--compliance-json", dest="lensemble_json", default=None, metavar="PATH",
                help="where to write results (default <rootdir>/.lensemble-spec/results.json)")
    g.addoption("--max-examples", dest="lensemble_max_examples", type=int, default=None,
                metavar="N", help="max_examples of the lensemble-spec Hypothesis profile")
    g.addoption("--rfc-dir", dest="lensemble_rfc_dir", default=None, metavar="DIR",
                help="read the requirement catalog from this RFC directory")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requirement(*ids): RFC requirement ids this test checks (lensemble-spec)"
    )
    config.addinivalue_line(
        "markers", "level(name): 'quick' (default) or 'full'; full tests skip at --level quick"
    )
    state = _State(started_wall=_now(), started_mono=time.monotonic())
    opt = config.option
    here = config.invocation_params.dir
    state.level = getattr(opt, "lensemble_level", "full") or "full"
    state.strict = bool(getattr(opt, "lensemble_strict", False))
    state.max_examples = getattr(opt, "lensemble_max_examples", None)
    if state.max_examples is not None and state.max_examples < 1:
        raise pytest.UsageError("lensemble-spec: --max-examples must be a positive integer")
    rfc_dir = getattr(opt, "lensemble_rfc_dir", None)
    if rfc_dir:
        state.rfc_dir = (here / rfc_dir).resolve()
        if not state.rfc_dir.is_dir():
            raise pytest.UsageError(f"lensemble-spec: --rfc-dir {rfc_dir!r} is not a directory")
    from . import rfc_params  # bounds (suite) and tolerances (verifier) follow --rfc-dir

    rfc_params.select(state.rfc_dir)
    for raw in getattr(opt, "lensemble_rfc", []) or []:
        state.rfc_filter.append(_rfc_number(raw))
        state.rfc_filter_raw.append(raw)
    for raw in getattr(opt, "lensemble_run", []) or []:
        path = (here / raw).resolve()
        if not path.is_dir():
            raise pytest.UsageError(
                f"lensemble-spec: --run {raw!r} is not a directory\n"
                "  fix: pass the run directory a trainer wrote (it holds manifest.json)."
            )
        state.run_dirs.append(path)
    hub_cache = getattr(opt, "lensemble_hub_cache", None)
    if hub_cache:
        state.hub_cache = (here / hub_cache).resolve()
        if not state.hub_cache.is_dir():
            raise pytest.UsageError(
                f"lensemble-spec: --hub-cache {hub_cache!r} is not a directory\n"
                "  fix: pass a Hugging Face cache directory (e.g. ~/.cache/huggingface/hub) that holds the pinned files."
            )
    json_opt = getattr(opt, "lensemble_json", None)
    state.json_explicit = bool(json_opt)
    state.json_path = (here / json_opt) if json_opt else (config.rootpath / DEFAULT_JSON)
    exp = getattr(opt, "lensemble_expectations", None)
    if exp:
        state.expectations_file = (here / exp).resolve()
        state.expectations = _parse_expectations(state.expectations_file)

    spec = getattr(opt, "lensemble_impl", None) or os.environ.get("LENSEMBLE_SPEC_IMPL") or None
    if spec:
        # imports numpy: only for conformance runs
        from .protocol import resolve_implementation

        try:
            state.impl = resolve_implementation(spec)
        except Exception as exc:  # ProtocolError, or an adapter failing on import (re-raised)
            raise _usage_error(exc, f"cannot use implementation {spec!r}") from exc
        state.impl_spec = spec
    if state.conformance_run or state.max_examples is not None:
        _load_hypothesis_profile(config, state)
    config.stash[_STATE] = state


def pytest_unconfigure(config: pytest.Config) -> None:
    state = _state(config)
    if state is not None and state.rfc_dir is not None:
        from . import rfc_params

        rfc_params.select(None)  # an in-process run must not leave its --rfc-dir behind
    if state is not None and state.previous_profile is not None:
        from hypothesis import settings

        settings.load_profile(state.previous_profile)  # leave global Hypothesis state as found


def _load_hypothesis_profile(config: pytest.Config, state: _State) -> None:
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


def _rfc_number(raw: str) -> int:
    from .errors import RequirementError
    from .requirements import normalize_rfc  # cheap (re/ast only)

    try:
        return int(normalize_rfc(raw).removeprefix("RFC-"))
    except RequirementError:
        raise pytest.UsageError(
            f"lensemble-spec: --rfc {raw!r} is not an RFC number\n  fix: write e.g. --rfc 0002."
        ) from None


def _parse_expectations(path: Path) -> list[_Expectation]:
    import tomllib

    def bad(msg: str) -> pytest.UsageError:
        return pytest.UsageError(
            f"lensemble-spec: expectations file {path}: {msg}\n"
            "  fix: write TOML tables [xfail] and/or [skip] mapping a requirement id or test "
            "node-id prefix to a reason string (see `lensemble_spec.plugin` docs)."
        )

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise bad("file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise bad(f"cannot parse: {exc}") from None
    unknown = set(data) - {"xfail", "skip"}
    if unknown:
        raise bad(f"unknown table(s) {sorted(unknown)}")
    entries: list[_Expectation] = []
    seen: dict[str, str] = {}
    for kind in ("xfail", "skip"):
        table = data.get(kind, {})
        if not isinstance(table, dict):
            raise bad(f"[{kind}] must be a table")
        for key, reason in table.items():
            if not isinstance(reason, str) or not reason.strip():
                raise bad(f"[{kind}] {key!r}: the reason must be a non-empty string")
            if not key.strip():
                raise bad(f"[{kind}] has an empty key")
            if key in seen:
                raise bad(f"{key!r} appears in both [{seen[key]}] and [{kind}]")
            seen[key] = kind
            by = "requirement" if _REQ_ID_SHAPE.match(key) else "nodeid"
            entries.append(_Expectation(kind=kind, match=key, reason=reason.strip(), by=by))
    return entries


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = _state(config)
    if state is None or not (state.conformance_run or state.expectations_file or state.rfc_filter):
        return None
    lines = []
    if state.impl is not None:
        caps = state.impl.capabilities()
        missing = [p for p in _parts() if p not in caps]
        lines.append(f"lensemble-spec impl: {state.impl.name} {state.impl.version} ({state.impl_spec})")
        lines.append(
            f"lensemble-spec capabilities: {', '.join(caps) or 'none'}"
            + (f"; not implemented: {', '.join(missing)}" if missing else "")
        )
    else:
        lines.append("lensemble-spec impl: none (artifact-only run; implementation tests -> not implemented)")
    lines.append(
        f"lensemble-spec level: {state.level}; rfc: {', '.join(state.rfc_filter_raw) or 'all'}; "
        f"runs: {len(state.run_dirs)}; hub cache: {state.hub_cache or 'none'}; expectations: {state.expectations_file or 'none'}"
        f"{' (strict)' if state.strict else ''}; hypothesis profile: {state.hypothesis_profile}"
    )
    return lines


def _parts() -> tuple[str, ...]:
    from .protocol import PARTS

    return PARTS


# --- collection -----------------------------------------------------------------------------------
def _catalog(config: pytest.Config, state: _State) -> Any:
    if state.catalog is None:
        from .requirements import load_catalog

        state.catalog = load_catalog(rfc_dir=state.rfc_dir)
    return state.catalog


def _marker_problems(item: pytest.Item) -> tuple[list[str], list[str]]:
    """Return (requirement ids, problems) from the item's requirement/level markers."""
    ids: list[str] = []
    problems: list[str] = []
    for mark in item.iter_markers("requirement"):
        if not mark.args or mark.kwargs:
            problems.append("requirement(...) takes one or more id strings and no keywords")
        for arg in mark.args:
            if isinstance(arg, str) and arg.strip():
                ids.append(arg.strip())
            else:
                problems.append(f"requirement id {arg!r} is not a non-empty string")
    level = item.get_closest_marker("level")
    if level is not None and (len(level.args) != 1 or level.args[0] not in LEVELS):
        problems.append(f"level(...) takes exactly one of {LEVELS}, got {level.args!r}")
    return sorted(set(ids)), problems


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """Fail collection of a module whose tests name unknown requirement ids (or bad markers)."""
    rep = yield
    state = _state(collector.config)
    if state is None or not rep.passed or not rep.result:
        return rep
    errors: list[str] = []
    for node in rep.result:
        if not isinstance(node, pytest.Item):
            continue
        ids, problems = _marker_problems(node)
        errors += [f"{node.nodeid}: {p}" for p in problems]
        if not ids:
            continue
        try:
            catalog = _catalog(collector.config, state)
        except LensembleError as exc:  # RequirementError: broken RFC text
            code = getattr(getattr(exc, "code", None), "value", "requirement_invalid")
            errors.append(
                f"cannot load the requirement catalog: [{code}] {getattr(exc, 'message', exc)}"
                + (f"\n  fix: {exc.remediation}" if getattr(exc, "remediation", None) else "")
            )
            break
        for rid in ids:
            if rid not in catalog:
                state.unknown_ids.add(rid)
                errors.append(f"{node.nodeid}: unknown requirement id {rid!r}")
    if errors:
        rep.outcome = "failed"
        rep.longrepr = (
            "lensemble-spec: invalid requirement markers\n  "
            + "\n  ".join(errors)
            + "\n  fix: use ids listed by `lensemble-spec requirements` (parsed from rfcs/)."
        )
        rep.result = []
    return rep


def _is_conformance_item(item: pytest.Item) -> bool:
    if IMPL_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    parts = item.path.parts
    return "conformance" in parts and "tests" not in parts


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Before -k/-m: apply expectations, level skips and --rfc deselection; then check --impl."""
    state = _state(config)
    if state is None:
        return
    conformance_items = [it for it in items if _is_conformance_item(it)]
    state.active = bool(state.impl or state.run_dirs or state.json_explicit or conformance_items)
    if not state.active:
        return
    try:  # a conformance run reports against the catalog, so it must load
        catalog = _catalog(config, state)
    except LensembleError as exc:
        raise _usage_error(exc, "cannot load the requirement catalog") from exc
    for it in items:
        ids, _ = _marker_problems(it)
        lvl = it.get_closest_marker("level")
        state.items[it.nodeid] = {
            "requirements": ids,
            "level": lvl.args[0] if lvl is not None else "quick",
            "expectation": None,
            "expectation_reason": None,
        }
    _apply_expectations(state, items, catalog)
    if state.level == "quick":
        for it in items:
            if state.items[it.nodeid]["level"] == "full":
                it.add_marker(pytest.mark.skip(reason="level: a full-level test, skipped at --level quick"))
    if state.rfc_filter:
        known = {_rfc_number(r.rfc) for r in catalog.all()}
        for number, raw in zip(state.rfc_filter, state.rfc_filter_raw):
            if number not in known:
                raise pytest.UsageError(
                    f"lensemble-spec: --rfc {raw!r} names no RFC with requirements\n"
                    f"  fix: choose one of {sorted(known)}."
                )
        wanted = set(state.rfc_filter)
        keep, drop = [], []
        for it in items:
            rfcs = {_rfc_number(catalog.get(r).rfc) for r in state.items[it.nodeid]["requirements"] if r in catalog}
            (keep if rfcs & wanted else drop).append(it)
        if drop:
            items[:] = keep
            config.hook.pytest_deselected(items=drop)


def _apply_expectations(state: _State, items: list, catalog: Any) -> None:
    for exp in state.expectations:
        if exp.by == "requirement" and catalog is not None and exp.match not in catalog:
            state.warnings.append(f"expectation {exp.kind} {exp.match!r}: unknown requirement id")
    for it in items:
        info = state.items[it.nodeid]
        chosen: _Expectation | None = None
        for exp in state.expectations:
            hit = (
                exp.match in info["requirements"]
                if exp.by == "requirement"
                else it.nodeid.startswith(exp.match)
            )
            if not hit:
                continue
            exp.matched.append(it.nodeid)
            if chosen is None or (chosen.kind == "xfail" and exp.kind == "skip"):
                chosen = exp
        if chosen is None:
            continue
        info["expectation"] = chosen.kind
        info["expectation_reason"] = chosen.reason
        reason = f"{EXPECTATION_PREFIX} {chosen.reason}"
        if chosen.kind == "skip":
            it.add_marker(pytest.mark.skip(reason=reason))
        else:
            it.add_marker(pytest.mark.xfail(reason=reason, strict=state.strict))
    for exp in state.expectations:
        if not exp.matched:
            msg = (
                f"stale expectation: [{exp.kind}] {exp.match!r} matches no collected test "
                f"({state.expectations_file})"
            )
            state.warnings.append(msg)
            warnings.warn(StaleExpectationWarning(msg), stacklevel=1)


def pytest_deselected(items: list) -> None:
    # pytest calls this hook on every plugin; the count lives on each item's config.
    if items:
        state = _state(items[0].config)
        if state is not None:
            state.deselected += len(items)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    state = _state(session.config)
    if state is None or not state.active:
        return
    selected = {it.nodeid for it in session.items}
    state.items = {k: v for k, v in state.items.items() if k in selected}
    for it in session.items:  # items a later hook added keep their markers too
        if it.nodeid not in state.items:
            ids, _ = _marker_problems(it)
            lvl = it.get_closest_marker("level")
            state.items[it.nodeid] = {"requirements": ids, "level": lvl.args[0] if lvl else "quick",
                                      "expectation": None, "expectation_reason": None}
    needs_impl = [it for it in session.items if IMPL_FIXTURES & set(getattr(it, "fixturenames", ()))]
    in_suite = [it for it in session.items if _is_conformance_item(it)]
    if (
        state.impl is None
        and not state.run_dirs
        and (needs_impl or in_suite)
        and not session.config.option.collectonly
    ):
        example = (needs_impl or in_suite)[0].nodeid
        state.active = False  # nothing ran: write no results file
        raise pytest.UsageError(
            "lensemble-spec: [protocol_violation] no implementation given, but the selected "
            f"conformance tests need one (e.g. {example})\n"
            "  fix: pass --impl module[:attribute] (or set LENSEMBLE_SPEC_IMPL), or --run DIR for "
            "an artifact-only check."
        )


# --- fixtures -------------------------------------------------------------------------------------
def _require_state(request: pytest.FixtureRequest) -> _State:
    state = _state(request.config)
    assert state is not None, "lensemble-spec plugin not configured"
    return state


@pytest.fixture(scope="session")
def impl(request: pytest.FixtureRequest) -> Any:
    """The implementation under test; NOT IMPLEMENTED skip when none was given (--run only)."""
    state = _require_state(request)
    if state.impl is None:
        skip_not_implemented("no implementation given (--impl); artifact-only run")
    return state.impl


def _part(request: pytest.FixtureRequest, part: str) -> Any:
    implementation = request.getfixturevalue("impl")
    value = getattr(implementation, part, None)
    if value is None:
        skip_not_implemented(f"{implementation.name} has no `{part}` part")
    return value


@pytest.fixture(scope="session")
def gauge_part(request: pytest.FixtureRequest) -> Any:
    return _part(request, "gauge")


@pytest.fixture(scope="session")
def model_part(request: pytest.FixtureRequest) -> Any:
    return _part(request, "model")


@pytest.fixture(scope="session")
def federation_part(request: pytest.FixtureRequest) -> Any:
    return _part(request, "federation")


@pytest.fixture(scope="session")
def artifacts_part(request: pytest.FixtureRequest) -> Any:
    return _part(request, "artifacts")


@pytest.fixture(scope="session")
def run_dirs(request: pytest.FixtureRequest) -> list[Path]:
    """Run directories given with --run (absolute paths, possibly none)."""
    return list(_require_state(request).run_dirs)


@pytest.fixture(scope="session")
def hub_cache_dir(request: pytest.FixtureRequest) -> Path | None:
    """The Hugging Face cache given with --hub-cache (absolute), or None."""
    return _require_state(request).hub_cache


@pytest.fixture(scope="session")
def run_level(request: pytest.FixtureRequest) -> str:
    return _require_state(request).level


@pytest.fixture(scope="session")
def requirement_catalog(request: pytest.FixtureRequest) -> Any:
    state = _require_state(request)
    return _catalog(request.config, state)


# --- results --------------------------------------------------------------------------------------
def _skip_reason(report: pytest.TestReport) -> str:
    lr = report.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:
        msg = str(lr[2])
    else:
        msg = str(lr or "")
    return msg.removeprefix("Skipped: ").strip()


def _failure_message(report: pytest.TestReport) -> str:
    lr = report.longrepr
    crash = getattr(lr, "reprcrash", None)
    msg = getattr(crash, "message", None) or str(lr or "").strip().splitlines()[-1:] or [""]
    if isinstance(msg, list):
        msg = msg[0]
    text = getattr(report, "longreprtext", "") or ""
    falsifying = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("Falsifying example")]
    if falsifying:
        idx = text.find(falsifying[0])
        msg = f"{msg} | {text[idx:idx + 200].strip()}"
    msg = " ".join(str(msg).split())
    return msg[:_MESSAGE_LIMIT] + ("…" if len(msg) > _MESSAGE_LIMIT else "")


def _record(state: _State, report: pytest.TestReport) -> None:
    rec = state.results.setdefault(report.nodeid, _Outcome())
    rec.duration += float(report.duration or 0.0)
    wasxfail = getattr(report, "wasxfail", None)
    if report.when == "call":
        if wasxfail is not None:
            rec.outcome = "xfailed" if report.skipped else "xpassed"
            rec.message = _short(wasxfail) if report.skipped else _short(f"XPASS: {wasxfail}")
        elif report.passed:
            rec.outcome = "passed"
        elif report.failed:
            rec.outcome = "failed"
            rec.message = _failure_message(report)
        else:
            reason = _skip_reason(report)
            rec.outcome = "not-implemented" if is_not_implemented(reason) else "skipped"
            rec.message = _short(reason)
    elif report.when == "setup":
        if report.failed:
            rec.outcome = "error"
            rec.message = "setup: " + _failure_message(report)
        elif report.skipped:
            if wasxfail is not None:
                rec.outcome, rec.message = "xfailed", _short(wasxfail)
            else:
                reason = _skip_reason(report)
                rec.outcome = "not-implemented" if is_not_implemented(reason) else "skipped"
                rec.message = _short(reason)
    elif report.when == "teardown" and report.failed and rec.outcome != "failed":
        rec.outcome = "error"
        rec.message = "teardown: " + _failure_message(report)


def _short(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(str(text).split())
    return text[:_MESSAGE_LIMIT] + ("…" if len(text) > _MESSAGE_LIMIT else "")


class _Recorder:
    """Per-config hook object: report hooks carry no config, and in-process pytest runs (pytester)
    nest sessions, so results must land in *this* config's state, not in module globals."""

    def __init__(self, state: _State) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.state.active:
            _record(self.state, report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.state.collection_errors += 1


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    state = _state(session.config)
    if state is not None:
        session.config.pluginmanager.register(_Recorder(state), "lensemble-spec-recorder")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _state(session.config)
    if state is None or not state.active:
        return
    report = build_report(session.config, state, int(exitstatus))
    state.report = report
    from .artifacts.atomic import atomic_write_json

    try:
        atomic_write_json(state.json_path, report.model_dump(mode="json"))
        state.written = state.json_path
    except LensembleError as exc:  # ArtifactError: unwritable path
        state.write_error = f"{exc.message} ({exc.remediation})"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = _state(config)
    if state is None or not state.active or state.report is None:
        return
    r = state.report
    c, v = r.counts, r.verdicts
    tr = terminalreporter
    tr.write_sep("=", "lensemble-spec compliance")
    colour = {"conformant": {"green": True}, "non-conformant": {"red": True}}.get(v.overall, {"yellow": True})
    who = f"{r.run_info.impl.name} {r.run_info.impl.version}" if r.run_info.impl.name else "artifact-only run"
    tr.write_line(f"verdict: {v.overall.upper()} ({who}, level {r.run_info.level})", bold=True, **colour)
    m = v.must
    tr.write_line(
        f"MUST requirements: {m.total} in scope - {m.passed} passed, {m.failed} failed, "
        f"{m.expected_failure} expected-failure, {m.not_implemented} not implemented, "
        f"{m.skipped} skipped, {m.not_tested} not tested"
    )
    tr.write_line(
        f"tests: {c.collected} collected, {c.deselected} deselected, {c.run} run "
        f"({c.passed} passed, {c.failed} failed, {c.xfailed} xfailed, {c.xpassed} xpassed), "
        f"{c.errors} errors, {c.skipped} skipped, {c.not_implemented} not implemented"
    )
    for w in r.warnings:
        tr.write_line(f"warning: {w}", yellow=True)
    if state.written:
        tr.write_line(f"results: {state.written}")
    if state.write_error:
        tr.write_line(f"could not write results: {state.write_error}", red=True)


# --- report assembly ------------------------------------------------------------------------------
def build_report(config: pytest.Config, state: _State, exitstatus: int | None = None) -> Any:
    """Assemble and validate the :class:`ComplianceReport` of this session."""
    from .report.aggregate import build_compliance_report

    catalog = state.catalog
    if catalog is None:
        try:
            catalog = _catalog(config, state)
        except LensembleError as exc:  # an artifact-only run without RFCs still gets counts
            state.warnings.append(f"requirement catalog unavailable: {exc}")
    return build_compliance_report(
        requirements=catalog.all() if catalog is not None else [],
        items=state.items,
        outcomes={k: {"outcome": v.outcome, "message": v.message, "duration": v.duration}
                  for k, v in state.results.items()},
        run_info=_run_info(config, state, exitstatus),
        rfc_filter=state.rfc_filter,
        deselected=state.deselected,
        collection_errors=state.collection_errors,
        expectations=[
            {"kind": e.kind, "match": e.match, "reason": e.reason, "by": e.by,
             "matched": sorted(set(e.matched))}
            for e in state.expectations
        ],
        unknown_ids=state.unknown_ids,
        warnings=state.warnings,
        runs=_load_runs(state),
    )


def _load_runs(state: _State) -> list[Any]:
    if not state.run_dirs:
        return []
    from .report.runs import load_run_records

    return [load_run_records(d) for d in state.run_dirs]


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _run_info(config: pytest.Config, state: _State, exitstatus: int | None) -> dict[str, Any]:
    from . import __version__

    impl: dict[str, Any] = {"spec": state.impl_spec}
    if state.impl is not None:
        caps = state.impl.capabilities()
        impl.update(
            name=state.impl.name,
            version=state.impl.version,
            capabilities=caps,
            missing=[p for p in _parts() if p not in caps],
        )
    hyp: dict[str, Any] = {"profile": state.hypothesis_profile}
    if state.hypothesis_profile:
        try:
            from hypothesis import settings

            prof = settings.get_profile(state.hypothesis_profile)
            deadline = prof.deadline
            hyp.update(
                max_examples=prof.max_examples,
                derandomize=prof.derandomize,
                deadline_ms=None if deadline is None else deadline.total_seconds() * 1000.0,
            )
        except Exception as exc:  # noqa: BLE001 - an unknown user profile: record what we know
            state.warnings.append(f"hypothesis profile {state.hypothesis_profile!r}: {exc}")
    seed = getattr(config.option, "hypothesis_seed", None)
    hyp["seed"] = None if seed is None else str(seed)
    return {
        "impl": impl,
        "lensemble_spec_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pytest": pytest.__version__,
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "level": state.level,
        "rfc_filter": [f"RFC-{n:04d}" for n in state.rfc_filter],
        "run_dirs": [str(p) for p in state.run_dirs],
        "expectations_file": str(state.expectations_file) if state.expectations_file else None,
        "strict_expectations": state.strict,
        "hypothesis": hyp,
        "rootdir": str(config.rootpath),
        "args": [str(a) for a in config.invocation_params.args],
        "started_at": state.started_wall,
        "finished_at": _now(),
        "duration_s": round(max(time.monotonic() - state.started_mono, 0.0), 3),
        "exit_status": exitstatus,
    }


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
