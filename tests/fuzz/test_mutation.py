"""Hypothesis-driven mutation of a run's manifest, round records and checkpoint headers.

A random value (any JSON: nulls, booleans, huge or negative integers, floats, strings with
control characters, nested lists and objects) replaces, or a deletion removes, a randomly chosen
node of one document of a real run. Verification must never raise or hang, must name a
requirement for every failed or skipped finding, and must not read OK when the change touched a
protected field (a field some requirement fixes: hashes, indices, the chain, the config, the
listing). Changes to unprotected fields (timestamps, producer, wall time, metric values — those
are recomputed only with ``--impl``) may read either way.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_corpus import check_text, verify_bounded

#: document -> (relative path, top-level keys a change of which must be detected)
DOCUMENTS = {
    "manifest": (
        "manifest.json",
        {
            "schema_version",
            "run_id",
            "control",
            "config",
            "config_hash",
            "root_seed",
            "round_sketch_seeds",
            "probe_hash",
            "checkpoints",
        },
    ),
    "record": ("rounds.jsonl", {"schema_version", "run_id", "control", "round_index", "global_hash", "parent_hash"}),
    "header": (
        "checkpoints/round-0001/header.json",
        {
            "schema_version",
            "content_hash",
            "parent_hash",
            "round_index",
            "config_hash",
            "tensor_manifest",
            "weight_files",
        },
    ),
}
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _nodes(doc: Any, path: tuple = ()) -> list[tuple]:
    out = [path] if path else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _nodes(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _nodes(v, (*path, i))
    return out


def _get(doc: Any, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


@pytest.fixture(scope="module")
def pristine_run(pristine_comparison: Path) -> Path:
    return pristine_comparison / "anchored"


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_documents_never_fool_or_crash_verify(
    data: st.DataObject, pristine_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kind = data.draw(st.sampled_from(sorted(DOCUMENTS)), label="document")
    rel, protected = DOCUMENTS[kind]
    root = tmp_path_factory.mktemp("mut") / "anchored"
    shutil.copytree(pristine_run, root)
    if kind == "record":
        lines = (root / rel).read_text().splitlines()
        index = data.draw(st.integers(0, len(lines) - 1), label="line")
        doc = json.loads(lines[index])
    else:
        doc = json.loads((root / rel).read_text())
    path = data.draw(st.sampled_from(_nodes(doc)), label="node")
    before = json.dumps(_get(doc, path), sort_keys=True)
    parent = _get(doc, path[:-1])
    if data.draw(st.booleans(), label="delete") and isinstance(parent, dict):
        del parent[path[-1]]
        changed = True
    else:
        value = data.draw(JSON_VALUES, label="value")
        parent[path[-1]] = value
        changed = json.dumps(value, sort_keys=True) != before or type(value) is not type(json.loads(before))
    text = json.dumps(doc, sort_keys=True)
    if kind == "record":
        lines[index] = text
        (root / rel).write_text("\n".join(lines) + "\n")
    else:
        (root / rel).write_text(text)

    report, _ = verify_bounded(root)
    assert not [f for f in report.findings if f.status != "pass" and not f.requirement]
    check_text(report.render_text())
    if changed and path[0] in protected:
        assert not report.ok, f"{kind} {path} changed from {before[:80]} but the run reads OK"
