"""The participant side: a Flower ``ClientApp`` running one silo's local update per round.

Handlers (Message API, ``(msg, context) -> Message``):

* ``query`` — identify: resolve this node's site (:func:`.sites.resolve_site`) and answer
  ``{"participant": <id>, "site": <description JSON>}`` — the participant id and the site's data
  fingerprint, never a frame — so the coordinator can map node ids to participant ids and record
  what each site trained on;
* ``train`` — exactly what the in-process engine does for this participant in round ``r``:
  rebuild the :class:`~lensemble_reference.participant.Participant` (same id, silo, config and
  sampler seed ``derive_seed(root, "batches/<id>")``), restore its AdamW moments and sampler
  state from ``context.state`` (:mod:`.client_state`), run
  :func:`lensemble_reference.federation.participant_round` (load ``θ``, ``H`` inner steps with the
  round's sketch and the fixed anchor, Procrustes backstop before release for the anchored
  control, ``Δ = θ_released − θ``), store the state back, and reply with the released delta, the
  probe embeddings and the loss summary (:mod:`.records`). Raw data never leaves the node.

torch is put in the same deterministic mode as in-process (``deterministic_torch(cfg.threads)``:
same thread count, deterministic kernels), so the node's bits match the in-process engine's.

``app`` (module level) is the deployment ClientApp: it finds its silo through the node config
(``lerobot-root``, ``synthetic-silo``, ``silo-file`` or ``partition-id``). The simulation engine uses
:func:`build_client_app` with the directory of silo files it wrote.
"""

from __future__ import annotations

import json
from typing import Any

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

from lensemble_spec.errors import RoundError
from lensemble_spec.metrics import derive_seed

from .client_state import restore_participant, save_participant
from .records import (
    ANCHOR,
    ARRAYS,
    CONFIG,
    config_from_json,
    local_result_to_content,
    record_to_params,
)
from .sites import resolve_site


def identify(content: RecordDict, node_config: Any, silo_dir: str | None) -> RecordDict:
    """Reply content of the ``query`` handler: this node's participant id."""
    cfg = config_from_json(str(content[CONFIG]["train-config"]))
    site = resolve_site(node_config, cfg, silo_dir)
    return RecordDict(
        {CONFIG: ConfigRecord({"participant": site.participant, "site": json.dumps(site.description, sort_keys=True)})}
    )


def train_round(content: RecordDict, context: Context, silo_dir: str | None) -> RecordDict:
    """Reply content of the ``train`` handler (see module docstring)."""
    from lensemble_reference.federation import anchor_tensors, participant_round
    from lensemble_reference.participant import Participant, deterministic_torch

    conf = content[CONFIG]
    cfg = config_from_json(str(conf["train-config"]))
    round_index = int(conf["round"])
    site = resolve_site(context.node_config, cfg, silo_dir)
    participant, silo = site.participant, site.silo
    if str(conf["participant"]) != participant:
        raise RoundError(f"node holds participant {participant!r} but was asked to train {conf['participant']!r}")
    deterministic_torch(cfg.threads)
    theta = record_to_params(content[ARRAYS])
    anchor = record_to_params(content[ANCHOR])
    points, targets = anchor["points"], anchor["targets"]
    rejoin = bool(conf["rejoin"]) if "rejoin" in conf else False
    label = f"batches/{participant}/rejoin/{round_index}" if rejoin else f"batches/{participant}"
    part = Participant(participant, silo, cfg, seed=derive_seed(cfg.seed, label))
    if not rejoin:
        restore_participant(context.state, part, participant=participant, round_index=round_index)
    result = participant_round(
        cfg,
        part,
        theta,
        round_index=round_index,
        anchor=anchor_tensors(cfg, points, targets),
        probe_points=points,
        reference=targets,
    )
    save_participant(context.state, part, participant=participant, round_index=round_index)
    return local_result_to_content(participant, result)


def build_client_app(*, silo_dir: str | None = None) -> ClientApp:
    """A ClientApp whose nodes read their silo from ``silo_dir`` (else from their node config)."""
    app = ClientApp()

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        return Message(identify(msg.content, context.node_config, silo_dir), reply_to=msg)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        return Message(train_round(msg.content, context, silo_dir), reply_to=msg)

    return app


#: Deployment ClientApp (``[tool.flwr.app.components] clientapp``).
app = build_client_app()
