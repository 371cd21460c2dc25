"""content_hash / probe_hash: byte layout checked against an independent struct-only implementation.

Defects caught: a hash that depends on dict order, ignores dtype or shape (upstream framed no
byte count and only three dtypes), misses a flipped byte, omits round/parent/config from the
hashed header, or is ambiguous at tensor boundaries.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lensemble_spec.artifacts import content_hash, probe_hash
from lensemble_spec.errors import ArtifactError, ProbeError

CFG = "c" * 64
PARENT = "ab" * 32


# --- an independent implementation: struct + hashlib only, values given as Python lists ------
def _ref_frame(dtype: str, shape: list[int], payload: bytes) -> bytes:
    out = struct.pack("<B", len(dtype)) + dtype.encode() + struct.pack("<I", len(shape))
    for d in shape:
        out += struct.pack("<Q", d)
    return out + struct.pack("<Q", len(payload)) + payload


def _ref_payload(dtype: str, values: list) -> bytes:
    fmt = {"float32": "f", "float64": "d", "float16": "e", "int64": "q", "int32": "i", "uint8": "B"}
    if dtype == "bool":
        return bytes(1 if v else 0 for v in values)
    if dtype == "bfloat16":  # top 16 bits of the float32 pattern (values chosen bf16-exact)
        return b"".join(struct.pack("<H", struct.unpack("<I", struct.pack("<f", v))[0] >> 16) for v in values)
    return struct.pack(f"<{len(values)}{fmt[dtype]}", *values)


def _ref_content_hash(tensors: dict, *, schema_version: int, round_index: int, parent: str | None, cfg: str) -> str:
    h = hashlib.sha256(b"lensemble-spec/checkpoint/v1\x00")
    for name in sorted(tensors, key=lambda n: n.encode("utf-8")):
        dtype, shape, values = tensors[name]
        nb = name.encode("utf-8")
        h.update(struct.pack("<I", len(nb)) + nb + _ref_frame(dtype, shape, _ref_payload(dtype, values)))
    j = '{"config_hash":"%s","parent_hash":"%s","round_index":%d,"schema_version":%d}' % (  # noqa: UP031 (by hand, not as the library writes it)
        cfg,
        parent or "",
        round_index,
        schema_version,
    )
    h.update(b"\x00header\x00" + struct.pack("<I", len(j)) + j.encode("ascii"))
    return h.hexdigest()


def _np(dtype: str, shape: list[int], values: list) -> np.ndarray:
    return np.array(values, dtype={"bool": bool}.get(dtype, dtype)).reshape(shape)


GOLDEN = {
    "encoder.w": ("float32", [2, 3], [0.5, -1.0, 2.25, 3.0, 1e-3, -0.0]),
    "predictor.b": ("float64", [3], [1.0, 2.0, -3.5]),
    "counts": ("int64", [2], [7, -9]),
    "idx": ("int32", [1, 2], [1, 2]),
    "pix": ("uint8", [4], [0, 1, 254, 255]),
    "mask": ("bool", [3], [True, False, True]),
    "half": ("float16", [2], [0.5, 65504.0]),
    "scalar": ("float32", [], [4.0]),
    "empty": ("float32", [0, 3], []),
    "ünï": ("float32", [1], [1.0]),
}


def test_golden_matches_independent_implementation():
    arrays = {n: _np(d, s, v) for n, (d, s, v) in GOLDEN.items()}
    for parent in (None, PARENT):
        ours = content_hash(arrays, schema_version=1, round_index=3, parent_hash=parent, config_hash=CFG)
        ref = _ref_content_hash(GOLDEN, schema_version=1, round_index=3, parent=parent, cfg=CFG)
        assert ours == ref


def test_frozen_vector():
    # Locks the v1 layout: if this changes, every published checkpoint hash changes.
    tensors = {"w": np.array([1.0, 2.0], dtype=np.float32)}
    digest = content_hash(tensors, schema_version=1, round_index=0, parent_hash=None, config_hash=CFG)
    assert digest == _ref_content_hash(
        {"w": ("float32", [2], [1.0, 2.0])}, schema_version=1, round_index=0, parent=None, cfg=CFG
    )
    assert digest == FROZEN_W


FROZEN_W = "55edbab463cae7edc7da8c4664d9e2e8ab24ee686f4011d0860fc48e90558fd7"


def test_bfloat16_hashed_as_raw_bits():
    torch = pytest.importorskip("torch")
    values = [1.0, -2.5, 0.15625, 3.0e38]
    bf = torch.tensor(values, dtype=torch.float32).to(torch.bfloat16)
    exact = bf.float().tolist()  # bf16-representable values
    ours = content_hash({"w": bf}, schema_version=1, round_index=0, parent_hash=None, config_hash=CFG)
    ref = _ref_content_hash({"w": ("bfloat16", [4], exact)}, schema_version=1, round_index=0, parent=None, cfg=CFG)
    assert ours == ref
    # same values in float32 are a different tensor
    assert ours != content_hash({"w": bf.float()}, schema_version=1, round_index=0, parent_hash=None, config_hash=CFG)


def test_torch_and_numpy_inputs_agree():
    torch = pytest.importorskip("torch")
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    kw = {"schema_version": 1, "round_index": 1, "parent_hash": PARENT, "config_hash": CFG}
    t = torch.from_numpy(arr.copy()).requires_grad_(True)
    assert content_hash({"a": arr}, **kw) == content_hash({"a": t}, **kw)
    assert content_hash({"m": np.array([True, False])}, **kw) == content_hash({"m": torch.tensor([True, False])}, **kw)


def _h(tensors, **over):
    kw = {"schema_version": 1, "round_index": 2, "parent_hash": PARENT, "config_hash": CFG}
    kw.update(over)
    return content_hash(tensors, **kw)


def test_key_order_does_not_matter():
    a, b = np.ones(3, np.float32), np.zeros(2, np.float32)
    assert _h({"a": a, "b": b}) == _h({"b": b, "a": a})


def test_dtype_shape_bytes_and_name_all_matter():
    x = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    base = _h({"w": x})
    assert _h({"w": x.astype(np.float64)}) != base  # same values, other dtype
    assert _h({"w": x.reshape(2, 2)}) != base  # same bytes, other shape
    assert _h({"v": x}) != base  # other name
    flipped = bytearray(x.tobytes())
    flipped[5] ^= 0x01
    assert _h({"w": np.frombuffer(bytes(flipped), dtype=np.float32)}) != base


def test_header_fields_all_matter():
    t = {"w": np.ones(2, np.float32)}
    base = _h(t)
    assert _h(t, round_index=3) != base
    assert _h(t, parent_hash=None) != base
    assert _h(t, parent_hash="cd" * 32) != base
    assert _h(t, config_hash="d" * 64) != base
    assert _h(t, schema_version=2) != base


def test_tensor_boundaries_are_framed():
    # identical concatenated data, different split between tensors
    one = {"a": np.array([], np.float32), "b": np.array([1.0, 2.0], np.float32)}
    two = {"a": np.array([1.0], np.float32), "b": np.array([2.0], np.float32)}
    assert _h(one) != _h(two)


def test_byte_order_and_layout_are_normalised():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert _h({"w": x}) == _h({"w": x.astype(">f4")})
    assert _h({"w": x.T}) == _h({"w": np.ascontiguousarray(x.T)})
    # a bool view of arbitrary bytes hashes as canonical 0/1
    assert _h({"m": np.array([0, 2, 1], np.uint8).view(bool)}) == _h({"m": np.array([False, True, True])})


@pytest.mark.parametrize(
    "value", [np.zeros(2, np.complex64), np.zeros(2, np.int8), np.zeros(2, np.uint16), np.array(["a"], dtype=object)]
)
def test_unsupported_dtypes_raise(value):
    with pytest.raises(ArtifactError):
        _h({"w": value})


@pytest.mark.parametrize(
    "over",
    [
        {"config_hash": "C" * 64},
        {"config_hash": "c" * 63},
        {"parent_hash": "main"},
        {"round_index": -1},
        {"round_index": True},
        {"schema_version": 0},
    ],
)
def test_bad_header_arguments_raise(over):
    with pytest.raises(ArtifactError):
        _h({"w": np.ones(1, np.float32)}, **over)


def test_bad_names_raise():
    with pytest.raises(ArtifactError):
        _h({"": np.ones(1, np.float32)})
    with pytest.raises(ArtifactError):
        _h({1: np.ones(1, np.float32)})


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
floats32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    st.dictionaries(names, st.lists(floats32, max_size=6), min_size=1, max_size=4),
    st.integers(0, 2**31),
)
def test_random_float32_tensors_match_reference(tensors, round_index):
    arrays = {n: np.array(v, dtype=np.float32) for n, v in tensors.items()}
    spec = {n: ("float32", [len(v)], v) for n, v in tensors.items()}
    ours = content_hash(arrays, schema_version=1, round_index=round_index, parent_hash=None, config_hash=CFG)
    assert ours == _ref_content_hash(spec, schema_version=1, round_index=round_index, parent=None, cfg=CFG)


# --- probe hash --------------------------------------------------------------------------------
def test_probe_hash_layout():
    points = np.array([[0.0, 0.25], [0.5, 1.0]], dtype=np.float32)
    ref = hashlib.sha256(
        b"lensemble-spec/probe/v1\x00" + _ref_frame("float32", [2, 2], _ref_payload("float32", [0.0, 0.25, 0.5, 1.0]))
    )
    assert probe_hash(points) == ref.hexdigest()
    assert probe_hash(points) != probe_hash(points.astype(np.float64))
    assert probe_hash(points) != probe_hash(points.reshape(4, 1))
    assert probe_hash(points) != probe_hash(points[::-1].copy())


def test_probe_hash_rejects_unsupported_dtype():
    with pytest.raises(ProbeError):
        probe_hash(np.zeros(3, np.complex128))
