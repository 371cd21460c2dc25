"""A Flower ``Strategy`` whose aggregation IS the reference's pure DiLoCo outer step.

:class:`AnchoredDiLoCo` sends every registered participant the global ``θ`` (plus the public
probe and its fixed round-0 targets), and reduces the replies with
:func:`lensemble_reference.outer.checked_outer_step` — called, never re-implemented:

    g = (1/C) Σ_c Δ_c (ascending participant id),  v' = μ v + g,  u = g + μ v' (Nesterov) or v',
    θ' = θ + η u  (float64 arithmetic, one rounding to float32; evaluated twice and compared)

with the sign convention ``Δ = θ_local − θ`` and the coordinator ADDING (RFC-0003 §5). The same
class serves both federated controls; only the config differs: anchored = ``η = 0.5, μ = 0``
(tamed step; participants also anchor and run the Procrustes backstop before release), naive
FedAvg = ``η = 1, μ = 0`` (the new global is exactly the mean of the local models).

Differences from Flower's FedAvg, on purpose:

* no sampling and no partial rounds: a round needs a reply from EVERY registered participant
  (missing → :class:`~lensemble_spec.errors.QuorumNotMet`, an error reply →
  :class:`~lensemble_spec.errors.RoundError`), because the committed global must be the one the
  in-process engine computes;
* no weighting by ``num-examples``: the outer step weights participants equally (DiLoCo);
* messages go out and replies are reduced in participant-id order, never in arrival order;
* no client-side evaluation: the coordinator evaluates the committed global on the held-out
  split (the round driver does it), so ``configure_evaluate`` sends nothing.

State kept between calls (as FedAvgM keeps its momentum): ``state`` (the outer optimiser's
float64 velocity), ``current`` (the global sent in ``configure_train``), ``last_results`` and
``last_digest`` of the latest aggregation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from logging import INFO
from typing import Any

import numpy as np
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy
from flwr.supercore import log

from lensemble_spec.errors import QuorumNotMet, RoundError

from ..outer import OuterState, checked_outer_step, outer_init
from .records import (
    ANCHOR,
    ARRAYS,
    CONFIG,
    content_to_local_result,
    params_to_record,
    record_to_params,
)

_TYPED = re.compile(r"\[[a-z_]+\] [^\n]*")


def short_reason(reason: str | None) -> str:
    """The node's own typed error line (``[code] message (remediation: …)``) out of a remote traceback."""
    text = str(reason or "no reason given")
    typed = _TYPED.findall(text)
    if typed:
        return typed[-1].strip().rstrip("'>").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else text


class AnchoredDiLoCo(Strategy):
    """DiLoCo outer step over Flower messages (see module docstring)."""

    def __init__(self, *, lr: float, momentum: float = 0.0, nesterov: bool = True) -> None:
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.participants: dict[int, str] = {}
        self.anchor: ArrayRecord = ArrayRecord()
        self.state: OuterState | None = None
        self.current: dict[str, np.ndarray] | None = None
        self.last_results: dict[str, Any] = {}
        self.last_digest: str | None = None

    @classmethod
    def from_config(cls, cfg: Any) -> AnchoredDiLoCo:
        """The strategy for a TrainConfig's outer settings (anchored or naive-fedavg)."""
        return cls(lr=cfg.outer.lr, momentum=cfg.outer.momentum, nesterov=cfg.outer.nesterov)

    # -- set-up ------------------------------------------------------------------------------------
    def set_participants(self, node_participants: Mapping[int, str]) -> None:
        """Register ``node id → participant id`` (one node per participant)."""
        ids = list(node_participants.values())
        if len(set(ids)) != len(ids):
            dupes = sorted({p for p in ids if ids.count(p) > 1})
            raise RoundError(
                f"several nodes claim participant(s) {', '.join(dupes)}",
                remediation="Start exactly one SuperNode per silo.",
            )
        self.participants = {int(k): str(v) for k, v in node_participants.items()}

    def set_anchor(self, points: np.ndarray, targets: np.ndarray) -> None:
        """Public probe points and their fixed round-0 targets, sent with every train message."""
        self.anchor = params_to_record({"points": np.asarray(points), "targets": np.asarray(targets)})

    def summary(self) -> None:
        log(INFO, "\t├──> AnchoredDiLoCo: lr=%s momentum=%s nesterov=%s", self.lr, self.momentum, self.nesterov)
        log(INFO, "\t└──> participants: %s", ", ".join(sorted(self.participants.values())) or "(none registered)")

    # -- training ----------------------------------------------------------------------------------
    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """One ``train`` message per registered participant, in participant-id order."""
        if not self.participants:
            raise QuorumNotMet(
                "no participants registered with the strategy",
                remediation="Call set_participants() after node discovery.",
            )
        self.current = record_to_params(arrays)
        if self.state is None:
            self.state = outer_init(self.current)
        messages = []
        for node_id, participant in sorted(self.participants.items(), key=lambda item: item[1]):
            conf = ConfigRecord({**dict(config), "round": int(server_round), "participant": participant})
            content = RecordDict({ARRAYS: arrays, ANCHOR: self.anchor, CONFIG: conf})
            messages.append(
                Message(
                    content=content, dst_node_id=node_id, message_type=MessageType.TRAIN, group_id=str(server_round)
                )
            )
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Decode every reply, then ``checked_outer_step`` over the deltas (participant-id order)."""
        if self.current is None or self.state is None:
            raise RoundError("aggregate_train called before configure_train")
        results: dict[str, Any] = {}
        for reply in replies:
            node = reply.metadata.src_node_id
            if reply.has_error():
                who = self.participants.get(node, "?")
                raise RoundError(
                    f"round {server_round}: participant {who} (node {node}) failed: {short_reason(reply.error.reason)}"
                )
            participant, result = content_to_local_result(reply.content)
            expected = self.participants.get(node)
            if expected != participant:
                raise RoundError(
                    f"round {server_round}: node {node} answered as {participant!r}, registered as {expected!r}"
                )
            if participant in results:
                raise RoundError(f"round {server_round}: two replies for participant {participant}")
            results[participant] = result
        missing = sorted(set(self.participants.values()) - set(results))
        if missing:
            raise QuorumNotMet(f"round {server_round}: no reply from {', '.join(missing)}", missing=missing)
        order = sorted(results)
        new_global, new_state, digest = checked_outer_step(
            self.current,
            {p: results[p].delta for p in order},
            self.state,
            lr=self.lr,
            momentum=self.momentum,
            nesterov=self.nesterov,
        )
        self.state, self.current, self.last_digest = new_state, new_global, digest
        self.last_results = {p: results[p] for p in order}
        metrics = MetricRecord(
            {
                "train_loss": float(np.mean([results[p].loss.total for p in order])),
                "backstop_fired_count": float(sum(bool(results[p].backstop_fired) for p in order)),
            }
        )
        return params_to_record(new_global), metrics

    # -- evaluation: done by the coordinator on the held-out split ---------------------------------
    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        return []

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return None
