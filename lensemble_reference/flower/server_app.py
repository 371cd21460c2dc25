"""The coordinator side: a round engine over a Flower ``Grid`` and the ``ServerApp``s using it.

:class:`FlowerRounds` implements the round-engine seam of
:func:`lensemble_reference.federation.run_federated` (``start`` / ``run_round``), so the shared
driver keeps doing everything else (seeded ``θ_0``, round-0 commit, probe reference, held-out
evaluation, checkpoints, round records, manifest) exactly as in-process:

* ``start`` — wait until ``len(pids)`` nodes are connected, send each a ``query`` and map node
  ids to participant ids from the answers (they must be exactly the run's participants), then
  hand the strategy the participants and the anchor (probe points, round-0 targets);
* ``run_round`` — ``configure_train`` → ``grid.send_and_receive`` → ``aggregate_train`` (the
  strategy's checked outer step), and return ``(θ', state', results)`` to the driver.

Two ServerApps use it: :func:`build_server_app` (simulation; the run's config, data and output
directory are closed over in-process) and the module-level ``app`` (deployment via ``flwr run``;
everything comes from the run config, see :mod:`.deploy`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.serverapp import Grid, ServerApp

from lensemble_spec.errors import ConfigError, QuorumNotMet, RoundError

from . import FEDERATED_CONTROLS
from .records import CONFIG, config_to_json, params_to_record, record_to_params
from .strategy import AnchoredDiLoCo, short_reason

#: Seconds between polls while waiting for SuperNodes to connect.
POLL_S = 0.2


def wait_for_nodes(grid: Grid, count: int, timeout: float) -> list[int]:
    """Node ids once at least ``count`` nodes are connected; QuorumNotMet after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = sorted(int(n) for n in grid.get_node_ids())
        if len(nodes) >= count:
            return nodes
        if time.monotonic() >= deadline:
            raise QuorumNotMet(
                f"{len(nodes)} of {count} SuperNodes connected after {timeout:.0f} s",
                remediation="Start one SuperNode per silo pointing at this SuperLink, or raise the run config "
                            "'node-wait'.",
            )
        time.sleep(POLL_S)


def discover_participants(grid: Grid, nodes: list[int], config: ConfigRecord, timeout: float) -> dict[int, str]:
    """Ask every node which participant it holds (``query`` messages) → ``{node id: participant}``."""
    messages = [
        Message(
            content=RecordDict({CONFIG: config}), dst_node_id=node, message_type=MessageType.QUERY, group_id="discover"
        )
        for node in nodes
    ]
    mapping: dict[int, str] = {}
    for reply in grid.send_and_receive(messages, timeout=timeout):
        node = int(reply.metadata.src_node_id)
        if reply.has_error():
            raise RoundError(f"node {node} could not identify its silo: {short_reason(reply.error.reason)}")
        mapping[node] = str(reply.content[CONFIG]["participant"])
    silent = sorted(set(nodes) - set(mapping))
    if silent:
        raise QuorumNotMet(f"{len(silent)} node(s) did not answer the discovery query within {timeout:.0f} s")
    return mapping


class FlowerRounds:
    """Round engine over a Flower Grid (see module docstring)."""

    def __init__(
        self, grid: Grid, strategy: AnchoredDiLoCo | None = None, *, timeout: float = 3600.0, node_wait: float = 120.0
    ) -> None:
        self.grid = grid
        self.strategy = strategy
        self.timeout = float(timeout)
        self.node_wait = float(node_wait)
        self.config = ConfigRecord()

    def start(self, setup: Any, pids: list[str]) -> None:
        cfg = setup.cfg
        if self.strategy is None:
            self.strategy = AnchoredDiLoCo.from_config(cfg)
        self.config = ConfigRecord({"train-config": config_to_json(cfg)})
        nodes = wait_for_nodes(self.grid, len(pids), self.node_wait)
        mapping = discover_participants(self.grid, nodes, self.config, self.timeout)
        claimed = sorted(mapping.values())
        if claimed != sorted(pids):
            raise RoundError(
                f"connected nodes hold {claimed}, the run's participants are {sorted(pids)}",
                remediation="Start exactly one SuperNode per silo of this run (partition-id 0..N-1 or silo-file).",
            )
        self.strategy.set_participants(mapping)
        self.strategy.set_anchor(np.asarray(setup.inputs.probe_points), np.asarray(setup.reference))

    def run_round(
        self, setup: Any, theta: dict[str, np.ndarray], state: Any, round_index: int, pids: list[str]
    ) -> tuple[dict[str, np.ndarray], Any, dict[str, Any]]:
        strategy = self.strategy
        if strategy is None:
            raise RoundError("run_round called before start")
        strategy.state = state
        messages = list(strategy.configure_train(round_index, params_to_record(theta), self.config, self.grid))
        replies = list(self.grid.send_and_receive(messages, timeout=self.timeout))
        arrays, _metrics = strategy.aggregate_train(round_index, replies)
        if arrays is None:  # pragma: no cover - aggregate_train raises instead of returning None
            raise RoundError(f"round {round_index}: aggregation produced no global")
        for pid in pids:
            setup.progress.step(f"round {round_index}/{setup.cfg.rounds} {pid}", end_of_round=pid == pids[-1])
        return record_to_params(arrays), strategy.state, dict(strategy.last_results)


def build_server_app(
    cfg: Any,
    inputs: Any,
    out_dir: Path,
    holder: dict[str, Any],
    *,
    show_progress: bool = False,
    timeout: float = 3600.0,
) -> ServerApp:
    """Simulation ServerApp: runs the shared driver; puts the RunResult (or the error) in ``holder``."""
    from lensemble_reference.federation import run_federated

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            holder["result"] = run_federated(
                cfg, inputs, Path(out_dir), show_progress=show_progress, engine=FlowerRounds(grid, timeout=timeout)
            )
        except BaseException as exc:  # noqa: BLE001 - re-raised by run_flower with its type intact
            holder["error"] = exc

    return app


def deployment_main(grid: Grid, context: Context) -> Any:
    """Deployment ServerApp body: config, data and output from the run config (see :mod:`.deploy`)."""
    from lensemble_reference.config import load_config
    from lensemble_reference.controls import world_inputs
    from lensemble_reference.federation import run_federated

    rc = dict(context.run_config)
    out_dir = str(rc.get("out-dir", "")).strip()
    if not out_dir:
        raise ConfigError(
            "run config 'out-dir' is empty", remediation="Pass --run-config 'out-dir=\"/path/to/new/run\"' to flwr run."
        )
    config_path = str(rc.get("config", "")).strip() or None
    control = str(rc.get("control", "anchored"))
    cfg = load_config(config_path, control=control)  # defaults → control overrides → file, as `train`
    if cfg.control not in FEDERATED_CONTROLS:
        raise ConfigError(
            f"control {cfg.control!r} has no federation to deploy; use one of {', '.join(FEDERATED_CONTROLS)}"
        )
    engine = FlowerRounds(grid, timeout=float(rc.get("timeout", 3600.0)), node_wait=float(rc.get("node-wait", 120.0)))
    return run_federated(cfg, world_inputs(cfg), Path(out_dir), engine=engine)


#: Deployment ServerApp (``[tool.flwr.app.components] serverapp``).
app = ServerApp()


@app.main()
def _deployment_entry(grid: Grid, context: Context) -> None:
    deployment_main(grid, context)
