"""A participant's persistent state ⇄ the node's ``context.state`` (never leaves the node).

In the in-process engine a :class:`~lensemble_reference.participant.Participant` object lives for the
whole run: its AdamW moments and its window sampler's generator carry over from round to round
(DiLoCo keeps the inner optimiser local). A ``ClientApp`` is stateless between messages (in
deployment each message even runs in a fresh process), so after every round the node stores

* ``participant.optimizer`` (ArrayRecord): ``<param name>|<key>`` for each AdamW state tensor
  (``step``, ``exp_avg``, ``exp_avg_sq``), bits unchanged (:mod:`.records`);
* ``participant.meta`` (ConfigRecord): the participant id, the round just finished and the
  sampler's ``numpy`` bit-generator state as JSON (PCG64's 128-bit integers do not fit a config
  scalar);

and before the next round rebuilds a fresh Participant and restores both. The module weights are
not stored: every round starts by loading the global ``θ`` into them.

Restoring refuses state from another participant or from a round other than the previous one
(:class:`~lensemble_spec.errors.RoundError`): a node that lost its state would otherwise train
on with fresh moments and silently diverge from the run it claims to reproduce. The one
sanctioned fresh start is a participant the coordinator marks ``rejoin`` (it did not contribute
to the previous round, RFC-0003 quorum): the ClientApp then skips restoring altogether and the
round record shows the gap.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch

from lensemble_spec.errors import RoundError

from .records import params_to_record, record_to_params

OPTIMIZER_KEY = "participant.optimizer"
META_KEY = "participant.meta"
_SEP = "|"


def save_participant(state: Any, part: Any, *, participant: str, round_index: int) -> None:
    """Write ``part``'s optimiser moments and sampler state into ``state`` (a RecordDict)."""
    from flwr.app import ConfigRecord

    names = [name for name, _ in part.module.named_parameters()]
    opt_state = part.optimizer.state_dict()["state"]
    arrays: dict[str, np.ndarray] = {}
    for index, name in enumerate(names):
        for key, value in sorted(opt_state.get(index, {}).items()):
            arrays[f"{name}{_SEP}{key}"] = value.detach().cpu().numpy() if torch.is_tensor(value) else np.asarray(value)
    state[OPTIMIZER_KEY] = params_to_record(arrays)
    state[META_KEY] = ConfigRecord(
        {
            "participant": participant,
            "round": int(round_index),
            "sampler": json.dumps(part.sampler.rng.bit_generator.state, sort_keys=True),
        }
    )


def restore_participant(state: Any, part: Any, *, participant: str, round_index: int) -> bool:
    """Load what :func:`save_participant` stored after round ``round_index - 1``; False if nothing yet.

    Round 1 starts from a fresh participant (nothing stored). Any later round requires the state
    of the same participant from the previous round.
    """
    if META_KEY not in state:
        if round_index > 1:
            raise RoundError(
                f"participant {participant} has no stored state before round {round_index}",
                remediation="Restart the run: this node lost its optimiser state (a SuperNode restart mid-run).",
            )
        return False
    meta = state[META_KEY]
    if str(meta["participant"]) != participant or int(meta["round"]) != round_index - 1:
        raise RoundError(
            f"stored state is for participant {meta['participant']} after round {meta['round']}, "
            f"expected {participant} after round {round_index - 1}",
            remediation="Restart the run with one SuperNode per silo and no node reuse across runs.",
        )
    arrays = record_to_params(state[OPTIMIZER_KEY])
    names = [name for name, _ in part.module.named_parameters()]
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for index, name in enumerate(names):
        prefix = f"{name}{_SEP}"
        entries = {k[len(prefix):]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith(prefix)}
        if entries:
            per_param[index] = entries
    known = {f"{n}{_SEP}" for n in names}
    stray = sorted(k for k in arrays if not any(k.startswith(p) for p in known))
    if stray:
        raise RoundError(f"stored optimiser state names unknown parameters: {', '.join(stray[:3])}")
    template = part.optimizer.state_dict()
    part.optimizer.load_state_dict({"state": per_param, "param_groups": template["param_groups"]})
    part.sampler.rng.bit_generator.state = json.loads(str(meta["sampler"]))
    return True
