"""AnchoredDiLoCo: its aggregation is the reference's pure outer step, bit for bit.

Defects caught: a strategy that re-implements the step (a flipped sign, a missing Nesterov term,
float32 accumulation), reduces in arrival order, weights by ``num-examples`` like FedAvg, loses
the velocity between rounds, aggregates a round below the quorum (``min_participants``, RFC-0003
§4), averages a partial round over the wrong set, forgets who contributed (the ``rejoin`` flag), or
accepts a reply from a node answering for another participant.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from flwr.app import ConfigRecord, Error, Message
from flwr.common.constant import ErrorCode

from lensemble_reference.outer import outer_init, outer_step
from lensemble_spec.errors import QuorumNotMet, RoundError

NODES = {101: "silo1", 7: "silo0", 55: "silo3", 9: "silo2"}  # node ids NOT in participant order


@pytest.fixture(autouse=True)
def task_identity(monkeypatch):
    """Messages are stamped with the process's task identity (set by Flower inside a real run)."""
    from flwr.supercore.task_identity import TaskIdentity

    for attr, value in (("_run_id", 1), ("_task_id", 1), ("_node_id", 1)):
        monkeypatch.setattr(TaskIdentity, attr, value)


def _theta(rng):
    return {
        "encoder.w": rng.standard_normal((5, 3)).astype(np.float32),
        "predictor.b": rng.standard_normal(4).astype(np.float32),
    }


def _result(rng, theta, steps):
    from lensemble_reference.federation import LocalResult
    from lensemble_reference.participant import LossSummary

    delta = {
        k: (rng.standard_normal(v.shape) * 10.0 ** rng.integers(-6, 1)).astype(np.float32) for k, v in theta.items()
    }
    emb = rng.standard_normal((6, 3)).astype(np.float32)
    return LocalResult(
        delta, LossSummary(1.0, 2.0, 0.5, float(rng.random()), steps), emb, emb, bool(rng.random() < 0.5), 20.0
    )


def _replies(messages, results):
    from lensemble_reference.flower.records import local_result_to_content

    replies = []
    for msg in messages:
        pid = msg.content["config"]["participant"]
        replies.append(Message(local_result_to_content(pid, results[pid]), reply_to=msg))
    random.Random(len(replies)).shuffle(replies)  # arrival order must not matter
    return replies


def _strategy(lr, momentum, nesterov, min_participants=None):
    from lensemble_reference.flower.strategy import AnchoredDiLoCo

    strategy = AnchoredDiLoCo(lr=lr, momentum=momentum, nesterov=nesterov, min_participants=min_participants)
    strategy.set_participants(NODES)
    strategy.set_anchor(np.zeros((6, 3, 4, 4), np.float32), np.zeros((6, 3), np.float32))
    return strategy


@pytest.mark.parametrize(
    "lr,momentum,nesterov", [(0.5, 0.0, True), (1.0, 0.0, True), (0.7, 0.9, True), (0.7, 0.9, False)]
)
def test_aggregate_train_equals_pure_outer_step_over_rounds(lr, momentum, nesterov):
    from lensemble_reference.flower.records import params_to_record, record_to_params

    rng = np.random.default_rng(0)
    theta = _theta(rng)
    ref_theta, ref_state = theta, outer_init(theta)
    strategy = _strategy(lr, momentum, nesterov)
    for rnd in (1, 2, 3):  # several rounds: the velocity must carry over inside the strategy
        messages = list(
            strategy.configure_train(rnd, params_to_record(ref_theta), ConfigRecord({"train-config": "{}"}), None)
        )
        # different step counts: FedAvg-style num-examples weighting would change the result
        results = {pid: _result(rng, ref_theta, steps=3 + i) for i, pid in enumerate(sorted(NODES.values()))}
        arrays, metrics = strategy.aggregate_train(rnd, _replies(messages, results))
        ref_theta, ref_state = outer_step(
            ref_theta, {p: results[p].delta for p in results}, ref_state, lr=lr, momentum=momentum, nesterov=nesterov
        )
        got = record_to_params(arrays)
        assert list(got) == sorted(ref_theta)
        for name in ref_theta:
            assert got[name].dtype == np.float32
            assert got[name].tobytes() == ref_theta[name].tobytes(), (rnd, name)
            assert strategy.state.velocity[name].tobytes() == ref_state.velocity[name].tobytes()
        assert strategy.state.steps == rnd
        assert list(strategy.last_results) == sorted(NODES.values())
        assert metrics["train_loss"] == pytest.approx(np.mean([r.loss.total for r in results.values()]))


def test_configure_train_sends_one_message_per_participant_in_id_order():
    from lensemble_reference.flower.records import params_to_record, record_to_params

    theta = _theta(np.random.default_rng(1))
    strategy = _strategy(0.5, 0.0, True)
    messages = list(strategy.configure_train(4, params_to_record(theta), ConfigRecord({"train-config": "{}"}), None))
    assert [m.metadata.dst_node_id for m in messages] == [7, 101, 9, 55]  # silo0, silo1, silo2, silo3
    for msg in messages:
        assert msg.metadata.message_type == "train"
        conf = msg.content["config"]
        assert conf["round"] == 4 and conf["participant"] == NODES[msg.metadata.dst_node_id]
        sent = record_to_params(msg.content["arrays"])
        assert all(sent[k].tobytes() == theta[k].tobytes() for k in theta)
        assert set(msg.content["anchor"].keys()) == {"points", "targets"}
    assert strategy.configure_evaluate(4, params_to_record(theta), ConfigRecord(), None) == []


def _one_round(strategy, rng):
    from lensemble_reference.flower.records import params_to_record

    theta = _theta(rng)
    messages = list(strategy.configure_train(1, params_to_record(theta), ConfigRecord({"train-config": "{}"}), None))
    results = {pid: _result(rng, theta, steps=3) for pid in NODES.values()}
    return messages, results


def test_partial_round_below_quorum_is_refused_and_changes_nothing():
    strategy = _strategy(0.5, 0.0, True)  # no min_participants: every participant must reply
    messages, results = _one_round(strategy, np.random.default_rng(2))
    replies = _replies(messages, results)
    dropped = replies[-1].metadata.src_node_id
    with pytest.raises(QuorumNotMet, match="no reply"):
        strategy.aggregate_train(1, replies[:-1])
    assert strategy.last_dropped == {NODES[dropped]: "no reply within the round timeout"}
    assert strategy.state.steps == 0 and strategy.contributors is None  # the aborted round left no trace


def test_error_reply_drops_the_participant_and_the_quorum_decides():
    from lensemble_reference.flower.records import record_to_params

    rng = np.random.default_rng(3)
    strategy = _strategy(0.5, 0.0, True, min_participants=3)
    messages, results = _one_round(strategy, rng)
    theta = record_to_params(messages[0].content["arrays"])
    crashed = messages[0].content["config"]["participant"]
    lost = Message(Error(code=ErrorCode.NODE_UNAVAILABLE, reason="node went away"), reply_to=messages[0])
    arrays, _ = strategy.aggregate_train(1, _replies(messages[1:], results) + [lost])
    assert strategy.last_dropped == {crashed: "node went away"}
    survivors = sorted(p for p in results if p != crashed)
    assert list(strategy.last_results) == survivors
    deltas = {p: results[p].delta for p in survivors}
    ref, _ = outer_step(theta, deltas, outer_init(theta), lr=0.5, momentum=0.0, nesterov=True)
    got = record_to_params(arrays)
    assert all(got[k].tobytes() == ref[k].tobytes() for k in ref)  # the mean over the three survivors
    # next round: the dropped participant is told to rejoin (fresh state), the others are not
    nxt = list(strategy.configure_train(2, arrays, ConfigRecord({"train-config": "{}"}), None))
    assert {m.content["config"]["participant"]: m.content["config"]["rejoin"] for m in nxt} == {
        p: p == crashed for p in results
    }
    # below the quorum of 3 the round aborts
    messages, results = _one_round(strategy, rng)
    two = _replies(messages[2:], results) + [
        Message(Error(code=ErrorCode.CLIENT_APP_CRASHED, reason="gone"), reply_to=m) for m in messages[:2]
    ]
    with pytest.raises(QuorumNotMet, match="fewer than the quorum of 3"):
        strategy.aggregate_train(1, two)
    assert strategy.state.steps == 1


def test_a_clientapp_that_raised_aborts_the_round_even_above_quorum():
    strategy = _strategy(0.5, 0.0, True, min_participants=1)
    messages, results = _one_round(strategy, np.random.default_rng(6))
    raised = Message(
        Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason="[data_invalid] bad silo"), reply_to=messages[0]
    )
    with pytest.raises(RoundError, match="data_invalid"):
        strategy.aggregate_train(1, _replies(messages[1:], results) + [raised])


def test_first_round_never_asks_to_rejoin():
    from lensemble_reference.flower.records import params_to_record

    strategy = _strategy(0.5, 0.0, True, min_participants=1)
    messages = list(
        strategy.configure_train(
            1, params_to_record(_theta(np.random.default_rng(5))), ConfigRecord({"train-config": "{}"}), None
        )
    )
    assert [m.content["config"]["rejoin"] for m in messages] == [False] * len(NODES)


def test_reply_for_another_participant_is_refused():
    from lensemble_reference.flower.records import local_result_to_content

    strategy = _strategy(0.5, 0.0, True)
    messages, results = _one_round(strategy, np.random.default_rng(4))
    replies = _replies(messages[1:], results)
    impostor = messages[0].content["config"]["participant"]
    other = "silo3" if impostor != "silo3" else "silo0"
    replies.append(Message(local_result_to_content(other, results[other]), reply_to=messages[0]))
    with pytest.raises(RoundError):
        strategy.aggregate_train(1, replies)


def test_two_nodes_for_one_silo_are_refused():
    from lensemble_reference.flower.strategy import AnchoredDiLoCo

    with pytest.raises(RoundError, match="silo0"):
        AnchoredDiLoCo(lr=0.5).set_participants({1: "silo0", 2: "silo0", 3: "silo1"})


def test_remote_traceback_is_reduced_to_the_typed_error_line():
    from lensemble_reference.flower.strategy import short_reason

    reason = (
        "<class 'ray.exceptions.RayTaskError(ClientAppException)'>:<'ray::ClientAppActor.run()\n"
        '  File "x.py", line 1\n'
        "lensemble_spec.errors.DataError: [data_invalid] silo s: bad (remediation: Fix it.)\n\n"
        "Exception ClientAppException occurred. Message: [data_invalid] silo s: bad (remediation: Fix it.)'>"
    )
    assert short_reason(reason) == "[data_invalid] silo s: bad (remediation: Fix it.)"
    assert short_reason("plain failure\n") == "plain failure"
    assert short_reason(None) == "no reason given"
