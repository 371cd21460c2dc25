"""Schema models: good documents load and round-trip; bad ones fail with the right typed error.

Defects caught: extra fields accepted, malformed/uppercase/short hashes, NaN/Inf metrics,
negative rounds, unsorted manifests or participants, a degenerate drift reported as 0°, a
manifest whose config does not re-hash, and too-new schema versions read as if current.
"""

from __future__ import annotations

import copy
import json
import math

import pytest
from _schema_examples import example_documents  # tests/schemas/_schema_examples.py
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lensemble_spec.errors import ArtifactError, PathEscape, PinError, SchemaVersionMismatch
from lensemble_spec.schemas import (
    ArtifactPin,
    CheckpointHeader,
    ResultsTable,
    RoundRecord,
    RunManifest,
    dump_document,
    load_document,
    save_document,
)

H1, H2, H3 = "1" * 64, "2" * 64, "a" * 64
REV = "0123456789abcdef0123456789abcdef01234567"

MODELS = {
    m.__name__: m for m in (CheckpointHeader, RunManifest, RoundRecord, ResultsTable, ArtifactPin)
}
GOOD = {MODELS[name]: doc for name, doc in example_documents().items()}


@pytest.mark.parametrize("model", list(GOOD), ids=lambda m: m.__name__)
def test_good_documents_load_and_round_trip(model, tmp_path):
    doc = load_document(model, copy.deepcopy(GOOD[model]))
    dumped = dump_document(doc)
    assert load_document(model, dumped) == doc
    path = save_document(doc, tmp_path / "doc.json")
    assert load_document(model, path) == doc
    assert load_document(model, path.read_bytes()) == doc
    field = next(iter(type(doc).model_fields))
    with pytest.raises(ValidationError, match="frozen"):
        setattr(doc, field, getattr(doc, field))


# --- hypothesis-generated bad documents --------------------------------------------------------
# (model, JSON path of a field, bad values, expected error type)
def _paths():
    return [
        (CheckpointHeader, ("content_hash",), "hash"),
        (CheckpointHeader, ("parent_hash",), "hash"),
        (CheckpointHeader, ("config_hash",), "hash"),
        (RunManifest, ("probe_hash",), "hash"),
        (RoundRecord, ("global_hash",), "hash"),
        (RunManifest, ("git_sha",), "revision"),
        (RoundRecord, ("metrics", "val_pred"), "float"),
        (RoundRecord, ("metrics", "train_loss"), "float"),
        (RoundRecord, ("wall_time_s",), "float"),
        (ResultsTable, ("controls", 0, "metrics", "effective_rank"), "float"),
        (ResultsTable, ("controls", 0, "series", "effective_rank", 1), "float"),
        (CheckpointHeader, ("round_index",), "round"),
        (RoundRecord, ("round_index",), "round"),
    ]


hex_chars = "0123456789abcdef"
bad_hashes = st.one_of(
    st.text(alphabet=hex_chars, min_size=0, max_size=63),  # short
    st.text(alphabet=hex_chars, min_size=65, max_size=80),  # long
    st.text(alphabet=hex_chars + "ABCDEF", min_size=64, max_size=64).filter(lambda s: s != s.lower()),  # uppercase
    st.text(alphabet="ghijxyz-", min_size=64, max_size=64),  # not hex
    st.integers(),
    st.just("main"),
)
bad_revisions = st.one_of(
    st.text(alphabet=hex_chars, min_size=1, max_size=39),
    st.text(alphabet=hex_chars.upper(), min_size=40, max_size=40).filter(lambda s: s != s.lower()),
    st.sampled_from(["main", "HEAD", "v1.0"]),
)
bad_floats = st.sampled_from([math.nan, math.inf, -math.inf, "1.0", True, None.__class__.__name__])
bad_rounds = st.one_of(st.integers(max_value=-1), st.floats(allow_nan=False), st.just(True), st.just("0"))


def _set(doc, path, value):
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@st.composite
def bad_field(draw):
    model, path, kind = draw(st.sampled_from(_paths()))
    value = draw({"hash": bad_hashes, "revision": bad_revisions, "float": bad_floats, "round": bad_rounds}[kind])
    return model, path, value


@settings(max_examples=50, deadline=None, derandomize=True)
@given(bad_field())
def test_bad_field_values_raise_artifact_error(case):
    model, path, value = case
    doc = copy.deepcopy(GOOD[model])
    _set(doc, path, value)
    with pytest.raises(ArtifactError) as info:
        load_document(model, doc)
    assert type(info.value) is ArtifactError
    assert info.value.details["errors"]  # compact list of what failed


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    st.sampled_from(list(GOOD)),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12),
    st.sampled_from([(), ("metrics",), ("producer",), ("controls", 0), ("pairs", 0), ("checkpoints", 0)]),
)
def test_extra_fields_are_refused(model, key, where):
    doc = copy.deepcopy(GOOD[model])
    target = doc
    try:
        for step in where:
            target = target[step]
    except (KeyError, IndexError):
        target = doc
    if key in target:
        return
    target[key] = 1
    with pytest.raises(ArtifactError, match="xtra"):
        load_document(model, doc)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.sampled_from([m for m in GOOD if m is not ArtifactPin]), st.integers(min_value=2, max_value=10**6))
def test_too_new_schema_version_is_a_typed_mismatch(model, version):
    version += model.SCHEMA_VERSION - 1  # ResultsTable reads versions 1 and 2
    doc = dict(GOOD[model], schema_version=version)
    with pytest.raises(SchemaVersionMismatch) as info:
        load_document(model, doc)
    assert info.value.details == {"file_schema_version": version, "reader_max_version": model.SCHEMA_VERSION}
    with pytest.raises(SchemaVersionMismatch):  # also without the loader
        model.model_validate(doc)


@pytest.mark.parametrize("version", [0, -1, True, "1", 1.0, None])
def test_malformed_schema_version_is_a_typed_mismatch(version):
    with pytest.raises(SchemaVersionMismatch):
        load_document(RoundRecord, dict(GOOD[RoundRecord], schema_version=version))


def test_missing_schema_version_refused_by_loader_only():
    doc = {k: v for k, v in GOOD[RoundRecord].items() if k != "schema_version"}
    with pytest.raises(ArtifactError, match="schema_version"):
        load_document(RoundRecord, doc)
    assert RoundRecord.model_validate(doc).schema_version == 1  # Python construction defaults to current


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.permutations(["a.w", "b", "encoder.x", "z", "É"]).filter(lambda p: p != sorted(p, key=str.encode)))
def test_unsorted_tensor_manifest_is_refused(names):
    doc = copy.deepcopy(GOOD[CheckpointHeader])
    doc["tensor_manifest"] = [{"name": n, "dtype": "float32", "shape": [1]} for n in names]
    with pytest.raises(ArtifactError, match="sorted"):
        load_document(CheckpointHeader, doc)
    doc["tensor_manifest"].sort(key=lambda t: t["name"].encode())
    load_document(CheckpointHeader, doc)


# --- specific rules -----------------------------------------------------------------------------
def _bad(model, mutate, error=ArtifactError, match=None):
    doc = copy.deepcopy(GOOD[model])
    mutate(doc)
    with pytest.raises(error, match=match):
        load_document(model, doc)


def _case(case_id, mutate, error=ArtifactError, match=None):
    return pytest.param(mutate, error, match, id=case_id)


@pytest.mark.parametrize("mutate, error, match", [
    _case("manifest-repeated", lambda d: d["tensor_manifest"].append(dict(d["tensor_manifest"][-1])), match="sorted"),
    _case("dtype-int8", lambda d: d["tensor_manifest"][0].update(dtype="int8")),
    _case("negative-shape", lambda d: d["tensor_manifest"][0].update(shape=[-1])),
    _case("empty-manifest", lambda d: d.update(tensor_manifest=[])),
    _case("weight-file-escapes", lambda d: d.update(weight_files=["../w.safetensors"]), PathEscape),
    _case("weight-file-absolute", lambda d: d.update(weight_files=["/abs/w.safetensors"]), PathEscape),
    _case("weight-file-repeated", lambda d: d.update(weight_files=["w.safetensors", "w.safetensors"]), match="repeat"),
    _case("created-at-not-a-time", lambda d: d.update(created_at="yesterday")),
    _case("created-at-naive", lambda d: d.update(created_at="2026-11-25T08:00:00"), match="timezone"),
    _case("producer-without-version", lambda d: d["producer"].pop("version")),
])  # fmt: skip
def test_header_rules(mutate, error, match):
    _bad(CheckpointHeader, mutate, error, match)


@pytest.mark.parametrize("mutate, error, match", [
    _case("participants-unsorted", lambda d: d.update(participants=["silo1", "silo0"]), match="sorted"),
    _case("participants-repeated", lambda d: d.update(participants=["silo0", "silo0"]), match="sorted"),
    _case("unknown-control", lambda d: d.update(control="fedprox")),
    _case("backstop-non-participant", lambda d: d.update(backstop_fired={"silo9": True}), match="non-participants"),
    _case("negative-drift", lambda d: d["metrics"].update(drift_to_reference_deg=-1.0)),
    _case("negative-rank", lambda d: d["metrics"].update(effective_rank=-1.0)),
    _case("r2-above-one", lambda d: d["metrics"].update(state_probe_r2=1.5)),
    _case("pairwise-without-pairs", lambda d: d["metrics"].update(drift_pairwise_mean_deg=10.0), match="exceeds"),
    _case("degenerate-not-bool", lambda d: d["metrics"].update(drift_degenerate=1)),
    _case("run-id-path", lambda d: d.update(run_id="../x")),
])  # fmt: skip
def test_round_record_rules(mutate, error, match):
    _bad(RoundRecord, mutate, error, match)


@pytest.mark.parametrize("mutate, error, match", [
    _case("config-does-not-rehash", lambda d: d["config"].update(rounds=4), match="does not match"),
    _case("config-nan", lambda d: d.update(config={"lr": math.nan}), match="RunManifest"),
    _case("checkpoints-unsorted", lambda d: d["checkpoints"].reverse(), match="sorted"),
    _case("checkpoint-path-escapes", lambda d: d["checkpoints"][0].update(path="../elsewhere"), PathEscape),
    _case("negative-sketch-seed", lambda d: d.update(round_sketch_seeds=[-1])),
    _case("root-seed-too-large", lambda d: d.update(root_seed=2**64)),
])  # fmt: skip
def test_run_manifest_rules(mutate, error, match):
    _bad(RunManifest, mutate, error, match)


def test_run_manifest_moves_and_git_states_stay_valid():
    """Moving the run (sink path) keeps the manifest valid: the hash ignores out_dir."""
    doc = copy.deepcopy(GOOD[RunManifest])
    doc["config"]["out_dir"] = "/elsewhere"
    load_document(RunManifest, doc)
    for sha in (REV + "-dirty", "unknown"):
        load_document(RunManifest, dict(GOOD[RunManifest], git_sha=sha))


@pytest.mark.parametrize("mutate, error, match", [
    _case("control-twice", lambda d: d["controls"].append(dict(d["controls"][0])), match="once"),
    _case("seeds-repeated", lambda d: d.update(seeds=[1, 1]), match="unique"),
    _case("verdict-empty", lambda d: d["controls"][0].update(verdict="")),
    _case("pin-branch", lambda d: d["controls"][0]["pins"][0].update(uri="hf://models/org/ckpt@main"), PinError),
])  # fmt: skip
def test_results_table_rules(mutate, error, match):
    _bad(ResultsTable, mutate, error, match)


def test_loader_input_forms(tmp_path):
    with pytest.raises(ArtifactError, match="JSON object"):
        load_document(RoundRecord, [1, 2])
    with pytest.raises(ArtifactError, match="cannot read"):
        load_document(RoundRecord, tmp_path / "missing.json")
    (tmp_path / "r.json").write_text(json.dumps(GOOD[RoundRecord]))
    assert load_document(RoundRecord, str(tmp_path / "r.json")).round_index == 1


def test_error_message_is_compact():
    doc = copy.deepcopy(GOOD[RoundRecord])
    for key in ("effective_rank", "val_pred", "latent_rms", "sigreg", "train_loss"):
        doc["metrics"][key] = math.nan
    with pytest.raises(ArtifactError) as info:
        load_document(RoundRecord, doc)
    assert "(+2 more)" in info.value.message
    assert "\n" not in info.value.message
    assert len(info.value.details["errors"]) == 5


def test_a_legacy_config_hash_is_refused_with_a_remediation():
    from lensemble_spec.artifacts.canonical import config_hash, legacy_config_hash
    from lensemble_spec.errors import ArtifactError

    doc = example_documents()["RunManifest"]
    doc["config"] = {"rounds": 3, "outer": {"lr": 1.0}}
    doc["config_hash"] = legacy_config_hash(doc["config"])
    assert doc["config_hash"] != config_hash(doc["config"])
    with pytest.raises(ArtifactError) as info:
        RunManifest.model_validate(doc)
    assert "lensemble-spec 0.1" in info.value.message and "Re-run" in info.value.remediation
    assert info.value.details["expected"] == config_hash(doc["config"])
    doc["config_hash"] = config_hash(doc["config"])
    assert RunManifest.model_validate(doc).config_hash == doc["config_hash"]
