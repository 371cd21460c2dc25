"""canonical_json and config_hash.

Defects caught: a config hash that depends on key order or on where outputs are written
(out_dir/log_path/metrics_path at any depth), one that silently merges ``1`` and ``"1"`` keys
or accepts NaN, and a canonical form that drifts from the documented json.dumps call.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lensemble_spec.artifacts import SINK_PATH_KEYS, canonical_json, config_hash
from lensemble_spec.errors import ArtifactError, ConfigError

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(json_values)
def test_canonical_json_is_the_documented_dumps(value):
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    assert canonical_json(value) == expected.encode("ascii")


def test_canonical_json_examples():
    assert canonical_json({"b": [1, 2.5, None], "a": "é"}) == b'{"a":"\\u00e9","b":[1,2.5,null]}'
    assert canonical_json({"x": (1, 2)}) == b'{"x":[1,2]}'


@pytest.mark.parametrize(
    "bad", [{"x": float("nan")}, {"x": float("inf")}, {1: "a"}, {"x": {2: 3}}, {"x": object()}, {"x": {1, 2}}]
)
def test_canonical_json_refuses_non_canonical_values(bad):
    with pytest.raises(ArtifactError):
        canonical_json(bad)


def _reorder(value):
    """The same JSON value with every dict's keys in reverse insertion order."""
    if isinstance(value, dict):
        return {k: _reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reorder(v) for v in value]
    return value


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.dictionaries(st.text(max_size=5), json_values, max_size=5))
def test_config_hash_ignores_key_order(config):
    assert config_hash(config) == config_hash(_reorder(config))


def test_config_hash_is_sha256_of_canonical_json():
    cfg = {"rounds": 3, "outer": {"lr": 0.5}}
    assert config_hash(cfg) == hashlib.sha256(b'{"outer":{"lr":0.5},"rounds":3}').hexdigest()


def test_config_hash_ignores_sink_paths_at_any_depth():
    base = {"rounds": 3, "observability": {"level": "info"}, "stages": [{"lr": 0.1}]}
    with_sinks = {
        "rounds": 3,
        "out_dir": "/tmp/a",
        "observability": {"level": "info", "log_path": "/var/log/x", "metrics_path": "m.jsonl"},
        "stages": [{"lr": 0.1, "output_dir": "s0"}],
    }
    assert config_hash(base) == config_hash(with_sinks)
    moved = json.loads(json.dumps(with_sinks))
    moved["out_dir"] = "/elsewhere"
    moved["observability"]["log_path"] = "other.log"
    assert config_hash(moved) == config_hash(with_sinks)
    assert {"out_dir", "log_path", "metrics_path"} <= SINK_PATH_KEYS


def test_config_hash_changes_with_any_real_value():
    base = {"rounds": 3, "outer": {"lr": 0.5, "nesterov": True}}
    assert config_hash(base) != config_hash({"rounds": 4, "outer": {"lr": 0.5, "nesterov": True}})
    assert config_hash(base) != config_hash({"rounds": 3, "outer": {"lr": 0.25, "nesterov": True}})
    assert config_hash(base) != config_hash({"rounds": 3, "outer": {"lr": 0.5, "nesterov": False}})
    assert config_hash(base) != config_hash({"rounds": 3.0, "outer": {"lr": 0.5, "nesterov": True}})
    # a sink-named key is dropped, but a similarly named real key is not
    assert config_hash(base) != config_hash({**base, "out_dim": 8})


def test_config_hash_accepts_dataclasses():
    @dataclasses.dataclass
    class Cfg:
        rounds: int = 3
        out_dir: str = "runs/x"

    assert config_hash(Cfg()) == config_hash({"rounds": 3})


@pytest.mark.parametrize("bad", [{"lr": float("nan")}, {1: 2}, ["not", "a", "mapping"], {"x": b"bytes"}])
def test_config_hash_refuses_non_json(bad):
    with pytest.raises(ConfigError):
        config_hash(bad)
