"""Recording outcomes, in one process or across pytest-xdist workers.

Without xdist, one :class:`Recorder` per config folds every test report into the session state.
With ``pytest -n N`` the controller receives every worker's test reports (as junitxml does) and
each worker sends, when it finishes, what only a collecting process knows — the selected items
with their requirement ids, the deselected count, collection errors, expectation matches — in
``workeroutput``. The controller merges them, so the compliance JSON is the same with and without
``-n`` (the workers write nothing).
"""

from __future__ import annotations

from typing import Any

import pytest

from .outcomes import record
from .state import Outcome, State, is_xdist_worker

WORKER_KEY = "lensemble_spec"


class Recorder:
    """Per-config hook object: report hooks carry no config, and in-process pytest runs (pytester)
    nest sessions, so results must land in *this* config's state, not in module globals."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._worker_collection_errors: list[int] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record(self.state.results.setdefault(report.nodeid, Outcome()), report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.state.collection_errors += 1

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist controller: merge what a finished worker collected."""
        data = getattr(node, "workeroutput", {}).get(WORKER_KEY)
        if data:
            merge_worker(self.state, data)


def worker_payload(state: State) -> dict[str, Any]:
    """What a worker sends the controller (plain JSON-able data; execnet serialises it)."""
    return {
        "active": state.active,
        "items": state.items,
        "deselected": state.deselected,
        "collection_errors": state.collection_errors,
        "unknown_ids": sorted(state.unknown_ids),
        "warnings": list(state.warnings),
        "matched": [list(e.matched) for e in state.expectations],
        "requirement_scope": None if state.requirement_scope is None else sorted(state.requirement_scope),
    }


def merge_worker(state: State, data: dict[str, Any]) -> None:
    """Fold one worker's payload into the controller's state. Every worker collects the same
    items, so counts are the same on each: the merge is idempotent, not a sum."""
    first = state.workers_reported == 0
    state.workers_reported += 1
    state.active = state.active or bool(data.get("active"))
    for nodeid, info in data.get("items", {}).items():
        state.items.setdefault(nodeid, dict(info))
    state.deselected = max(state.deselected, int(data.get("deselected", 0)))
    if first:
        state.collection_errors = 0  # the controller's own count is of forwarded reports
    state.collection_errors = max(state.collection_errors, int(data.get("collection_errors", 0)))
    state.unknown_ids.update(data.get("unknown_ids", []))
    for w in data.get("warnings", []):
        if w not in state.warnings:
            state.warnings.append(w)
    for exp, matched in zip(state.expectations, data.get("matched", [])):
        exp.matched = sorted(set(exp.matched) | set(matched))
    scope = data.get("requirement_scope")
    if scope is not None:
        state.requirement_scope = (state.requirement_scope or set()) | set(scope)


def send_to_controller(config: pytest.Config, state: State) -> None:
    if is_xdist_worker(config):
        config.workeroutput[WORKER_KEY] = worker_payload(state)  # type: ignore[attr-defined]
