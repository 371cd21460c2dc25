"""Per-session state of the plugin (one :class:`State` per ``pytest.Config``, in its stash).

In-process pytest runs (pytester) nest sessions, so nothing lives in module globals: every hook
looks its state up on the config it was given.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

LEVELS = ("quick", "full")
HYPOTHESIS_PROFILE = "lensemble-spec"
DEFAULT_JSON = Path(".lensemble-spec") / "results.json"

#: The suite's own directory (real path). Items under it are the suite's, whatever the paths say.
SUITE_DIR = (Path(__file__).resolve().parent.parent / "conformance").resolve()


@functools.lru_cache(maxsize=8192)
def is_suite_path(path: Path | str) -> bool:
    """True for a file of the installed/checked-out suite (``lensemble_spec/conformance``),
    whichever path or symlink (the repository's ``conformance/``) it was reached by. Cached: it is
    asked once per collected module, in every session."""
    try:
        real = Path(path).resolve()
    except OSError:
        return False
    return real == SUITE_DIR or SUITE_DIR in real.parents


@dataclass
class Expectation:
    kind: str  # "xfail" | "skip"
    match: str
    reason: str
    by: str  # "requirement" | "test" (module::test name) | "nodeid" (node-id prefix)
    matched: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    outcome: str | None = None
    message: str | None = None
    duration: float = 0.0
    details: str | None = None  # full failure text for the report (bounded)


@dataclass
class State:
    # options (see options.py); ``explicit`` = a lensemble option was given on the command line
    explicit: bool = False
    impl: Any = None
    impl_spec: str | None = None
    env_spec: str | None = None  # LENSEMBLE_SPEC_IMPL: used once the session is the suite's
    run_dirs: list[Path] = field(default_factory=list)
    hub_cache: Path | None = None
    rfc_filter: list[int] = field(default_factory=list)
    rfc_filter_raw: list[str] = field(default_factory=list)
    rfc_dir: Path | None = None
    level: str = "full"
    expectations_file: Path | None = None
    expectations: list[Expectation] = field(default_factory=list)
    strict: bool = False
    json_path: Path | None = None
    json_explicit: bool = False
    max_examples: int | None = None
    require: str | None = None  # "conformant" | "partial"
    parts: list[str] = field(default_factory=list)  # --lensemble-parts scope (empty: all)
    # session
    active: bool = False
    catalog: Any = None
    started_wall: str = ""
    started_mono: float = field(default_factory=time.monotonic)
    deselected: int = 0
    collection_errors: int = 0
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, Outcome] = field(default_factory=dict)
    requirement_scope: set[str] | None = None  # with --lensemble-parts: the ids its tests name
    unknown_ids: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    hypothesis_profile: str | None = None
    previous_profile: str | None = None
    workers_reported: int = 0
    written: Path | None = None
    write_error: str | None = None
    gate_message: str | None = None
    report: Any = None

    @property
    def conformance_run(self) -> bool:
        return self.impl is not None or bool(self.run_dirs)


STATE_KEY = pytest.StashKey[State]()


def get_state(config: pytest.Config) -> State | None:
    return config.stash.get(STATE_KEY, None)


def usage_error(exc: Exception, context: str) -> pytest.UsageError:
    code = getattr(getattr(exc, "code", None), "value", "usage")
    fix = getattr(exc, "remediation", None)
    msg = f"lensemble-spec: {context}: [{code}] {getattr(exc, 'message', exc)}"
    if fix:
        msg += f"\n  fix: {fix}"
    return pytest.UsageError(msg)


def is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_xdist_controller(config: pytest.Config) -> bool:
    """True in the controlling process of ``pytest -n N`` (it runs no tests, it receives reports)."""
    return not is_xdist_worker(config) and config.pluginmanager.has_plugin("dsession")
