"""Wire format: params ⇄ ArrayRecord keeps exact bits and name order; round results survive the trip.

Defects caught: a conversion that casts (float64 → float32, big-endian → native), sorts or
renumbers names (``ArrayRecord(list)`` gives "0", "1", …), normalises NaN payloads or -0.0, or
drops a field of the participant's result (e.g. the backstop angle) on the way to the coordinator.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lensemble_reference.flower.records import (
    config_from_json,
    config_to_json,
    content_to_local_result,
    local_result_to_content,
    params_to_record,
    record_to_params,
)
from lensemble_spec.artifacts import config_hash
from lensemble_spec.errors import InputError, RoundError

from ._helpers import tiny_config

DTYPES = st.sampled_from(["<f4", ">f4", "<f8", ">f8", "<f2", "<i4", ">i8", "u1", "|b1", "<c8"])


@st.composite
def param_dicts(draw):
    names = draw(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5, unique=True))
    out = {}
    for name in names:
        dtype = np.dtype(draw(DTYPES))
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
        out[name] = draw(hnp.arrays(dtype, shape))
    return out


@settings(max_examples=50, deadline=None, derandomize=True)
@given(param_dicts())
def test_round_trip_is_bit_exact_and_keeps_name_order(params):
    back = record_to_params(params_to_record(params))
    assert list(back) == list(params)  # order as given, not sorted, not renumbered
    for name, arr in params.items():
        assert back[name].dtype == arr.dtype  # byte order included
        assert back[name].shape == arr.shape
        assert back[name].tobytes() == arr.tobytes()
        assert back[name].flags.writeable


def test_special_float_bits_survive():
    nan_payload = np.array([0x7FC00001, 0xFFC12345], dtype="<u4").view("<f4")
    params = {"b": np.array([-0.0, np.inf, -np.inf], dtype=np.float32), "a": nan_payload, "c": np.float32(1e-45)}
    back = record_to_params(params_to_record(params))
    assert list(back) == ["b", "a", "c"]
    for name, value in params.items():
        assert np.asarray(value).tobytes() == back[name].tobytes()
    assert np.signbit(back["b"][0])


def test_non_contiguous_input_keeps_values():
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    view = base[:, ::2].T  # neither C- nor F-contiguous in memory
    back = record_to_params(params_to_record({"w": view}))["w"]
    assert back.shape == view.shape and np.array_equal(back, view) and back.dtype == view.dtype


@pytest.mark.parametrize(
    "bad", [{"x": np.array([object()], dtype=object)}, {"x": np.array(["s"])}, {1: np.zeros(2)}, {"": np.zeros(2)}]
)
def test_refuses_what_it_cannot_send_exactly(bad):
    with pytest.raises(InputError):
        params_to_record(bad)


def test_config_round_trip_keeps_config_hash():
    cfg = tiny_config("anchored", inner_lr=0.1 + 0.2)  # a float whose repr is not short
    back = config_from_json(config_to_json(cfg))
    assert back == cfg
    assert config_hash(back.to_dict()) == config_hash(cfg.to_dict())


@pytest.mark.parametrize("fired", [True, False, None])
def test_local_result_round_trip(fired):
    from lensemble_reference.federation import LocalResult
    from lensemble_reference.participant import LossSummary

    rng = np.random.default_rng(3)
    result = LocalResult(
        delta={
            "encoder.w": rng.standard_normal((3, 2)).astype(np.float32),
            "predictor.b": rng.standard_normal(2).astype(np.float32),
        },
        loss=LossSummary(pred=0.1 + 0.2, sigreg=1 / 3, anchor=0.0, total=2.0 / 7, steps=3),
        raw_embedding=rng.standard_normal((8, 4)).astype(np.float32),
        released_embedding=rng.standard_normal((8, 4)).astype(np.float32),
        backstop_fired=fired,
        backstop_angle_deg=None if fired is None else 17.123456789012345,
    )
    participant, back = content_to_local_result(local_result_to_content("silo2", result))
    assert participant == "silo2"
    assert back.loss == result.loss
    assert back.backstop_fired == fired and back.backstop_angle_deg == result.backstop_angle_deg
    assert list(back.delta) == list(result.delta)
    for name in result.delta:
        assert back.delta[name].tobytes() == result.delta[name].tobytes()
    assert back.raw_embedding.tobytes() == result.raw_embedding.tobytes()
    assert back.released_embedding.tobytes() == result.released_embedding.tobytes()


def test_reply_without_delta_is_a_round_error():
    from flwr.app import ConfigRecord, RecordDict

    with pytest.raises(RoundError):
        content_to_local_result(RecordDict({"summary": ConfigRecord({"participant": "silo0"})}))
