"""Command-line options: namespaced ``--lensemble-*`` names, and the design's short names as aliases.

Every option exists as ``--lensemble-NAME``. The short spellings of the design (``--impl``,
``--run``, ``--level`` …) are added only after every plugin and initial conftest has registered its
own options (:func:`add_aliases`, called from ``pytest_load_initial_conftests``), and only those no
one else owns — so another plugin's ``--level`` is never met by an argparse conflict, and in such a
session ``--level`` is simply that plugin's option.

:func:`read_options` turns the parsed values into the session :class:`~.state.State`; a bad value
is a ``pytest.UsageError`` naming the option and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from .state import DEFAULT_JSON, LEVELS, State, usage_error

GROUP = "lensemble-spec"
REQUIRE_CHOICES = ("conformant", "partial")

#: (namespaced name, alias or None, dest, add_option keywords)
OPTIONS: tuple[tuple[str, str | None, str, dict[str, Any]], ...] = (
    ("--lensemble-impl", "--impl", "lensemble_impl",
     {"default": None, "metavar": "MODULE[:ATTR]",
      "help": "implementation under test (env LENSEMBLE_SPEC_IMPL as fallback for the suite's own tests)"}),
    ("--lensemble-run", "--run", "lensemble_run",
     {"action": "append", "default": [], "metavar": "DIR",
      "help": "run or comparison directory for artifact checks (repeatable)"}),
    ("--lensemble-hub-cache", "--hub-cache", "lensemble_hub_cache",
     {"default": None, "metavar": "DIR",
      "help": "Hugging Face hub cache in which pins of --lensemble-run results tables resolve offline"}),
    ("--lensemble-rfc", "--rfc", "lensemble_rfc",
     {"action": "append", "default": [], "metavar": "N",
      "help": "keep only tests of requirements in RFC N (repeatable)"}),
    ("--lensemble-level", "--level", "lensemble_level",
     {"choices": LEVELS, "default": None,
      "help": "quick skips tests marked lensemble_level('full') (default: full)"}),
    ("--lensemble-parts", "--parts", "lensemble_parts",
     {"default": None, "metavar": "PART[,PART]",
      "help": "scope the run to tests of these implementation parts (gauge, model, federation, artifacts)"}),
    ("--lensemble-require", None, "lensemble_require",
     {"choices": REQUIRE_CHOICES, "default": None,
      "help": "exit 1 unless the verdict (overall, or of each part given with --lensemble-parts) "
              "is at least this"}),
    ("--lensemble-expectations", "--expectations", "lensemble_expectations",
     {"default": None, "metavar": "FILE",
      "help": "TOML file of expected failures/skips by requirement id or module::test name"}),
    ("--lensemble-strict-expectations", "--strict-expectations", "lensemble_strict",
     {"action": "store_true", "default": False,
      "help": "an expected failure that passes (XPASS) fails"}),
    ("--lensemble-json", "--compliance-json", "lensemble_json",
     {"default": None, "metavar": "PATH",
      "help": "where to write results (default <rootdir>/.lensemble-spec/results.json)"}),
    ("--lensemble-max-examples", "--max-examples", "lensemble_max_examples",
     {"type": int, "default": None, "metavar": "N",
      "help": "max_examples of the lensemble-spec Hypothesis profile"}),
    ("--lensemble-rfc-dir", "--rfc-dir", "lensemble_rfc_dir",
     {"default": None, "metavar": "DIR", "help": "read the requirement catalog from this RFC directory"}),
)

_ALIAS_PREFIX = "lensemble_alias_"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "lensemble-spec conformance harness")
    for name, _alias, dest, kwargs in OPTIONS:
        group.addoption(name, dest=dest, **kwargs)


def _taken_names(parser: pytest.Parser) -> set[str]:
    """Every option string registered so far, by any plugin (pytest keeps them on its Parser)."""
    names: set[str] = set()
    groups = [getattr(parser, "_anonymous", None), *getattr(parser, "_groups", [])]
    for group in groups:
        for opt in getattr(group, "options", []) if group is not None else []:
            names.update(opt.names())
    return names


def add_aliases(parser: pytest.Parser) -> list[str]:
    """Register the design's short option names that no other plugin owns; return those added.

    Called once every plugin and initial conftest has added its options, before pytest parses the
    command line for good. If pytest's parser cannot be inspected, no alias is added: an alias
    must never be the reason another plugin cannot start.
    """
    try:
        taken = _taken_names(parser)
    except Exception:  # noqa: BLE001 - a pytest without these internals: namespaced names only
        return []
    group = parser.getgroup(GROUP)
    added = []
    for name, alias, dest, kwargs in OPTIONS:
        if alias is None or alias in taken:
            continue
        kw = {k: v for k, v in kwargs.items() if k != "help"}
        kw["help"] = f"alias of {name}"
        try:
            group.addoption(alias, dest=_ALIAS_PREFIX + dest, **kw)
        except ValueError:  # taken within our own group (cannot happen unless registered twice)
            continue
        added.append(alias)
    return added


def _value(opt: Any, dest: str) -> Any:
    """The namespaced option's value, else its alias's (lists are concatenated)."""
    main = getattr(opt, dest, None)
    alias = getattr(opt, _ALIAS_PREFIX + dest, None)
    if isinstance(main, list) or isinstance(alias, list):
        return list(main or []) + list(alias or [])
    return main if main not in (None, False) else alias


def given(opt: Any) -> bool:
    """True when any lensemble option was given (the plugin then works on any test it collects)."""
    return any(_value(opt, dest) not in (None, False, []) for _n, _a, dest, _k in OPTIONS)


def read_options(config: pytest.Config, state: State) -> None:
    """Fill ``state`` from the command line; usage errors name the option and the fix."""
    opt = config.option
    here = config.invocation_params.dir
    state.explicit = given(opt)
    state.level = _value(opt, "lensemble_level") or "full"
    state.strict = bool(_value(opt, "lensemble_strict"))
    state.max_examples = _value(opt, "lensemble_max_examples")
    if state.max_examples is not None and state.max_examples < 1:
        raise pytest.UsageError("lensemble-spec: --lensemble-max-examples must be a positive integer")
    rfc_dir = _value(opt, "lensemble_rfc_dir")
    if rfc_dir:
        state.rfc_dir = (here / rfc_dir).resolve()
        if not state.rfc_dir.is_dir():
            raise pytest.UsageError(f"lensemble-spec: --lensemble-rfc-dir {rfc_dir!r} is not a directory")
        from .. import rfc_params  # bounds (suite) and tolerances (verifier) follow --lensemble-rfc-dir

        rfc_params.select(state.rfc_dir)
    for raw in _value(opt, "lensemble_rfc") or []:
        state.rfc_filter.append(rfc_number(raw))
        state.rfc_filter_raw.append(raw)
    for raw in _value(opt, "lensemble_run") or []:
        path = (here / raw).resolve()
        if not path.is_dir():
            raise pytest.UsageError(
                f"lensemble-spec: --lensemble-run {raw!r} is not a directory\n"
                "  fix: pass the run directory a trainer wrote (it holds manifest.json)."
            )
        state.run_dirs.append(path)
    hub_cache = _value(opt, "lensemble_hub_cache")
    if hub_cache:
        state.hub_cache = (here / hub_cache).resolve()
        if not state.hub_cache.is_dir():
            raise pytest.UsageError(
                f"lensemble-spec: --lensemble-hub-cache {hub_cache!r} is not a directory\n"
                "  fix: pass a Hugging Face cache directory (e.g. ~/.cache/huggingface/hub) that holds the pinned "
                "files."
            )
    json_opt = _value(opt, "lensemble_json")
    state.json_explicit = bool(json_opt)
    state.json_path = (here / json_opt) if json_opt else (config.rootpath / DEFAULT_JSON)
    state.require = _value(opt, "lensemble_require")
    parts = _value(opt, "lensemble_parts")
    if parts:
        state.parts = _parse_parts(parts)
    exp = _value(opt, "lensemble_expectations")
    if exp:
        from .expectations import parse_expectations

        state.expectations_file = (here / exp).resolve()
        state.expectations = parse_expectations(state.expectations_file)
    # LENSEMBLE_SPEC_IMPL is only a fallback: it never makes an unrelated session the plugin's (a
    # CI job may export it for all its pytest runs); it is resolved once the session is the suite's.
    state.env_spec = os.environ.get("LENSEMBLE_SPEC_IMPL") or None
    spec = _value(opt, "lensemble_impl") or (state.env_spec if state.explicit else None)
    if spec:
        resolve_impl(state, spec)


def resolve_impl(state: State, spec: str) -> None:
    # imports numpy: only for conformance runs
    from ..protocol import resolve_implementation

    try:
        state.impl = resolve_implementation(spec)
    except Exception as exc:  # ProtocolError, or an adapter failing on import (re-raised)
        hint = _import_path_hint(spec, exc)
        error = usage_error(exc, f"cannot use implementation {spec!r}")
        if hint:
            error = pytest.UsageError(f"{error}\n  {hint}")
        raise error from exc
    state.impl_spec = spec


def _import_path_hint(spec: str, exc: BaseException) -> str | None:
    """Why a module in the current directory is not found, and how to make it importable.

    Plain ``pytest`` (unlike ``python -m pytest``) does not put the current directory on
    ``sys.path``, so an adapter module next to the user's tests is "not found" although it is there.
    """
    import sys

    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if not isinstance(cause, ModuleNotFoundError):
        return None
    top = spec.partition(":")[0].split(".")[0]
    if cause.name is not None and cause.name.split(".")[0] != top:
        return None  # the adapter itself imports something missing: the message already says what
    cwd = Path.cwd().resolve()
    on_path = any(Path(p or ".").resolve() == cwd for p in sys.path)
    if on_path:
        return None
    here = (cwd / f"{top}.py").is_file() or (cwd / top / "__init__.py").is_file()
    where = f"{top!r} is in {cwd}, but" if here else f"if {top!r} lives in {cwd}:"
    return (
        f"why: {where} the current directory is not on sys.path (plain `pytest` does not add it; "
        "`python -m pytest` does).\n"
        "  fix: run `python -m pytest ...`, or add `pythonpath = [\".\"]` under [tool.pytest.ini_options] "
        "(pytest's pythonpath setting), or `pip install -e .` your package."
    )


def _parse_parts(raw: str) -> list[str]:
    from ..constants import PARTS

    chosen = [p.strip() for p in raw.split(",") if p.strip()]
    bad = [p for p in chosen if p not in PARTS]
    if bad or not chosen:
        raise pytest.UsageError(
            f"lensemble-spec: --lensemble-parts {raw!r}: unknown part(s) {bad or raw!r}\n"
            f"  fix: a comma-separated list of {', '.join(PARTS)}."
        )
    return list(dict.fromkeys(chosen))


def rfc_number(raw: str) -> int:
    from ..errors import RequirementError
    from ..requirements import normalize_rfc  # cheap (re/ast only)

    try:
        return int(normalize_rfc(raw).removeprefix("RFC-"))
    except RequirementError:
        raise pytest.UsageError(
            f"lensemble-spec: --lensemble-rfc {raw!r} is not an RFC number\n  fix: write e.g. --lensemble-rfc 0002."
        ) from None


__all__ = [
    "DEFAULT_JSON",
    "OPTIONS",
    "add_aliases",
    "add_options",
    "given",
    "read_options",
    "resolve_impl",
    "rfc_number",
]
