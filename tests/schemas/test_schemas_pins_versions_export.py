"""ArtifactPin parsing, the schema_version migration rule, and JSON Schema export.

Defects caught: mutable revisions (``main``, tags, short or uppercase SHAs) accepted as pins
(upstream accepted any non-empty string), a reader that rejects older versions instead of
migrating them, and an exported JSON Schema that does not describe the documents we write.
"""

from __future__ import annotations

import argparse
import copy
import json
from typing import Any, ClassVar, Literal

import pytest
from _schema_examples import example_documents  # tests/schemas/_schema_examples.py
from hypothesis import given, settings
from hypothesis import strategies as st

from lensemble_spec.commands import schema as schema_cmd
from lensemble_spec.errors import ArtifactError, InputError, PinError, SchemaVersionMismatch
from lensemble_spec.schemas import ArtifactPin, VersionedDocument, document_models, load_document

REV = "0123456789abcdef0123456789abcdef01234567"
SHA = "e" * 64


# --- pins ---------------------------------------------------------------------------------------
def test_pin_parts():
    uri = f"hf://datasets/lerobot/so100@{REV}/data/chunk-000/ep.parquet"
    pin = load_document(ArtifactPin, {"uri": uri, "sha256": SHA})
    assert (pin.repo_type, pin.repo_id, pin.revision, pin.path) == (
        "dataset",
        "lerobot/so100",
        REV,
        "data/chunk-000/ep.parquet",
    )
    whole = ArtifactPin.model_validate(f"hf://models/abdelstark/lensemble-ckpt@{REV}")
    assert (whole.repo_type, whole.path, whole.sha256) == ("model", None, None)
    assert pin.model_dump() == {"uri": uri, "sha256": SHA}


def _exploded(repo_type: str) -> dict[str, Any]:
    return {"repo_type": repo_type, "repo_id": "org/name", "revision": REV, "path": "w.safetensors", "sha256": SHA}


@pytest.mark.parametrize("repo_type", ["models", "model"])
def test_exploded_form_normalises_to_uri(repo_type):
    exploded = _exploded(repo_type)
    pin = ArtifactPin.model_validate(exploded)
    uri = f"hf://models/org/name@{REV}/w.safetensors"
    assert pin.model_dump() == {"uri": uri, "sha256": SHA}
    assert ArtifactPin.model_validate({**exploded, "uri": uri}) == pin  # consistent uri + parts


@pytest.mark.parametrize("repo_type", ["models", "model"])
@pytest.mark.parametrize("bad, match", [
    pytest.param(lambda d: {**d, "uri": f"hf://models/org/name@{REV}/w.safetensors", "revision": "f" * 40},
                 "disagrees", id="uri-disagrees-with-parts"),
    pytest.param(lambda d: {**d, "revision": "main"}, "symbolic", id="symbolic-revision"),
    pytest.param(lambda d: {"repo_type": d["repo_type"], "repo_id": "org/name"}, "lacks", id="no-revision"),
])  # fmt: skip
def test_bad_exploded_pins_are_pin_errors(repo_type, bad, match):
    with pytest.raises(PinError, match=match):
        load_document(ArtifactPin, bad(_exploded(repo_type)))


@pytest.mark.parametrize(
    "uri, reason",
    [
        ("hf://models/org/name@main", "symbolic"),
        ("hf://models/org/name@v1.0", "symbolic"),
        (f"hf://models/org/name@{REV[:7]}", "abbreviated"),
        (f"hf://models/org/name@{REV.upper()}", "uppercase"),
        (f"hf://models/org/name@{REV}0", "40"),
        ("hf://models/org/name@", "empty"),
        ("hf://models/org/name", "malformed"),
        (f"hf://spaces/org/name@{REV}", "repo_type"),
        (f"https://huggingface.co/org/name@{REV}", "malformed"),
        (f"hf://models/name@{REV}", "malformed"),
        (f"hf://models/a/b/c@{REV}", "malformed"),
        (f"hf://models/org/na..me@{REV}", "repo_id"),
        (f"hf://models/org/name@{REV}/../x", "path"),
        (f"hf://models/org/name@{REV}/", "path"),
        (f"hf://models/org/name@{REV}//x", "path"),
    ],
)
def test_bad_pins_are_pin_errors(uri, reason):
    with pytest.raises(PinError) as info:
        load_document(ArtifactPin, {"uri": uri})
    assert reason in info.value.details.get("reason", "") + info.value.message


def test_pin_sha256_must_be_a_hash():
    with pytest.raises(ArtifactError) as info:
        load_document(ArtifactPin, {"uri": f"hf://models/org/name@{REV}", "sha256": SHA.upper()})
    assert type(info.value) is ArtifactError and "sha256" in info.value.message


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}[A-Za-z0-9]", fullmatch=True).filter(
        lambda s: ".." not in s and "--" not in s
    ),
    st.text(alphabet="0123456789abcdef", min_size=40, max_size=40),
)
def test_valid_pins_round_trip(name, revision):
    pin = ArtifactPin.model_validate(f"hf://datasets/org/{name}@{revision}/file.bin")
    assert (pin.repo_type, pin.repo_id, pin.revision, pin.path) == ("dataset", f"org/{name}", revision, "file.bin")
    assert ArtifactPin.model_validate(json.loads(pin.model_dump_json())) == pin


def _is_full(r: str) -> bool:
    return len(r) == 40 and all(c in "0123456789abcdef" for c in r)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.text(alphabet="0123456789abcdefABCDEFmainxyz", min_size=0, max_size=45).filter(lambda r: not _is_full(r)))
def test_any_non_full_revision_is_refused(revision):
    with pytest.raises(PinError):
        ArtifactPin.model_validate(f"hf://models/org/name@{revision}")


# --- migration rule -----------------------------------------------------------------------------
def _v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    doc["title"] = doc.pop("name")
    return doc


class _Doc(VersionedDocument):
    """A test-only document at version 2 whose v1 spelled ``title`` as ``name``."""

    SCHEMA_VERSION: ClassVar[int] = 2
    MIGRATIONS: ClassVar[dict] = {1: _v1_to_v2}
    schema_version: Literal[2] = 2
    title: str


def test_older_versions_are_migrated_newer_refused():
    assert load_document(_Doc, {"schema_version": 1, "name": "x"}) == _Doc(title="x")
    assert load_document(_Doc, {"schema_version": 2, "title": "x"}).schema_version == 2
    with pytest.raises(SchemaVersionMismatch):
        load_document(_Doc, {"schema_version": 3, "title": "x"})


def test_missing_migration_step_is_a_mismatch():
    class _Gap(_Doc):
        SCHEMA_VERSION: ClassVar[int] = 3
        MIGRATIONS: ClassVar[dict] = {2: lambda d: d}
        schema_version: Literal[3] = 3

    with pytest.raises(SchemaVersionMismatch, match="no migration from schema_version 1"):
        load_document(_Gap, {"schema_version": 1, "name": "x"})
    assert load_document(_Gap, {"schema_version": 2, "title": "x"}).schema_version == 3


# --- JSON Schema export -------------------------------------------------------------------------
EXPECTED = {"ArtifactPin", "CheckpointHeader", "ResultsTable", "RoundRecord", "RunManifest"}


def _export(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    schema_cmd.register(sub)
    args = parser.parse_args(["schema", "--export", str(tmp_path / "out")])
    assert args.func(args) == 0
    return capsys.readouterr().out.split()


def test_export_writes_one_valid_schema_per_model(tmp_path, capsys):
    printed = _export(tmp_path, capsys)
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    names = set(document_models())
    assert EXPECTED <= names
    assert files == sorted(f"{n}.schema.json" for n in names)
    assert printed == [str(tmp_path / "out" / f) for f in files]
    for name in names:
        schema = json.loads((tmp_path / "out" / f"{name}.schema.json").read_text())
        assert schema["title"] == name
        assert schema["type"] == "object"
        assert schema.get("additionalProperties") is False


def test_exported_schemas_accept_good_and_reject_bad_documents(tmp_path, capsys):
    jsonschema = pytest.importorskip("jsonschema")  # present in .venv (via ray); not a declared dependency
    models = document_models()
    _export(tmp_path, capsys)
    for name, doc in example_documents().items():
        model = models[name]
        schema = json.loads((tmp_path / "out" / f"{name}.schema.json").read_text())
        validator = jsonschema.Draft202012Validator(schema)
        validator.check_schema(schema)
        dumped = load_document(model, copy.deepcopy(doc)).model_dump(mode="json")
        assert not list(validator.iter_errors(dumped)), model.__name__
        assert list(validator.iter_errors({**dumped, "unexpected": 1})), model.__name__
    header = json.loads((tmp_path / "out" / "CheckpointHeader.schema.json").read_text())
    bad = dict(example_documents()["CheckpointHeader"], content_hash="ABC")
    assert list(jsonschema.Draft202012Validator(header).iter_errors(bad))


def test_show_and_list(capsys):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    schema_cmd.register(sub)
    args = parser.parse_args(["schema"])
    assert args.func(args) == 0
    assert EXPECTED <= set(capsys.readouterr().out.split())
    args = parser.parse_args(["schema", "--show", "RoundRecord"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "RoundRecord"
    with pytest.raises(InputError):
        schema_cmd.run(parser.parse_args(["schema", "--show", "Nope"]))
