"""The coordinator side: a round engine over a Flower ``Grid`` and the ``ServerApp``s using it.

:class:`FlowerRounds` implements the round-engine seam of
:func:`lensemble_reference.federation.run_federated` (``start`` / ``run_round``), so the shared
driver keeps doing everything else (seeded ``θ_0``, round-0 commit, probe reference, held-out
evaluation, checkpoints, round records, manifest) exactly as in-process:

* ``start`` — wait until ``len(pids)`` nodes are connected, send each a ``query`` and map node
  ids to participant ids from the answers (they must be exactly the run's participants), then
  hand the strategy the participants and the anchor (probe points, round-0 targets);
* ``run_round`` — query any node that connected since (a restarted SuperNode rejoins under its
  participant id), ``configure_train`` → ``grid.send_and_receive`` → ``aggregate_train`` (the
  strategy's checked outer step over the participants that replied, at least the quorum
  ``min_participants``), and return ``(θ', state', results)`` to the driver, whose round
  record lists exactly the contributing participants.

Two ServerApps use it: :func:`build_server_app` (simulation; the run's config, data and output
directory are closed over in-process) and the module-level ``app`` (deployment via ``flwr run``;
everything comes from the run config, see :mod:`.deploy`). The deployment ServerApp never holds a
site's data: it discovers the sites first (:func:`discover_sites`: participant ids and the data
fingerprints they report), takes the public probe from a hash-pinned file (run config ``probe``
and ``probe-hash``) or from the synthetic world, and records every site's fingerprint in the
manifest's ``data_roots`` (:func:`.sites.site_data_root`).
"""

from __future__ import annotations

import json
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
    return {node: participant for node, (participant, _site) in discover_sites(grid, nodes, config, timeout).items()}


def discover_sites(
    grid: Grid, nodes: list[int], config: ConfigRecord, timeout: float
) -> dict[int, tuple[str, dict[str, Any]]]:
    """``{node id: (participant, site description)}`` from ``query`` replies (see :mod:`.sites`)."""
    messages = [
        Message(
            content=RecordDict({CONFIG: config}), dst_node_id=node, message_type=MessageType.QUERY, group_id="discover"
        )
        for node in nodes
    ]
    mapping: dict[int, tuple[str, dict[str, Any]]] = {}
    for reply in grid.send_and_receive(messages, timeout=timeout):
        node = int(reply.metadata.src_node_id)
        if reply.has_error():
            raise RoundError(f"node {node} could not identify its silo: {short_reason(reply.error.reason)}")
        conf = reply.content[CONFIG]
        site = json.loads(str(conf["site"])) if "site" in conf else {}
        mapping[node] = (str(conf["participant"]), site)
    silent = sorted(set(nodes) - set(mapping))
    if silent:
        raise QuorumNotMet(f"{len(silent)} node(s) did not answer the discovery query within {timeout:.0f} s")
    return mapping


class FlowerRounds:
    """Round engine over a Flower Grid (see module docstring)."""

    def __init__(
        self,
        grid: Grid,
        strategy: AnchoredDiLoCo | None = None,
        *,
        timeout: float = 3600.0,
        node_wait: float = 120.0,
        rejoin_wait: float = 0.0,
    ) -> None:
        self.grid = grid
        self.rejoin_wait = float(rejoin_wait)
        self.strategy = strategy
        self.timeout = float(timeout)
        self.node_wait = float(node_wait)
        self.config = ConfigRecord()
        self.sites: dict[int, tuple[str, dict[str, Any]]] | None = None  # set by a prior discovery
        self.dropped: dict[int, dict[str, str]] = {}  # round → participant → why it did not contribute

    def discover(self, cfg: Any, count: int) -> dict[int, tuple[str, dict[str, Any]]]:
        """Wait for ``count`` nodes and ask each which site it is (before the driver starts)."""
        self.config = ConfigRecord({"train-config": config_to_json(cfg)})
        nodes = wait_for_nodes(self.grid, count, self.node_wait)
        self.sites = discover_sites(self.grid, nodes, self.config, self.timeout)
        return self.sites

    def start(self, setup: Any, pids: list[str]) -> None:
        cfg = setup.cfg
        if self.strategy is None:
            self.strategy = AnchoredDiLoCo.from_config(cfg)
        self.config = ConfigRecord({"train-config": config_to_json(cfg)})
        if self.sites is None:
            nodes = wait_for_nodes(self.grid, len(pids), self.node_wait)
            self.sites = discover_sites(self.grid, nodes, self.config, self.timeout)
        mapping = {node: participant for node, (participant, _site) in self.sites.items()}
        claimed = sorted(mapping.values())
        if claimed != sorted(pids):
            raise RoundError(
                f"connected nodes hold {claimed}, the run's participants are {sorted(pids)}",
                remediation="Start exactly one SuperNode per silo of this run (partition-id 0..N-1 or silo-file).",
            )
        self.strategy.set_participants(mapping)
        self.strategy.set_anchor(np.asarray(setup.inputs.probe_points), np.asarray(setup.reference))

    def refresh_nodes(self, pids: list[str]) -> None:
        """Query nodes that connected since the last round; a node holding one of ``pids`` takes
        that participant over (a restarted SuperNode). Unknown participants are ignored.

        With ``rejoin_wait > 0`` it first waits up to that many seconds while fewer nodes are
        online than participants (a site restarting after a crash), then proceeds regardless."""
        strategy = self.strategy
        assert strategy is not None
        known = set(strategy.participants)
        deadline = time.monotonic() + self.rejoin_wait
        online = sorted(int(n) for n in self.grid.get_node_ids())
        while len(online) < len(pids) and time.monotonic() < deadline:
            time.sleep(POLL_S)
            online = sorted(int(n) for n in self.grid.get_node_ids())
        new = [n for n in online if n not in known]
        if not new:
            return
        try:
            found = discover_sites(self.grid, new, self.config, min(self.timeout, self.node_wait))
        except (RoundError, QuorumNotMet):
            return  # a node that cannot identify itself yet is asked again next round
        mapping = dict(strategy.participants)
        for node, (participant, _site) in found.items():
            if participant in pids:
                mapping = {k: v for k, v in mapping.items() if v != participant}
                mapping[node] = participant
        strategy.set_participants(mapping)

    def run_round(
        self, setup: Any, theta: dict[str, np.ndarray], state: Any, round_index: int, pids: list[str]
    ) -> tuple[dict[str, np.ndarray], Any, dict[str, Any]]:
        strategy = self.strategy
        if strategy is None:
            raise RoundError("run_round called before start")
        if round_index > 1:
            self.refresh_nodes(pids)
        strategy.state = state
        messages = list(strategy.configure_train(round_index, params_to_record(theta), self.config, self.grid))
        by_node = dict(strategy.participants)
        replies = list(self.grid.send_and_receive(messages, timeout=self.timeout))
        strategy.sent = {
            m.metadata.message_id: by_node[int(m.metadata.dst_node_id)]
            for m in messages
            if int(m.metadata.dst_node_id) in by_node
        }
        try:
            arrays, _metrics = strategy.aggregate_train(round_index, replies)
        finally:
            if strategy.last_dropped:
                self.dropped[round_index] = dict(strategy.last_dropped)
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
    from lensemble_reference.federation import RunOptions, run_federated

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            holder["result"] = run_federated(
                cfg,
                inputs,
                Path(out_dir),
                options=RunOptions(show_progress=show_progress),
                engine=FlowerRounds(grid, timeout=timeout),
            )
        except BaseException as exc:  # noqa: BLE001 - re-raised by run_flower with its type intact
            holder["error"] = exc

    return app


class RemoteSilo:
    """Stands for a site's silo on the coordinator: the name only (the data stays on the site)."""

    def __init__(self, name: str) -> None:
        self.name = name


def load_probe_file(path: str, pinned: str) -> np.ndarray:
    """The public probe's points from a safetensors file (tensor ``points``), checked against the pin."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from lensemble_spec.artifacts import probe_hash
    from lensemble_spec.errors import ProbeError

    try:
        points = load_file(path)["points"]
    except (OSError, KeyError, SafetensorError) as exc:
        raise ProbeError(
            f"probe file {path} is unreadable or has no 'points' tensor: {exc}",
            remediation="Write it with `python -m lensemble_reference.flower.deploy probe`.",
        ) from exc
    got = probe_hash(points)
    if not pinned or got != pinned:
        raise ProbeError(
            f"probe file {path} hashes to {got}, the run config pins {pinned or '(nothing)'}",
            remediation="Set run config 'probe-hash' to the hash the probe's publisher announced (and check the file).",
        )
    return points


def deployment_inputs(cfg: Any, sites: dict[int, tuple[str, dict[str, Any]]], probe: str, pinned: str) -> Any:
    """RunInputs of a deployment: the sites' names and fingerprints, the public probe, no data."""
    from lensemble_reference.controls import world_inputs
    from lensemble_reference.federation import RunInputs

    from .sites import SITES_SCHEMA, site_data_root

    by_site = {participant: site for participant, site in sites.values()}
    roots = [site_data_root(p, by_site[p]) for p in sorted(by_site)]
    silos = {p: RemoteSilo(p) for p in sorted(by_site)}
    if probe:
        points = load_probe_file(probe, pinned)
        from lensemble_spec.artifacts import probe_hash

        world = {
            "schema": SITES_SCHEMA,
            "sites": {p: by_site[p] for p in sorted(by_site)},
            "probe": {"file": Path(probe).name, "probe_hash": pinned},
        }
        return RunInputs(silos=silos, probe_points=points, probe_hash=probe_hash(points), data_roots=roots, world=world)
    synthetic = world_inputs(cfg)  # the demo: the probe (and held-out spec) of the synthetic world
    return RunInputs(
        silos=silos,
        probe_points=synthetic.probe_points,
        probe_hash=synthetic.probe_hash,
        data_roots=roots,
        world=synthetic.world,
    )


def deployment_main(grid: Grid, context: Context) -> Any:
    """Deployment ServerApp body: config, data and output from the run config (see :mod:`.deploy`)."""
    from lensemble_reference.config import load_config
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
    engine = FlowerRounds(
        grid,
        timeout=float(rc.get("timeout", 3600.0)),
        node_wait=float(rc.get("node-wait", 120.0)),
        rejoin_wait=float(rc.get("rejoin-wait", 0.0)),
    )
    count = int(rc.get("sites", 0)) or len(cfg_silo_names(cfg))
    sites = engine.discover(cfg, count)
    inputs = deployment_inputs(cfg, sites, str(rc.get("probe", "")).strip(), str(rc.get("probe-hash", "")).strip())
    return run_federated(cfg, inputs, Path(out_dir), engine=engine)


def cfg_silo_names(cfg: Any) -> list[str]:
    """The silo names of ``cfg``'s synthetic world (how many SuperNodes the demo waits for)."""
    from lensemble_reference.controls import world_inputs

    return sorted(world_inputs(cfg).silos)


#: Deployment ServerApp (``[tool.flwr.app.components] serverapp``).
app = ServerApp()


@app.main()
def _deployment_entry(grid: Grid, context: Context) -> None:
    deployment_main(grid, context)
