"""canonical_json and config_hash.

Defects caught: a config hash that depends on key order or on where outputs are written
(out_dir/log_path/metrics_path at any depth), one that silently merges ``1`` and ``"1"`` keys
or accepts NaN, a canonical form that is not RFC 8785 (JCS), and a legacy (lensemble-spec 0.1)
configuration hash that is silently accepted or silently rejected without saying how to re-hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lensemble_spec.artifacts import SINK_PATH_KEYS, canonical_json, config_hash
from lensemble_spec.artifacts.canonical import legacy_canonical_json, legacy_config_hash
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


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


@settings(max_examples=50, deadline=None, derandomize=True)
@given(json_values)
def test_canonical_json_round_trips_and_is_idempotent(value):
    out = canonical_json(value)
    parsed = json.loads(out.decode("utf-8"), parse_int=float)  # every JSON number is a double (I-JSON)
    assert parsed == value  # the same JSON value (1 == 1.0, as JSON numbers are)
    assert canonical_json(parsed) == out  # canonical form of the canonical form is itself


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.dictionaries(st.text(max_size=4), st.integers(0, 9), min_size=2, max_size=6))
def test_members_are_sorted_by_utf16_code_units(obj):
    parsed_keys = list(json.loads(canonical_json(obj)))
    assert parsed_keys == sorted(obj, key=_utf16)


def test_canonical_json_examples():
    # RFC 8785: UTF-8 output, no escaping beyond the mandatory ones, integral doubles without ".0"
    assert canonical_json({"b": [1, 2.5, None], "a": "é"}) == '{"a":"é","b":[1,2.5,null]}'.encode()
    assert canonical_json({"x": (1, 2)}) == b'{"x":[1,2]}'
    assert (
        canonical_json({"lr": 1.0, "eps": 1e-5, "big": 1e21, "neg0": -0.0})
        == b'{"big":1e+21,"eps":0.00001,"lr":1,"neg0":0}'
    )
    assert canonical_json("\u2028\x7f\x1f") == '"\u2028\x7f\\u001f"'.encode()
    # U+1F600 (UTF-16 D83D DE00) sorts before U+FB33 although its code point is larger
    assert canonical_json({"\ufb33": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb33":1}'.encode()


@pytest.mark.parametrize("n", [2**53, -(2**53), 2**63 - 1, 7770846738033751453, -(2**70)])
def test_integers_beyond_ijson_are_written_exactly(n):
    # RFC-0010 §4.1's one extension of RFC 8785: 63-bit seeds hash exactly, never rounded to a double
    assert canonical_json({"seed": n}) == b'{"seed":%d}' % n
    assert canonical_json({"seed": n}) != canonical_json({"seed": n + 1})
    assert canonical_json({"seed": 2**53 - 1}) == b'{"seed":9007199254740991}'


ijson_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(ijson_values)
def test_within_ijson_it_is_exactly_the_rfc8785_package(value):
    import rfc8785

    assert canonical_json(value) == rfc8785.dumps(value)


header_docs = st.fixed_dictionaries(
    {
        "schema_version": st.integers(1, 2**31),
        "round_index": st.integers(0, 2**53 - 1),
        "parent_hash": st.one_of(st.just(""), st.text("0123456789abcdef", min_size=64, max_size=64)),
        "config_hash": st.text("0123456789abcdef", min_size=64, max_size=64),
    }
)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(header_docs)
def test_hashed_header_bytes_are_unchanged_by_the_switch_to_rfc8785(doc):
    """The content hash's J (integers and lowercase hex only) is byte-identical under both schemes,
    so no checkpoint content hash changed when canonical JSON became RFC 8785."""
    assert canonical_json(doc) == legacy_canonical_json(doc)


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
    # JSON numbers, not Python types: 3 and 3.0 are the same number in RFC 8785
    assert config_hash(base) == config_hash({"rounds": 3.0, "outer": {"lr": 0.5, "nesterov": True}})
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


def test_config_hash_golden():
    # recomputed by hand: sha256 of the RFC 8785 bytes below (1.0 -> 1, 1e-3 -> 0.001)
    cfg = {"rounds": 3, "outer": {"lr": 1.0, "momentum": 0.0}, "inner_lr": 1e-3, "out_dir": "x"}
    canonical = b'{"inner_lr":0.001,"outer":{"lr":1,"momentum":0},"rounds":3}'
    assert config_hash(cfg) == hashlib.sha256(canonical).hexdigest()
    assert (
        legacy_config_hash(cfg)
        == hashlib.sha256(b'{"inner_lr":0.001,"outer":{"lr":1.0,"momentum":0.0},"rounds":3}').hexdigest()
    )
