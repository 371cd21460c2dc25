"""Checkpoint save/load: round trips, tamper detection, format refusal, atomicity, confinement.

Defects caught: a loader that skips the hash or the manifest check, accepts pickle, follows a
weight path out of the directory, overwrites an existing checkpoint, or leaves a half-written
directory behind when a write fails; bf16 lost or mis-hashed.
"""

from __future__ import annotations

import json
import os
import pickle
import struct

import numpy as np
import pytest

from lensemble_spec.artifacts import checkpoint as ckpt
from lensemble_spec.artifacts import config_hash, content_hash
from lensemble_spec.artifacts.checkpoint import load_checkpoint, save_checkpoint
from lensemble_spec.errors import ArtifactError, CheckpointIntegrityError, PathEscape, SchemaVersionMismatch
from lensemble_spec.schemas import CheckpointHeader

CFG = config_hash({"rounds": 2, "lr": 0.1})
PRODUCER = {"name": "tests", "version": "0"}


def _params():
    rng = np.random.default_rng(0)
    return {
        "encoder.w": rng.standard_normal((4, 3)).astype(np.float32),
        "encoder.b": rng.standard_normal(3).astype(np.float64),
        "predictor.h": rng.standard_normal((2, 2)).astype(np.float16),
        "predictor.steps": np.array(7, dtype=np.int64),
        "idx": np.array([1, 2, 3], dtype=np.int32),
        "pix": np.array([0, 255], dtype=np.uint8),
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 2), np.float32),
    }


def _save(tmp_path, name="ck", params=None, **kw):
    args = {"round_index": 1, "parent_hash": "ab" * 32, "config_hash": CFG, "producer": PRODUCER}
    args.update(kw)
    return save_checkpoint(params if params is not None else _params(), tmp_path / name, **args)


def test_round_trip_preserves_values_dtypes_and_header(tmp_path):
    params = _params()
    header = _save(tmp_path, params=params)
    assert sorted(os.listdir(tmp_path / "ck")) == ["header.json", "weights.safetensors"]
    loaded, read_header = load_checkpoint(tmp_path / "ck")
    assert read_header == header
    assert list(loaded) == sorted(params)
    for name, value in params.items():
        assert loaded[name].dtype == value.dtype and loaded[name].shape == value.shape
        np.testing.assert_array_equal(loaded[name], value)
    assert header.content_hash == content_hash(
        params, schema_version=1, round_index=1, parent_hash="ab" * 32, config_hash=CFG
    )
    assert [t.name for t in header.tensor_manifest] == sorted(params)
    assert header.weight_files == ["weights.safetensors"]


def test_bfloat16_round_trip(tmp_path):
    torch = pytest.importorskip("torch")
    w = torch.randn(5, 3, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    params = {"encoder.w": w, "encoder.b": np.ones(3, np.float32)}
    header = _save(tmp_path, params=params)
    loaded, read_header = load_checkpoint(tmp_path / "ck")
    assert {t.name: t.dtype for t in read_header.tensor_manifest} == {"encoder.b": "float32", "encoder.w": "bfloat16"}
    assert loaded["encoder.w"].dtype == np.float32  # documented widening
    np.testing.assert_array_equal(loaded["encoder.w"], w.float().numpy())
    assert header.content_hash == content_hash(
        params, schema_version=1, round_index=1, parent_hash="ab" * 32, config_hash=CFG
    )
    # the stored bytes are the bf16 patterns, not float32
    assert read_header.content_hash != content_hash(
        {"encoder.w": w.float(), "encoder.b": params["encoder.b"]},
        schema_version=1,
        round_index=1,
        parent_hash="ab" * 32,
        config_hash=CFG,
    )


def test_existing_target_is_refused_and_untouched(tmp_path):
    _save(tmp_path)
    before = (tmp_path / "ck" / "header.json").read_bytes()
    with pytest.raises(ArtifactError):
        _save(tmp_path, params={"w": np.zeros(1, np.float32)})
    assert (tmp_path / "ck" / "header.json").read_bytes() == before


def _data_offset(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return raw, 8 + n


def test_flipped_byte_in_tensor_data_is_detected(tmp_path):
    _save(tmp_path)
    path = tmp_path / "ck" / "weights.safetensors"
    raw, start = _data_offset(path)
    for pos in (start, start + (len(raw) - start) // 2, len(raw) - 1):
        tampered = bytearray(raw)
        tampered[pos] ^= 0x40
        path.write_bytes(bytes(tampered))
        with pytest.raises(CheckpointIntegrityError):
            load_checkpoint(tmp_path / "ck")
    path.write_bytes(raw)
    load_checkpoint(tmp_path / "ck")  # restored file verifies again


def test_truncated_or_garbled_weights_are_detected(tmp_path):
    _save(tmp_path)
    path = tmp_path / "ck" / "weights.safetensors"
    raw, _ = _data_offset(path)
    path.write_bytes(raw[:-4])
    with pytest.raises(CheckpointIntegrityError):
        load_checkpoint(tmp_path / "ck")
    path.write_bytes(b"\x00" * 3)
    with pytest.raises(CheckpointIntegrityError):
        load_checkpoint(tmp_path / "ck")


def _edit_header(dirpath, **changes):
    path = dirpath / "header.json"
    doc = json.loads(path.read_text())
    for key, value in changes.items():
        if callable(value):
            value(doc)
        else:
            doc[key] = value
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "changes",
    [
        {"round_index": 2},
        {"parent_hash": None},
        {"config_hash": "0" * 64},
        {"content_hash": "0" * 64},
    ],
    ids=["round_index", "parent_hash", "config_hash", "content_hash"],
)
def test_edited_hashed_header_fields_fail_the_hash(tmp_path, changes):
    _save(tmp_path)
    _edit_header(tmp_path / "ck", **changes)
    with pytest.raises(CheckpointIntegrityError):
        load_checkpoint(tmp_path / "ck")


def test_edited_manifest_is_detected(tmp_path):
    _save(tmp_path)

    def set_dtype(doc):
        doc["tensor_manifest"][0]["dtype"] = "float64" if doc["tensor_manifest"][0]["dtype"] != "float64" else "float32"

    _edit_header(tmp_path / "ck", t=set_dtype)
    with pytest.raises(CheckpointIntegrityError, match="manifest says"):
        load_checkpoint(tmp_path / "ck")


def test_dropped_manifest_entry_is_detected(tmp_path):
    _save(tmp_path)
    _edit_header(tmp_path / "ck", t=lambda doc: doc["tensor_manifest"].pop())
    with pytest.raises(CheckpointIntegrityError, match="differ"):
        load_checkpoint(tmp_path / "ck")


@pytest.mark.parametrize("changes, error, match", [
    pytest.param({"schema_version": 2}, SchemaVersionMismatch, None, id="newer-schema-version"),
    pytest.param({"content_hash": "ABC"}, ArtifactError, "content_hash", id="malformed-content-hash"),
    pytest.param({"extra": "x"}, ArtifactError, "extra", id="extra-field"),
])  # fmt: skip
def test_malformed_or_newer_header_is_a_typed_error(tmp_path, changes, error, match):
    _save(tmp_path)
    _edit_header(tmp_path / "ck", **changes)
    with pytest.raises(error, match=match) as info:
        load_checkpoint(tmp_path / "ck")
    assert type(info.value) is error


def test_created_at_is_not_hashed(tmp_path):
    _save(tmp_path)
    _edit_header(tmp_path / "ck", created_at="2020-01-01T00:00:00Z")
    assert load_checkpoint(tmp_path / "ck")[1].created_at == "2020-01-01T00:00:00Z"


class _Evil:
    def __reduce__(self):  # would run on unpickling
        return (os.system, ("echo pwned",))


def test_pickle_files_are_refused(tmp_path):
    _save(tmp_path)
    d = tmp_path / "ck"
    (d / "model.pt").write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(CheckpointIntegrityError, match="pickle"):
        load_checkpoint(d)
    (d / "model.pt").unlink()
    # a pickle renamed to weights.safetensors is not decodable
    (d / "weights.safetensors").write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointIntegrityError):
        load_checkpoint(d)


def test_non_safetensors_weight_file_is_refused(tmp_path):
    _save(tmp_path)
    d = tmp_path / "ck"
    os.replace(d / "weights.safetensors", d / "weights.data")
    _edit_header(d, weight_files=["weights.data"])
    with pytest.raises(CheckpointIntegrityError, match="safetensors"):
        load_checkpoint(d)


def test_pickle_only_directory_is_refused(tmp_path):
    d = tmp_path / "hf"
    d.mkdir()
    (d / "pytorch_model.bin").write_bytes(pickle.dumps({"w": [1.0]}))
    with pytest.raises(CheckpointIntegrityError):
        load_checkpoint(d)


@pytest.mark.parametrize("damage, error, match", [
    pytest.param(lambda d: (d / "notes.txt").write_text("hi"), CheckpointIntegrityError, "unexpected", id="stray-file"),
    pytest.param(lambda d: (d / "weights.safetensors").unlink(), CheckpointIntegrityError, None, id="missing-weights"),
    pytest.param(lambda d: (d / "header.json").unlink(), ArtifactError, None, id="missing-header"),
])  # fmt: skip
def test_stray_and_missing_files(tmp_path, damage, error, match):
    _save(tmp_path)
    damage(tmp_path / "ck")
    with pytest.raises(error, match=match):
        load_checkpoint(tmp_path / "ck")


def _escape_by_symlink(d, outside):
    os.symlink(outside, d / "weights.safetensors")


@pytest.mark.parametrize("escape", [
    pytest.param(lambda d, outside: _edit_header(d, weight_files=["../outside.safetensors"]), id="relative-path"),
    pytest.param(lambda d, outside: _edit_header(d, weight_files=[str(outside)]), id="absolute-path"),
    pytest.param(_escape_by_symlink, id="symlink"),
])  # fmt: skip
def test_weight_files_must_stay_inside(tmp_path, escape):
    _save(tmp_path)
    d = tmp_path / "ck"
    outside = tmp_path / "outside.safetensors"
    os.replace(d / "weights.safetensors", outside)
    escape(d, outside)
    with pytest.raises(PathEscape):
        load_checkpoint(d)


def _assert_nothing_left(parent):
    assert os.listdir(parent) == [], os.listdir(parent)


def test_failed_write_leaves_no_directory(tmp_path, monkeypatch):
    parent = tmp_path / "runs"
    parent.mkdir()
    calls = []
    real = ckpt._write_file

    def failing_write(path, data):
        calls.append(path.name)
        if path.name == ckpt.HEADER_FILE:  # weights already on disk in the temp dir
            with open(path, "wb") as fh:
                fh.write(data[:5])
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(ckpt, "_write_file", failing_write)
    with pytest.raises(ArtifactError, match="No space"):
        _save(parent, name="ck")
    assert calls == [ckpt.WEIGHTS_FILE, ckpt.HEADER_FILE]
    _assert_nothing_left(parent)


class _FailingTensor:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("device lost")


@pytest.mark.parametrize("bad", [_FailingTensor(), np.zeros(2, np.complex64)], ids=["raises", "complex"])
def test_failing_tensor_leaves_no_directory(tmp_path, bad):
    parent = tmp_path / "runs"
    parent.mkdir()
    params = {**_params(), "zz.bad": bad}
    with pytest.raises(ArtifactError):
        _save(parent, params=params)
    _assert_nothing_left(parent)


@pytest.mark.parametrize(
    "kw",
    [
        {"params": {}},
        {"params": {"__metadata__": np.ones(1, np.float32)}},
        {"config_hash": "xyz"},
        {"parent_hash": "ab" * 16},
        {"round_index": -1},
        {"producer": {"name": "x"}},
    ],
    ids=["empty", "reserved-name", "config-hash", "parent-hash", "round", "producer"],
)
def test_bad_arguments_raise_before_writing(tmp_path, kw):
    parent = tmp_path / "runs"
    parent.mkdir()
    with pytest.raises(ArtifactError):
        _save(parent, **kw)
    _assert_nothing_left(parent)


def test_loaded_header_is_the_schema_model(tmp_path):
    _save(tmp_path)
    header = CheckpointHeader.model_validate_json((tmp_path / "ck" / "header.json").read_text())
    assert header == load_checkpoint(tmp_path / "ck")[1]
