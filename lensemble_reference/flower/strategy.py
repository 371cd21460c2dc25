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

* no sampling: every registered participant is asked every round; a round commits the outer step
  over the participants that REPLIED, provided they are at least the quorum ``min_participants``
  (RFC-0003 §4); a LOST participant — no reply within the timeout, or an error reply saying
  the node or its message is gone or its ClientApp process crashed (:data:`LOST_CODES`: a node
  that died mid-round) — is dropped from the round (``last_dropped`` says why), and below the
  quorum the round aborts with :class:`~lensemble_spec.errors.QuorumNotMet` leaving ``state``
  and ``current`` as the last committed round left them. With no failure every participant
  contributes, so the committed global is the one the in-process engine computes. A ClientApp
  that RAISED (bad data, refused state: a defect to fix, not a loss to ride out) aborts the round
  with :class:`~lensemble_spec.errors.RoundError` carrying the node's own typed error line;
* a participant that did not contribute to round ``r − 1`` (dropped, or a node restarted since)
  is sent ``rejoin = true`` in round ``r``: it starts with fresh optimiser moments and the batch
  sampler seed ``derive_seed(seed, "batches/<id>/rejoin/<r>")`` rather than refusing to continue;
* no weighting by ``num-examples``: the outer step weights participants equally (DiLoCo);
* messages go out and replies are reduced in participant-id order, never in arrival order;
* no client-side evaluation: the coordinator evaluates the committed global on the held-out
  split (the round driver does it), so ``configure_evaluate`` sends nothing.

State kept between calls (as FedAvgM keeps its momentum): ``state`` (the outer optimiser's
float64 velocity), ``current`` (the global sent in ``configure_train``), ``last_results`` and
``last_digest`` of the latest aggregation, ``contributors`` (the participants of the last
committed round) and ``last_dropped`` (participant → reason, for the round just aggregated).
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

#: Flower error codes (``flwr.common.constant.ErrorCode``) that mean the participant was LOST:
#: MESSAGE_UNAVAILABLE, REPLY_MESSAGE_UNAVAILABLE, NODE_UNAVAILABLE, CLIENT_APP_CRASHED.
LOST_CODES = frozenset({3, 4, 5, 8})

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

    def __init__(
        self, *, lr: float, momentum: float = 0.0, nesterov: bool = True, min_participants: int | None = None
    ) -> None:
        self.lr = float(lr)
        self.min_participants = min_participants  # None: every registered participant must reply
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.participants: dict[int, str] = {}
        self.anchor: ArrayRecord = ArrayRecord()
        self.state: OuterState | None = None
        self.current: dict[str, np.ndarray] | None = None
        self.last_results: dict[str, Any] = {}
        self.last_digest: str | None = None
        self.contributors: set[str] | None = None  # None before round 1
        self.last_dropped: dict[str, str] = {}
        self.sent: dict[str, str] = {}  # message id → participant of the round's train messages

    @classmethod
    def from_config(cls, cfg: Any) -> AnchoredDiLoCo:
        """The strategy for a TrainConfig's outer settings (anchored or naive-fedavg)."""
        return cls(
            lr=cfg.outer.lr,
            momentum=cfg.outer.momentum,
            nesterov=cfg.outer.nesterov,
            min_participants=cfg.min_participants,
        )

    def quorum(self) -> int:
        """Replies a round needs: ``min_participants``, or every registered participant."""
        return len(self.participants) if self.min_participants is None else int(self.min_participants)

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
            rejoin = self.contributors is not None and participant not in self.contributors
            conf = ConfigRecord(
                {**dict(config), "round": int(server_round), "participant": participant, "rejoin": rejoin}
            )
            content = RecordDict({ARRAYS: arrays, ANCHOR: self.anchor, CONFIG: conf})
            message = Message(
                content=content, dst_node_id=node_id, message_type=MessageType.TRAIN, group_id=str(server_round)
            )
            messages.append(message)
        self.sent = {}  # filled by the caller once the grid has given the messages their ids
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Decode every reply, then ``checked_outer_step`` over the deltas (participant-id order)."""
        if self.current is None or self.state is None:
            raise RoundError("aggregate_train called before configure_train")
        results: dict[str, Any] = {}
        dropped: dict[str, str] = {}
        for reply in replies:
            node = reply.metadata.src_node_id
            if reply.has_error():
                # a node-unavailable reply comes from the SuperLink: match it by the message it answers
                who = self.participants.get(node) or self.sent.get(reply.metadata.reply_to_message_id)
                if int(reply.error.code) not in LOST_CODES:
                    raise RoundError(
                        f"round {server_round}: participant {who or '?'} (node {node}) failed: "
                        f"{short_reason(reply.error.reason)}"
                    )
                if who:
                    dropped[who] = short_reason(reply.error.reason)
                continue
            participant, result = content_to_local_result(reply.content)
            expected = self.participants.get(node)
            if expected != participant:
                raise RoundError(
                    f"round {server_round}: node {node} answered as {participant!r}, registered as {expected!r}"
                )
            if participant in results:
                raise RoundError(f"round {server_round}: two replies for participant {participant}")
            results[participant] = result
        for participant in sorted(set(self.participants.values()) - set(results) - set(dropped)):
            dropped[participant] = "no reply within the round timeout"
        self.last_dropped = dict(sorted(dropped.items()))
        if len(results) < self.quorum() or not results:
            why = "; ".join(f"{p}: {r}" for p, r in self.last_dropped.items())
            raise QuorumNotMet(
                f"round {server_round}: {len(results)} update(s), fewer than the quorum of {self.quorum()} ({why})",
                missing=sorted(dropped),
            )
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
        self.contributors = set(order)
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
