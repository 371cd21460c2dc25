"""The expectations file: per-implementation expected failures and skips (TOML).

Two optional tables, ``xfail`` and ``skip``; each key names tests, each value is the reason::

    [xfail]
    GAUGE-003 = "rotation angle uses the single-plane formula"        # a requirement id
    "test_federation_outer::test_outer_step_sign" = "sign convention"  # module::test (prefix)

    [skip]
    "test_federation_runs::test_run_" = "needs a GPU"                 # every test starting so
    "test_artifacts" = "no checkpoint format yet"                     # a whole module

A key shaped like a requirement id (``ABC-123``) matches every test naming that requirement.
Any other key is a *test name*: ``module`` or ``module::test-prefix``. Only the module's file stem
counts, so ``conformance/test_x.py::t``, ``lensemble_spec/conformance/test_x.py::t``,
``lensemble_spec.conformance.test_x::t`` and ``test_x::t`` are the same key, and a file behaves
the same from a checkout (node ids ``conformance/test_x.py::t``) and under ``--pyargs`` (node ids
relative to wherever the package is installed). ``skip`` wins over ``xfail`` when both match one
test. Entries that match no collected test are stale: a :class:`StaleExpectationWarning` and a
line in the JSON.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from .state import Expectation, State

EXPECTATION_PREFIX = "expectation:"
REQ_ID_SHAPE = re.compile(r"^[A-Z][A-Z0-9]*-\d+$")


class StaleExpectationWarning(pytest.PytestWarning):
    """An expectations-file entry matched no collected test."""


def test_name(nodeid: str) -> str:
    """``<module stem>::<rest>`` of a node id: the same from a checkout and under ``--pyargs``."""
    path, sep, rest = nodeid.partition("::")
    return f"{_module_stem(path)}{sep}{rest}"


def _module_stem(path: str) -> str:
    stem = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    stem = stem.removesuffix(".py")
    return stem.rsplit(".", 1)[-1]


def normalize_key(key: str) -> str:
    """An expectations key as a test name (module stem, then ``::`` and the test-name prefix)."""
    return test_name(key.strip())


def matches(key: str, nodeid: str) -> bool:
    """Does test-name key ``key`` (already normalized) select ``nodeid``?"""
    name = test_name(nodeid)
    module, sep, prefix = key.partition("::")
    item_module, _, item_rest = name.partition("::")
    if module != item_module:
        return False
    return not sep or item_rest.startswith(prefix)


def parse_expectations(path: Path) -> list[Expectation]:
    import tomllib

    def bad(msg: str) -> pytest.UsageError:
        return pytest.UsageError(
            f"lensemble-spec: expectations file {path}: {msg}\n"
            "  fix: write TOML tables [xfail] and/or [skip] mapping a requirement id or a "
            "module::test name to a reason string (see `lensemble_spec.plugin.expectations`)."
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
    entries: list[Expectation] = []
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
            by = "requirement" if REQ_ID_SHAPE.match(key) else "nodeid"
            entries.append(Expectation(kind=kind, match=key, reason=reason.strip(), by=by))
    return entries


def apply_expectations(state: State, items: list[pytest.Item], catalog: Any) -> None:
    """Mark matching items skip/xfail and record matches; warn about stale entries."""
    for exp in state.expectations:
        if exp.by == "requirement" and catalog is not None and exp.match not in catalog:
            state.warnings.append(f"expectation {exp.kind} {exp.match!r}: unknown requirement id")
    keys = {id(exp): normalize_key(exp.match) for exp in state.expectations if exp.by != "requirement"}
    for it in items:
        info = state.items[it.nodeid]
        chosen: Expectation | None = None
        for exp in state.expectations:
            if exp.by == "requirement":
                hit = exp.match in info["requirements"]
            else:
                hit = matches(keys[id(exp)], it.nodeid)
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
