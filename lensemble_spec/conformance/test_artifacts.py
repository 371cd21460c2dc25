"""RFC-0010 §2–§4, §7, §8 through the artifacts part: checkpoints saved, hashed, tampered, reloaded.

The harness saves small synthetic checkpoints with ``artifacts_part.save_checkpoint``, reads the
files back *by hand* (its own safetensors parser and the RFC-0010 §3 hash in
:mod:`conformance._bytes`), then hands ``load_checkpoint`` directories it has tampered with. The
defects: a content hash that leaves out the dtype (or any other field), a loader that trusts the
header instead of recomputing, pickle files deserialised, paths that escape the checkpoint,
unbounded or lax JSON parsing, and a schema version that is guessed at instead of refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from lensemble_spec.errors import (
    ArtifactError,
    CheckpointIntegrityError,
    PathEscape,
    ResidencyViolation,
    SchemaVersionMismatch,
)
from lensemble_spec.schemas import CheckpointHeader

from . import _assertions as check
from . import _bytes as byteio
from . import bounds
from ._expect import raises

CONFIG_HASH = hashlib.sha256(b"conformance-harness-config").hexdigest()
PARENT_HASH = hashlib.sha256(b"conformance-harness-parent").hexdigest()
ROUND = 3


def sample_params() -> dict[str, np.ndarray]:
    """The shared fixture: float32 only (every checkpoint writer stores float32), several ranks.

    Dtype coverage is its own check (``test_every_allowed_dtype_round_trips_or_is_refused``), so
    no other requirement depends on a writer storing more than float32.
    """
    rng = np.random.default_rng(0)
    return {
        "encoder.conv.weight": rng.standard_normal((4, 3, 2)).astype(np.float32),
        "encoder.norm.bias": rng.standard_normal(5).astype(np.float32),
        "predictor.out.weight": rng.standard_normal((3, 2)).astype(np.float32),
        "predictor.steps": np.arange(6, dtype=np.float32).reshape(2, 3),
        "predictor.scalar": np.array(2.5, dtype=np.float32),
    }


#: One small array per dtype of RFC-0010's allowed list that numpy represents (bfloat16 has its
#: own check).
DTYPE_SAMPLES = {
    "bool": np.array([[True, False], [False, True]]),
    "float16": np.array([1.5, -2.25, 65504.0], dtype=np.float16),
    "float32": np.array([1.5, -2.25, 3.0e38], dtype=np.float32),
    "float64": np.array([1.5, -2.25, 1e300], dtype=np.float64),
    "int32": np.array([3, -1, 2**31 - 1], dtype=np.int32),
    "int64": np.arange(6, dtype=np.int64).reshape(2, 3),
    "uint8": np.array([0, 255, 7], dtype=np.uint8),
}


def declared_dtypes(artifacts_part) -> frozenset[str] | None:
    """The dtypes the part says it stores (``dtypes`` attribute), or None when it declares none."""
    dtypes = getattr(artifacts_part, "dtypes", None)
    return None if dtypes is None else frozenset(str(d) for d in dtypes)


def save(artifacts_part, params, directory: Path, **kw) -> str:
    args = {"round_index": ROUND, "parent_hash": PARENT_HASH, "config_hash": CONFIG_HASH, **kw}
    return artifacts_part.save_checkpoint(params, directory, **args)


@pytest.fixture
def saved(artifacts_part, tmp_path):
    directory = tmp_path / "ckpt"
    returned = save(artifacts_part, sample_params(), directory)
    return directory, returned


def read_header(directory: Path) -> dict:
    return json.loads((directory / "header.json").read_bytes())


def read_tensors(directory: Path) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    out: dict[str, tuple[str, tuple[int, ...], bytes]] = {}
    for wf in read_header(directory)["weight_files"]:
        out.update(byteio.read_safetensors_raw((directory / wf).read_bytes()))
    return out


def hash_of(directory: Path, **override) -> str:
    h = {**read_header(directory), **override}
    return byteio.content_hash(
        read_tensors(directory),
        schema_version=h["schema_version"],
        round_index=h["round_index"],
        parent_hash=h["parent_hash"],
        config_hash=h["config_hash"],
    )


def write_header(directory: Path, header: dict, *, raw: bytes | None = None) -> None:
    (directory / "header.json").write_bytes(raw if raw is not None else json.dumps(header, indent=1).encode())


def rewrite_tensors(directory: Path, tensors: dict, *, fix_manifest: bool = True) -> None:
    """Replace the weights by ``tensors`` (one file) and describe them in the header's manifest."""
    header = read_header(directory)
    for wf in header["weight_files"]:
        (directory / wf).unlink()
    (directory / "weights.safetensors").write_bytes(byteio.write_safetensors_raw(tensors))
    header["weight_files"] = ["weights.safetensors"]
    if fix_manifest:
        header["tensor_manifest"] = [
            {"name": n, "dtype": tensors[n][0], "shape": list(tensors[n][1])} for n in sorted(tensors)
        ]
    write_header(directory, header)


# --- §2 the directory ------------------------------------------------------------------------------
@pytest.mark.requirement("ART-001")
def test_checkpoint_is_header_and_listed_weight_files_only(saved):
    directory, _ = saved
    header = read_header(directory)
    assert sorted(p.name for p in directory.iterdir()) == sorted(["header.json", *header["weight_files"]])


@pytest.mark.requirement("ART-003")
def test_weight_files_are_safetensors(saved):
    directory, _ = saved
    for wf in read_header(directory)["weight_files"]:
        assert wf.endswith(".safetensors"), f"weight file {wf!r}"
        byteio.read_safetensors_raw((directory / wf).read_bytes())  # raises if not safetensors


class _Tripwire:
    """Unpickling this creates the file it names: proof that a loader deserialised a pickle."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.mark.requirement("ART-003")
@pytest.mark.parametrize("suffix", [".pt", ".bin", ".pkl", ".ckpt"])
@pytest.mark.parametrize("how", ["stray-file", "listed-weight-file"])
def test_loader_refuses_pickle_files_unread(artifacts_part, saved, tmp_path, suffix, how):
    directory, _ = saved
    marker = tmp_path / "unpickled.marker"
    payload = pickle.dumps({"encoder.conv.weight": _Tripwire(marker)})
    if how == "stray-file":
        (directory / f"extra{suffix}").write_bytes(payload)
    else:
        header = read_header(directory)
        for wf in header["weight_files"]:
            (directory / wf).unlink()
        (directory / f"weights{suffix}").write_bytes(payload)
        header["weight_files"] = [f"weights{suffix}"]
        write_header(directory, header)
    with raises(CheckpointIntegrityError):
        artifacts_part.load_checkpoint(directory)
    assert not marker.exists(), "the loader deserialised a pickle file"


@pytest.mark.requirement("ART-004")
def test_header_validates_and_describes_the_stored_tensors(saved):
    directory, _ = saved
    header = CheckpointHeader.model_validate(read_header(directory))
    assert header.schema_version == 1
    stored = read_tensors(directory)
    manifest = [(t.name, t.dtype, tuple(t.shape)) for t in header.tensor_manifest]
    assert [m[0] for m in manifest] == sorted(stored, key=lambda n: n.encode()), (
        "tensor_manifest is not the sorted list of stored tensors"
    )
    for name, dtype, shape in manifest:
        assert (dtype, shape) == stored[name][:2], (
            f"{name}: manifest says {dtype}{shape}, file holds {stored[name][:2]}"
        )


@pytest.mark.requirement("ART-005")
@pytest.mark.parametrize("dtype", ["int16", "int8", "uint16", "uint32", "complex64"])
def test_disallowed_dtype_is_refused(artifacts_part, tmp_path, dtype):
    params = dict(sample_params(), **{"predictor.bad": np.zeros(3, dtype=dtype)})
    with raises(ArtifactError):
        save(artifacts_part, params, tmp_path / "ckpt")


@pytest.mark.requirement("ART-006")
@pytest.mark.parametrize("name", ["action_head.weight", "head.bias", "encoderx.weight"])
def test_non_shared_tensor_is_a_residency_violation(artifacts_part, tmp_path, name):
    params = dict(sample_params(), **{name: np.zeros(3, dtype=np.float32)})
    with raises(ResidencyViolation):
        save(artifacts_part, params, tmp_path / "ckpt")


# --- §3 content hash ------------------------------------------------------------------------------------
@pytest.mark.requirement("ART-007")
def test_content_hash_recomputes_from_the_files(saved):
    directory, _ = saved
    header = read_header(directory)
    assert (
        header["round_index"] == ROUND and header["parent_hash"] == PARENT_HASH and header["config_hash"] == CONFIG_HASH
    )
    assert header["content_hash"] == hash_of(directory), "header.content_hash is not the RFC-0010 §3 hash of the files"


@pytest.mark.requirement("ART-007")
def test_content_hash_of_a_first_checkpoint(artifacts_part, tmp_path):
    directory = tmp_path / "first"
    save(artifacts_part, sample_params(), directory, round_index=0, parent_hash=None)
    assert read_header(directory)["parent_hash"] is None
    assert read_header(directory)["content_hash"] == hash_of(directory)


@pytest.mark.requirement("ART-008")
def test_save_returns_the_written_hash(saved):
    directory, returned = saved
    assert returned == read_header(directory)["content_hash"]


def _flip_byte(d: Path) -> None:
    tensors = read_tensors(d)
    dtype, shape, data = tensors["encoder.conv.weight"]
    tensors["encoder.conv.weight"] = (dtype, shape, data[:-1] + bytes([data[-1] ^ 0x01]))
    rewrite_tensors(d, tensors)


def _rename(d: Path) -> None:
    tensors = read_tensors(d)
    tensors["encoder.conv.weights"] = tensors.pop("encoder.conv.weight")
    rewrite_tensors(d, tensors)


def _retype(d: Path) -> None:
    tensors = read_tensors(d)
    _dtype, shape, data = tensors["encoder.conv.weight"]
    tensors["encoder.conv.weight"] = ("int32", shape, data)  # same bytes, another dtype
    rewrite_tensors(d, tensors)


def _reshape(d: Path) -> None:
    tensors = read_tensors(d)
    dtype, _shape, data = tensors["encoder.conv.weight"]
    tensors["encoder.conv.weight"] = (dtype, (3, 4, 2), data)
    rewrite_tensors(d, tensors)


def _header_field(field: str, value):
    def tamper(d: Path) -> None:
        header = read_header(d)
        header[field] = value
        write_header(d, header)

    return tamper


TAMPERS = {
    "flipped-byte": _flip_byte,
    "renamed-tensor": _rename,
    "changed-dtype": _retype,
    "changed-shape": _reshape,
    "round-index": _header_field("round_index", ROUND + 1),
    "parent-hash": _header_field("parent_hash", hashlib.sha256(b"another parent").hexdigest()),
    "no-parent": _header_field("parent_hash", None),
    "config-hash": _header_field("config_hash", hashlib.sha256(b"another config").hexdigest()),
}


@pytest.mark.requirement("ART-009")
@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_loader_detects_tampering(artifacts_part, saved, tamper):
    directory, _ = saved
    TAMPERS[tamper](directory)
    with raises(CheckpointIntegrityError):
        artifacts_part.load_checkpoint(directory)


@pytest.mark.requirement("ART-010")
def test_round_trip_is_exact(artifacts_part, saved):
    directory, _ = saved
    loaded = artifacts_part.load_checkpoint(directory)
    expected = sample_params()
    assert set(loaded) == set(expected)
    for name, value in expected.items():
        got = check.as_array(loaded[name])
        assert got.shape == value.shape and got.dtype == value.dtype, (
            f"{name}: {got.dtype}{got.shape} != {value.dtype}{value.shape}"
        )
        assert check.bitwise_equal(got, value), f"{name}: values changed on the round trip"


@pytest.mark.requirement("ART-010")
@pytest.mark.parametrize("dtype", sorted(DTYPE_SAMPLES))
def test_every_allowed_dtype_round_trips_or_is_refused(artifacts_part, tmp_path, dtype):
    """Dtype coverage: an allowed dtype is stored bitwise, or refused with ArtifactError leaving
    nothing behind — refusal is a failure only for a dtype the part declares in ``dtypes``."""
    value = DTYPE_SAMPLES[dtype]
    declared = declared_dtypes(artifacts_part)
    directory = tmp_path / "ckpt"
    params = {"encoder.w": np.zeros(3, dtype=np.float32), "predictor.x": value}
    try:
        save(artifacts_part, params, directory)
    except ArtifactError as exc:
        assert declared is not None and dtype not in declared, (
            f"expected a {dtype} tensor stored (the part declares dtypes "
            f"{sorted(declared) if declared else 'none: every allowed dtype'}); "
            f"got ArtifactError: {exc}"
        )
        assert not directory.exists(), f"a refused {dtype} save left {directory.name} behind"
        return
    got = check.as_array(artifacts_part.load_checkpoint(directory)["predictor.x"])
    assert got.dtype == value.dtype and got.shape == value.shape and check.bitwise_equal(got, value), (
        f"expected the {dtype} tensor {value.tolist()} back bitwise; got {got.dtype}{got.shape} {got.tolist()}"
    )


@pytest.mark.requirement("ART-010")
def test_bfloat16_round_trip_is_value_exact(artifacts_part, tmp_path):
    """bfloat16 has no numpy dtype: a torch tensor is passed, and only to a part declaring it."""
    declared = declared_dtypes(artifacts_part)
    if declared is None or "bfloat16" not in declared:
        pytest.skip("the artifacts part does not declare bfloat16 in `dtypes` (bfloat16 reaches only parts that do)")
    torch = pytest.importorskip("torch")
    values = torch.tensor([1.0, -2.5, 3.140625, 1e-3, 65280.0], dtype=torch.bfloat16)
    directory = tmp_path / "bf16"
    save(artifacts_part, {"encoder.half": values}, directory)
    assert read_tensors(directory)["encoder.half"][0] == "bfloat16"
    got = np.asarray(check.as_array(artifacts_part.load_checkpoint(directory)["encoder.half"]), dtype=np.float64)
    assert np.array_equal(got, values.float().numpy().astype(np.float64)), (
        f"expected {values.float().tolist()}; got {got.tolist()}"
    )


# --- §4 writing ------------------------------------------------------------------------------------------
@pytest.mark.requirement("ART-011")
def test_save_leaves_only_the_checkpoint_behind(artifacts_part, tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "keep.txt").write_text("unrelated")
    save(artifacts_part, sample_params(), parent / "ckpt")
    assert sorted(p.name for p in parent.iterdir()) == ["ckpt", "keep.txt"]


@pytest.mark.requirement("ART-011")
@pytest.mark.parametrize("bad", ["dtype", "residency"])
def test_failed_save_leaves_nothing_behind(artifacts_part, tmp_path, bad):
    parent = tmp_path / "parent"
    parent.mkdir()
    extra = (
        {"predictor.bad": np.zeros(3, dtype=np.int16)}
        if bad == "dtype"
        else {"action_head.w": np.zeros(3, dtype=np.float32)}
    )
    with raises(Exception):
        save(artifacts_part, dict(sample_params(), **extra), parent / "ckpt")
    assert sorted(p.name for p in parent.iterdir()) == [], (
        f"a failed save left {sorted(p.name for p in parent.iterdir())}"
    )


@pytest.mark.requirement("ART-012")
@pytest.mark.parametrize("existing", ["empty-dir", "checkpoint"])
def test_existing_directory_is_never_overwritten(artifacts_part, tmp_path, existing):
    directory = tmp_path / "ckpt"
    if existing == "empty-dir":
        directory.mkdir()
    else:
        save(artifacts_part, sample_params(), directory)
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    other = {k: v + 1 for k, v in sample_params().items()}
    with raises(ArtifactError):
        save(artifacts_part, other, directory)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before


# --- §7 untrusted input -------------------------------------------------------------------------------------
@pytest.mark.requirement("ART-026")
@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_paths_escaping_the_checkpoint_are_refused(artifacts_part, saved, tmp_path, how):
    directory, _ = saved
    header = read_header(directory)
    (wf,) = header["weight_files"] if len(header["weight_files"]) == 1 else (None,)
    if wf is None:
        pytest.skip("multi-file checkpoint: the escape cases are built for one weight file")
    outside = tmp_path / "outside.safetensors"
    shutil.move(directory / wf, outside)
    if how == "symlink":
        os.symlink(outside, directory / wf)
    else:
        header["weight_files"] = ["../outside.safetensors" if how == "dotdot" else str(outside)]
        write_header(directory, header)
    with raises(PathEscape):
        artifacts_part.load_checkpoint(directory)


@pytest.mark.requirement("ART-027")
def test_oversized_header_is_refused_unread(artifacts_part, saved):
    directory, _ = saved
    raw = (directory / "header.json").read_bytes()
    write_header(directory, {}, raw=raw + b" " * (bounds.MAX_JSON_BYTES + 1 - len(raw)))
    with raises(ArtifactError):
        artifacts_part.load_checkpoint(directory)


@pytest.mark.requirement("ART-027")
@pytest.mark.parametrize("depth", [bounds.MAX_JSON_DEPTH + 1, 200_000])
def test_deeply_nested_header_is_refused(artifacts_part, saved, depth):
    directory, _ = saved
    raw = (directory / "header.json").read_bytes().rstrip()
    assert raw.endswith(b"}")
    nested = b"[" * depth + b"]" * depth
    write_header(directory, {}, raw=raw[:-1] + b', "padding": ' + nested + b"}")
    with raises(ArtifactError):
        artifacts_part.load_checkpoint(directory)


@pytest.mark.requirement("ART-028")
def test_repeated_key_is_refused(artifacts_part, saved):
    directory, _ = saved
    raw = (directory / "header.json").read_bytes().strip()
    # an earlier, wrong round_index: a parser that keeps the last value would load happily
    write_header(directory, {}, raw=b'{"round_index": 999, ' + raw[1:])
    with raises(ArtifactError):
        artifacts_part.load_checkpoint(directory)


@pytest.mark.requirement("ART-028")
@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_literal_is_refused(artifacts_part, saved, literal):
    directory, _ = saved
    raw = (directory / "header.json").read_bytes().strip()
    write_header(directory, {}, raw=b'{"padding": ' + literal + b", " + raw[1:])
    with raises(ArtifactError):
        artifacts_part.load_checkpoint(directory)


# --- §8 schema versions ---------------------------------------------------------------------------------------
@pytest.mark.requirement("ART-029")
@pytest.mark.parametrize("version", [2, 99, 0, -1, "1", True, 1.0], ids=["2", "99", "0", "-1", "str", "bool", "float"])
def test_unsupported_schema_version_is_refused(artifacts_part, saved, version):
    directory, _ = saved
    header = read_header(directory)
    header["schema_version"] = version
    header["content_hash"] = hash_of(directory, schema_version=version)  # only the version is wrong
    write_header(directory, header)
    with raises(SchemaVersionMismatch):
        artifacts_part.load_checkpoint(directory)
