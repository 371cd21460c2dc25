"""Which tests are the plugin's, what each one checks, and the selection options.

A session is the plugin's (*active*) when a lensemble option was given, or when it collected the
suite's own items — recognised by the real path of ``lensemble_spec/conformance``, never by words
in paths. Otherwise the plugin leaves the session alone: no implementation demanded, no marker
read, no file written.

Markers: ``lensemble_requirement(*ids)`` and ``lensemble_level("quick"|"full")``. In an active
session the short names ``requirement`` / ``level`` of the design are read too (the suite's
modules use them; its conftest registers them for its own runs).

Per test, the plugin records its requirement ids, level and *parts* (the implementation parts
whose fixtures are in its closure; a test that reads a federation run counts as ``federation``),
adds the ids as ``-k`` keywords and as junitxml ``requirement`` properties.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..errors import LensembleError
from .expectations import apply_expectations
from .options import rfc_number
from .state import LEVELS, State, get_state, is_suite_path, usage_error

IMPL_FIXTURES = frozenset({"impl", "gauge_part", "model_part", "federation_part", "artifacts_part"})
PART_FIXTURES = {"gauge_part": "gauge", "model_part": "model", "federation_part": "federation",
                 "artifacts_part": "artifacts"}
#: A marker the suite's conftest adds to tests that read a federation run.
RUN_MARKER = "harness_run"
REQUIREMENT_MARKERS = ("lensemble_requirement", "requirement")
LEVEL_MARKERS = ("lensemble_level", "level")


def catalog_of(config: pytest.Config, state: State) -> Any:
    if state.catalog is None:
        from ..requirements import load_catalog

        state.catalog = load_catalog(rfc_dir=state.rfc_dir)
    return state.catalog


def _reads_short_markers(item: pytest.Item, state: State) -> bool:
    return state.explicit or is_suite_path(item.path)


def marker_info(item: pytest.Item, state: State) -> tuple[list[str], str, list[str]]:
    """(requirement ids, level, problems) from the item's markers."""
    names = REQUIREMENT_MARKERS if _reads_short_markers(item, state) else REQUIREMENT_MARKERS[:1]
    ids: list[str] = []
    problems: list[str] = []
    for name in names:
        for mark in item.iter_markers(name):
            if not mark.args or mark.kwargs:
                problems.append(f"{name}(...) takes one or more id strings and no keywords")
            for arg in mark.args:
                if isinstance(arg, str) and arg.strip():
                    ids.append(arg.strip())
                else:
                    problems.append(f"requirement id {arg!r} is not a non-empty string")
    level = "quick"
    for name in LEVEL_MARKERS if _reads_short_markers(item, state) else LEVEL_MARKERS[:1]:
        mark = item.get_closest_marker(name)
        if mark is None:
            continue
        if len(mark.args) != 1 or mark.args[0] not in LEVELS:
            problems.append(f"{name}(...) takes exactly one of {LEVELS}, got {mark.args!r}")
        else:
            level = mark.args[0]
        break
    return sorted(set(ids)), level, problems


def parts_of(item: pytest.Item) -> list[str]:
    names = set(getattr(item, "fixturenames", ()))
    parts = {part for fixture, part in PART_FIXTURES.items() if fixture in names}
    if item.get_closest_marker(RUN_MARKER) is not None:
        parts.add("federation")
    return sorted(parts)


def validate_collect_report(collector: pytest.Collector, rep: pytest.CollectReport) -> None:
    """Fail collection of a module whose tests name unknown requirement ids (or bad markers)."""
    state = get_state(collector.config)
    if state is None or not rep.passed or not rep.result:
        return
    errors: list[str] = []
    for node in rep.result:
        if not isinstance(node, pytest.Item):
            continue
        ids, _level, problems = marker_info(node, state)
        errors += [f"{node.nodeid}: {p}" for p in problems]
        if not ids:
            continue
        try:
            catalog = catalog_of(collector.config, state)
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


def item_info(item: pytest.Item, state: State) -> dict[str, Any]:
    ids, level, _ = marker_info(item, state)
    return {"requirements": ids, "level": level, "expectation": None, "expectation_reason": None,
            "parts": parts_of(item)}


def modify_items_first(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Before -k/-m: activation, item records, expectations, level skips, --lensemble-rfc."""
    state = get_state(config)
    if state is None:
        return
    suite_items = any(is_suite_path(it.path) for it in items)
    state.active = state.explicit or suite_items
    if not state.active:
        return
    if state.impl is None and state.env_spec:
        from .options import resolve_impl

        resolve_impl(state, state.env_spec)
    try:  # a conformance run reports against the catalog, so it must load
        catalog = catalog_of(config, state)
    except LensembleError as exc:
        raise usage_error(exc, "cannot load the requirement catalog") from exc
    for it in items:
        info = item_info(it, state)
        state.items[it.nodeid] = info
        if info["requirements"]:
            it.extra_keyword_matches.update(info["requirements"])  # -k GAUGE-014
            it.user_properties.extend(("requirement", rid) for rid in info["requirements"])
    apply_expectations(state, items, catalog)
    if state.level == "quick":
        for it in items:
            if state.items[it.nodeid]["level"] == "full":
                it.add_marker(pytest.mark.skip(reason="level: a full-level test, skipped at --lensemble-level quick"))
    if state.rfc_filter:
        known = {rfc_number(r.rfc) for r in catalog.all()}
        for number, raw in zip(state.rfc_filter, state.rfc_filter_raw):
            if number not in known:
                raise pytest.UsageError(
                    f"lensemble-spec: --lensemble-rfc {raw!r} names no RFC with requirements\n"
                    f"  fix: choose one of {sorted(known)}."
                )
        wanted = set(state.rfc_filter)
        keep, drop = [], []
        for it in items:
            rfcs = {rfc_number(catalog.get(r).rfc) for r in state.items[it.nodeid]["requirements"] if r in catalog}
            (keep if rfcs & wanted else drop).append(it)
        if drop:
            items[:] = keep
            config.hook.pytest_deselected(items=drop)


def modify_items_last(config: pytest.Config, items: list[pytest.Item]) -> None:
    """After every other plugin (the suite's run marker is set): parts, and --lensemble-parts."""
    state = get_state(config)
    if state is None or not state.active:
        return
    for it in items:
        if it.nodeid in state.items:
            state.items[it.nodeid]["parts"] = parts_of(it)
    if not state.parts:
        return
    wanted = set(state.parts)
    keep, drop = [], []
    for it in items:
        (keep if wanted & set(parts_of(it)) else drop).append(it)
    state.requirement_scope = {rid for it in keep for rid in state.items[it.nodeid]["requirements"]}
    if drop:
        items[:] = keep
        config.hook.pytest_deselected(items=drop)


def collection_finish(session: pytest.Session) -> None:
    state = get_state(session.config)
    if state is None or not state.active:
        return
    selected = {it.nodeid for it in session.items}
    state.items = {k: v for k, v in state.items.items() if k in selected}
    for it in session.items:  # items a later hook added keep their markers too
        if it.nodeid not in state.items:
            state.items[it.nodeid] = item_info(it, state)
    needs_impl = [it for it in session.items if IMPL_FIXTURES & set(getattr(it, "fixturenames", ()))]
    in_suite = [it for it in session.items if is_suite_path(it.path)]
    if (
        state.impl is None
        and not state.run_dirs
        and (needs_impl or in_suite)
        and not session.config.option.collectonly
    ):
        state.active = False  # nothing ran: write no results file
        raise no_implementation((needs_impl or in_suite)[0].nodeid)


def no_implementation(example: str) -> pytest.UsageError:
    return pytest.UsageError(
        "lensemble-spec: [protocol_violation] no implementation given, but the selected "
        f"conformance tests need one (e.g. {example})\n"
        "  fix: pass --lensemble-impl module[:attribute] (alias --impl; or set LENSEMBLE_SPEC_IMPL), "
        "or --lensemble-run DIR for an artifact-only check."
    )


def check_xdist_arguments(config: pytest.Config, state: State) -> None:
    """``pytest -n N`` on the suite without an implementation: a usage error before workers start.

    (Workers collect; an error raised there would surface as a crashed worker.) Decided from the
    arguments: a path that is (in) the suite, or ``--pyargs lensemble_spec.conformance[...]``.
    """
    if getattr(config.option, "dist", "no") in (None, "no") or hasattr(config, "workerinput"):
        return
    if state.impl is not None or state.run_dirs or config.option.collectonly:
        return
    pyargs = bool(getattr(config.option, "pyargs", False))
    for arg in config.args:
        target = str(arg).split("::", 1)[0]
        suite = pyargs and (target == "lensemble_spec.conformance" or target.startswith("lensemble_spec.conformance."))
        if suite or is_suite_path(config.invocation_params.dir / target):
            if not state.env_spec:
                raise no_implementation(target)
            from .options import resolve_impl

            resolve_impl(state, state.env_spec)  # the controller's report names the implementation
            return
