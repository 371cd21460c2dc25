"""Wire format between the coordinator and the participants (Flower records).

Parameters: ``dict[str, ndarray]`` ⇄ ``ArrayRecord``. Each array becomes one ``flwr.app.Array``
serialised with ``numpy.save`` (``allow_pickle=False``), which stores dtype (byte order
included), shape and the raw element bytes, so ``record_to_params(params_to_record(p))`` returns
arrays with the SAME dtype, shape and bits (NaN payloads and signed zeros too) under the SAME
names in the SAME order. Only numeric and bool arrays are accepted (object arrays would need
pickle); anything else raises :class:`~lensemble_spec.errors.InputError`.

Messages (keys of the ``RecordDict`` content):

* coordinator → participant, ``query``: ``config`` = {``train-config``};
* coordinator → participant, ``train``: ``arrays`` = global ``θ``; ``anchor`` = {``points``,
  ``targets``} (public probe and the fixed round-0 reference); ``config`` = {``train-config``
  (canonical JSON of the TrainConfig), ``round``, ``participant``};
* participant → coordinator, ``train`` reply: ``delta`` = the released ``Δ`` (name-sorted);
  ``embeddings`` = {``raw``, ``released``} probe embeddings; ``summary`` = {``participant``,
  ``loss.pred|sigreg|anchor|total`` (float), ``loss.steps`` (int), ``backstop.fired`` (bool)
  and ``backstop.angle_deg`` (float), the last two absent when the backstop is off};
  ``metrics`` = {``train_loss``, ``num-examples``} for Flower's own logs.

Python floats travel as IEEE doubles, so every scalar the round record uses arrives unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from lensemble_spec.errors import InputError, RoundError

ARRAYS = "arrays"
ANCHOR = "anchor"
CONFIG = "config"
DELTA = "delta"
EMBEDDINGS = "embeddings"
SUMMARY = "summary"
METRICS = "metrics"

#: Array kinds ``numpy.save`` writes without pickle: bool, signed/unsigned int, float, complex.
_NUMERIC_KINDS = "biufc"


def params_to_record(params: Mapping[str, Any]) -> Any:
    """``ArrayRecord`` holding ``params`` in their iteration order, bits unchanged (see module doc)."""
    from flwr.app import Array, ArrayRecord

    record = ArrayRecord()
    for name, value in params.items():
        if not isinstance(name, str) or not name:
            raise InputError(f"parameter names must be non-empty strings, got {name!r}")
        arr = np.asarray(value)
        if arr.dtype.kind not in _NUMERIC_KINDS or arr.dtype.fields is not None:
            raise InputError(
                f"parameter {name!r} has non-numeric dtype {arr.dtype}; only plain numeric arrays are sent"
            )
        record[name] = Array.from_numpy_ndarray(arr)
    return record


def record_to_params(record: Any) -> dict[str, np.ndarray]:
    """Inverse of :func:`params_to_record`: fresh, writable arrays in the record's order."""
    out: dict[str, np.ndarray] = {}
    for name, array in record.items():
        arr = array.numpy()
        out[name] = arr if arr.flags.writeable else arr.copy()
    return out


def config_to_json(cfg: Any) -> str:
    """The TrainConfig as canonical JSON (what its config hash is computed over)."""
    from lensemble_spec.artifacts import canonical_json

    return canonical_json(cfg.to_dict()).decode("utf-8")


def config_from_json(text: str) -> Any:
    """Rebuild and validate a TrainConfig sent by the coordinator (ConfigError on bad input)."""
    from lensemble_reference.config import TrainConfig

    return TrainConfig.from_dict(json.loads(text)).validate()


def local_result_to_content(participant: str, result: Any) -> Any:
    """The ``train`` reply content for one participant's :class:`~lensemble_reference.federation.LocalResult`."""
    from flwr.app import ConfigRecord, MetricRecord, RecordDict

    summary: dict[str, Any] = {
        "participant": participant,
        "loss.pred": float(result.loss.pred),
        "loss.sigreg": float(result.loss.sigreg),
        "loss.anchor": float(result.loss.anchor),
        "loss.total": float(result.loss.total),
        "loss.steps": int(result.loss.steps),
    }
    if result.backstop_fired is not None:
        summary["backstop.fired"] = bool(result.backstop_fired)
    if result.backstop_angle_deg is not None:
        summary["backstop.angle_deg"] = float(result.backstop_angle_deg)
    return RecordDict(
        {
            DELTA: params_to_record(result.delta),
            EMBEDDINGS: params_to_record({"raw": result.raw_embedding, "released": result.released_embedding}),
            SUMMARY: ConfigRecord(summary),
            METRICS: MetricRecord({"train_loss": float(result.loss.total), "num-examples": int(result.loss.steps)}),
        }
    )


def content_to_local_result(content: Any) -> tuple[str, Any]:
    """``(participant, LocalResult)`` from a ``train`` reply; RoundError if a record is missing."""
    from lensemble_reference.federation import LocalResult
    from lensemble_reference.participant import LossSummary

    for key in (DELTA, EMBEDDINGS, SUMMARY):
        if key not in content:
            raise RoundError(
                f"train reply lacks the {key!r} record", remediation="Run the lensemble-spec ClientApp on every node."
            )
    summary = content[SUMMARY]
    try:
        participant = str(summary["participant"])
        loss = LossSummary(
            pred=float(summary["loss.pred"]),
            sigreg=float(summary["loss.sigreg"]),
            anchor=float(summary["loss.anchor"]),
            total=float(summary["loss.total"]),
            steps=int(summary["loss.steps"]),
        )
    except KeyError as exc:
        raise RoundError(
            f"train reply summary lacks {exc}", remediation="Run the lensemble-spec ClientApp on every node."
        ) from exc
    emb = record_to_params(content[EMBEDDINGS])
    fired = bool(summary["backstop.fired"]) if "backstop.fired" in summary else None
    angle = float(summary["backstop.angle_deg"]) if "backstop.angle_deg" in summary else None
    result = LocalResult(
        delta=record_to_params(content[DELTA]),
        loss=loss,
        raw_embedding=emb["raw"],
        released_embedding=emb["released"],
        backstop_fired=fired,
        backstop_angle_deg=angle,
    )
    return participant, result
