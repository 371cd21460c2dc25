"""In-process federation: run setup, the participant round, the federated round loop, records.

Round ``r = 1 … R`` of the federated controls (anchored, naive-fedavg), RFC-0003 §4:

1. every participant (sorted ids) copies the global ``θ_{r−1}`` into its module and runs ``H``
   inner AdamW steps on its own silo (:func:`participant_round`), with the round's shared sketch
   ``build_sketch(round_sketch_seed(seed, r), d, m)`` and, when ``λ_anc > 0``, the fixed round-0
   landmark anchor;
2. backstop (when enabled): ``Q* = align(f_c(P), T_0)``; if the drift angle exceeds the
   threshold the participant releases ``rotate(θ + Δ, Q*) − θ`` instead of ``Δ``; a degenerate
   frame is released unaligned and flagged (RFC-0002 §5);
3. residency: a released update may only name ``encoder.*`` / ``predictor.*``;
4. the coordinator applies the pure outer step twice and commits only if both agree bit for bit
   (``outer.checked_outer_step``);
5. aligning (when the backstop is enabled): the coordinator measures the aggregate's drift to the
   reference and, above the backstop threshold, commits ``rotate(θ_agg, Q*)`` with
   ``Q* = align(f_agg(P), T_0)`` instead (:func:`align_aggregate`) — a gauge transformation, so
   the committed global computes the same function in the reference frame;
6. the checkpoint is written (parent = previous global) and the round record appended.

Why step 5 (issue #14): the participant backstop aligns each released *function* to the
reference, but the outer step averages *weights*. Only the frame layer and the predictor's
interface are rotated; the layers below differ between participants, so the average of aligned
models is not the average of aligned embeddings and its frame is not pinned (the measurements
are in ``docs/reference-defaults.md``). The coordinator is the party that commits the global, so
the frame is pinned where it is committed. The pre-alignment drift stays visible as the
``aggregate_drift_to_reference_deg`` series, and the scale loss of incoherent averaging is not
hidden (it is a rotation: scale, rank and held-out metrics are unchanged by it).

Round 0 commits the seeded, probe-whitened initial global ``θ_0`` (parent None). The anchor
targets — ``probe.safetensors`` ``targets`` — are ``f_{θ_0}(P)``, computed once here and never
refreshed, so anyone can recompute them from checkpoint ``round-0000``.

Round records (RFC-0005 §4.1) hold only what a run can see: collapse metrics of the committed
global's PROBE embedding, its drift to the reference, the pairwise drift of the released
participants, and the training figures (``train_loss``, ``sigreg``). Held-out metrics are left
null; the evaluator (:mod:`lensemble_reference.evaluate`) computes them from the checkpoints.

The round engine is a seam (:class:`RoundEngine`): :class:`InProcessRounds` runs participants in
this process; ``lensemble_reference.flower`` plugs in Flower with the same driver, so both engines
commit the same bits.

Seeds (all ``lensemble_spec.metrics.derive_seed(seed, label)``): ``init`` for ``θ_0``,
``batches/<silo>`` for a participant's window sampler; ``round_sketch_seed(seed, r)`` =
``derive_seed(seed, f"sketch:{r}")`` for the training sketch of round ``r``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from lensemble_spec.artifacts import config_hash
from lensemble_spec.artifacts.staging import discard_on_error
from lensemble_spec.errors import ConfigError, DegenerateProcrustes, ProbeError, QuorumNotMet
from lensemble_spec.metrics import build_sketch, derive_seed, round_sketch_seed
from lensemble_spec.protocol import RunResult, Silo

from .artifacts import RunWriter, load_probe
from .backstop import align_to_reference, encode_numpy, redifference, should_fire
from .config import TrainConfig
from .model import calibrate_init, init_params
from .objective import AnchorTensors
from .outer import OuterState, check_releasable, checked_outer_step, outer_init
from .participant import LossSummary, Participant, deterministic_torch
from .progress import Progress
from .records import drift_summary, finish, global_metrics, record_initial_global, record_round
from .resume import (
    ResumeState,
    load_state,
    restore_participants,
    save_state,
    write_request,
)


@dataclass
class RunInputs:
    """What a run may see: training silos, the public probe and provenance (never the held-out split)."""

    silos: Mapping[str, Silo]
    probe_points: np.ndarray
    probe_hash: str
    data_roots: list[str]
    world: dict[str, Any] | None = None  # WorldSpec.to_dict() of the embedded world, if any


@dataclass
class Setup:
    cfg: TrainConfig
    inputs: RunInputs
    writer: RunWriter
    theta0: dict[str, np.ndarray]
    reference: np.ndarray
    progress: Progress
    series: dict[str, list[Any]] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    resumed: ResumeState | None = None  # the state of a killed run this one continues
    command: str = "train"  # what `--resume` belongs to (verify's hint for a partial run)

    @property
    def start_round(self) -> int:
        """The first round still to run: 0 for a fresh run, ``t + 1`` after a resumed round ``t``."""
        return 0 if self.resumed is None else self.resumed.round_index + 1

    def checkpoint_params(self, round_index: int, participant: str | None = None) -> dict[str, np.ndarray]:
        """The committed weights of a round (for resuming: what the model was after it)."""
        from lensemble_spec.artifacts.checkpoint import load_checkpoint
        from lensemble_spec.artifacts.rundir import checkpoint_path

        return load_checkpoint(self.writer.run_dir / checkpoint_path(round_index, participant))[0]

    def commit_state(
        self, round_index: int, participants: Mapping[str, Any] | None, outer: OuterState | None = None
    ) -> None:
        """Save what resuming after ``round_index`` needs (:mod:`lensemble_reference.resume`)."""
        if participants is None:  # an engine whose participants live elsewhere (Flower): not resumable
            return
        save_state(
            self.writer.run_dir,
            command=self.command,
            round_index=round_index,
            config=self.writer.config,
            config_hash=self.writer.config_hash,
            checkpoints=list(self.writer.checkpoints),
            series=self.series,
            participants=participants,
            outer=outer,
        )

    def add_series(self, key: str, round_index: int, value: Any) -> None:
        values = self.series.setdefault(key, [])
        while len(values) < round_index:
            values.append(None)
        values.append(value)


def round_sketch(cfg: TrainConfig, round_index: int) -> torch.Tensor:
    seed = round_sketch_seed(cfg.seed, round_index)
    return torch.from_numpy(np.asarray(build_sketch(seed, cfg.model.latent_dim, cfg.sketch_dim), dtype=np.float32))


def anchor_tensors(cfg: TrainConfig, points: np.ndarray, targets: np.ndarray) -> AnchorTensors | None:
    """The training anchor for ``cfg`` (None when ``lambda_anchor`` is 0)."""
    if cfg.lambda_anchor <= 0:
        return None
    return AnchorTensors(
        points=torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32)),
        targets=torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32)),
        weight=float(cfg.lambda_anchor),
        variant=cfg.anchor_variant,
    )


def check_probe(cfg: TrainConfig, points: np.ndarray) -> None:
    """GAUGE-022: a probe with fewer points than latent dimensions cannot pin a frame."""
    k, d = int(np.shape(points)[0]), cfg.model.latent_dim
    if k < d and (cfg.lambda_anchor > 0 or cfg.backstop):
        raise ProbeError(
            f"the probe has {k} points but the latent has {d} dimensions; k >= d is needed to pin a frame",
            remediation="Use a probe with at least latent_dim points (world.probe_size) or a smaller latent_dim.",
        )


def initial_global(cfg: TrainConfig, probe_points: np.ndarray) -> dict[str, np.ndarray]:
    """``θ_0``: seeded init (``derive_seed(seed, "init")``) whitened on the public probe."""
    return calibrate_init(cfg.model, init_params(cfg.model, derive_seed(cfg.seed, "init")), probe_points)


@dataclass(frozen=True)
class RunOptions:
    """How a run is driven, not what it trains (so not part of the config or its hash).

    ``show_progress`` draws a progress bar on stderr; ``resume`` continues the killed run whose
    ``OUT.partial`` exists from its last committed round; ``command`` is the command a later
    ``--resume`` belongs to (``train`` or ``headline``), recorded for ``verify``'s hint.
    """

    show_progress: bool = False
    resume: bool = False
    command: str = "train"


def prepare(
    cfg: TrainConfig, inputs: RunInputs, out_dir: Path, *, progress_units: int, options: RunOptions = RunOptions()
) -> Setup:
    """Validate, claim the run directory (``OUT.partial``) and set up round 0 — or, with
    ``options.resume``, reopen a killed run's directory at its last committed round."""
    resume, command = options.resume, options.command
    cfg.validate()
    deterministic_torch(cfg.threads)
    points = np.asarray(inputs.probe_points, dtype=np.float32)
    check_probe(cfg, points)
    config = cfg.to_dict()
    run_id = f"{cfg.control}-{config_hash(config)[:12]}"
    writer = RunWriter(out_dir, run_id=run_id, control=cfg.control, config=config, resume=resume)
    state = load_state(writer.run_dir) if resume else None
    if state is not None and state.doc.get("config_hash") != writer.config_hash:
        raise ConfigError(
            f"{writer.run_dir} was started with another configuration (config_hash {state.doc.get('config_hash')})",
            remediation="Resume with the same configuration the run was started with, or delete the partial run.",
        )
    progress = Progress(progress_units, label=f"{cfg.control:>12}", enabled=options.show_progress)
    with discard_on_error(writer.run_dir) if not resume else contextlib.nullcontext():
        if state is None:
            if resume:
                writer.rollback(None)  # nothing was committed: start over
            else:
                write_request(writer.run_dir, config=config, command=command)
            theta0 = initial_global(cfg, points)
            check_releasable(theta0, who="global params")
            reference = encode_numpy(cfg.model, theta0, points)
            writer.write_probe(points, reference)
            return Setup(cfg, inputs, writer, theta0, reference, progress, command=command)
        records = writer.rollback(state.round_index, state.checkpoints)
        setup = Setup(cfg, inputs, writer, {}, load_probe(writer.run_dir)[1], progress, command=command)
        setup.theta0 = setup.checkpoint_params(0)
        setup.series, setup.records, setup.resumed = state.series, records, state
        progress.done = min(progress.total, progress.total * state.round_index // max(cfg.rounds, 1))
        return setup


# --- the participant round and the round-engine seam -----------------------------------------------
@dataclass
class LocalResult:
    """What one participant releases in one round, plus the diagnostics the coordinator records.

    ``delta`` is the released update (after the backstop, if it fired); ``raw_embedding`` and
    ``released_embedding`` are the probe embeddings of the local model before and after alignment
    (equal when the backstop did not fire); ``backstop_fired``/``backstop_angle_deg`` are None
    when the backstop is off, and ``(False, None)`` for a degenerate frame.
    """

    delta: dict[str, np.ndarray]
    loss: LossSummary
    raw_embedding: np.ndarray
    released_embedding: np.ndarray
    backstop_fired: bool | None = None
    backstop_angle_deg: float | None = None


def participant_round(
    cfg: TrainConfig,
    part: Participant,
    theta: Mapping[str, np.ndarray],
    *,
    round_index: int,
    anchor: AnchorTensors | None,
    probe_points: np.ndarray,
    reference: np.ndarray,
) -> LocalResult:
    """Load ``θ``, train ``H`` steps, backstop (if enabled), release ``Δ = θ_released − θ``."""
    part.load(theta)
    loss = part.train(cfg.inner_steps, round_sketch(cfg, round_index), anchor)
    local = part.params()
    raw = encode_numpy(cfg.model, local, probe_points)
    released, released_emb = local, raw
    fired: bool | None = None
    angle: float | None = None
    if cfg.backstop:
        try:
            alignment = align_to_reference(cfg.model, local, probe_points, reference)
        except DegenerateProcrustes:
            fired = False  # released unaligned; the record flags drift_degenerate (RFC-0002 §5)
        else:
            angle = alignment.angle_deg
            fired = should_fire(alignment, cfg.backstop_threshold_deg)
            if fired:
                released = alignment.params
                released_emb = encode_numpy(cfg.model, released, probe_points)
    delta = redifference(theta, released)
    check_releasable(delta, who=f"delta of {part.name}")
    return LocalResult(delta, loss, raw, released_emb, fired, angle)


class RoundEngine(Protocol):
    """Runs the participants of a round and the outer step; the driver does everything else."""

    def start(self, setup: Setup, pids: list[str]) -> None: ...

    def run_round(
        self, setup: Setup, theta: dict[str, np.ndarray], state: OuterState, round_index: int, pids: list[str]
    ) -> tuple[dict[str, np.ndarray], OuterState, dict[str, LocalResult]]: ...


class InProcessRounds:
    """Every participant in this process, one after another (sorted ids)."""

    def __init__(self) -> None:
        self.participants: dict[str, Participant] = {}
        self.anchor: AnchorTensors | None = None

    def start(self, setup: Setup, pids: list[str]) -> None:
        cfg = setup.cfg
        self.anchor = anchor_tensors(cfg, setup.inputs.probe_points, setup.reference)
        self.participants = {
            pid: Participant(pid, setup.inputs.silos[pid], cfg, seed=derive_seed(cfg.seed, f"batches/{pid}"))
            for pid in pids
        }

    def local_round(
        self, setup: Setup, theta: dict[str, np.ndarray], round_index: int, pids: list[str]
    ) -> dict[str, LocalResult]:
        """What every participant releases in round ``round_index`` (sorted ids, one after another)."""
        cfg = setup.cfg
        results: dict[str, LocalResult] = {}
        for pid in pids:
            results[pid] = participant_round(
                cfg,
                self.participants[pid],
                theta,
                round_index=round_index,
                anchor=self.anchor,
                probe_points=setup.inputs.probe_points,
                reference=setup.reference,
            )
            setup.progress.step(f"round {round_index}/{cfg.rounds} {pid}", end_of_round=pid == pids[-1])
        return results

    def aggregate(
        self, setup: Setup, theta: dict[str, np.ndarray], state: OuterState, deltas: dict[str, dict[str, np.ndarray]]
    ) -> tuple[dict[str, np.ndarray], OuterState]:
        """The coordinator's checked outer step (RFC-0003 §5) over the released deltas."""
        outer = setup.cfg.outer
        new_theta, new_state, _digest = checked_outer_step(
            theta, deltas, state, lr=outer.lr, momentum=outer.momentum, nesterov=outer.nesterov
        )
        return new_theta, new_state

    def run_round(
        self, setup: Setup, theta: dict[str, np.ndarray], state: OuterState, round_index: int, pids: list[str]
    ) -> tuple[dict[str, np.ndarray], OuterState, dict[str, LocalResult]]:
        results = self.local_round(setup, theta, round_index, pids)
        new_theta, new_state = self.aggregate(setup, theta, state, {p: r.delta for p, r in results.items()})
        return new_theta, new_state, results


def align_aggregate(setup: Setup, theta: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], float | None, bool]:
    """Step 5 above: ``(committed global, aggregate drift to the reference, aligned?)``.

    A degenerate aggregate frame is committed unaligned (drift None; the record flags it).
    """
    cfg = setup.cfg
    try:
        alignment = align_to_reference(cfg.model, theta, setup.inputs.probe_points, setup.reference)
    except DegenerateProcrustes:
        return theta, None, False
    if not should_fire(alignment, cfg.backstop_threshold_deg):
        return theta, alignment.angle_deg, False
    return alignment.params, alignment.angle_deg, True


def run_prepared(
    cfg: TrainConfig,
    inputs: RunInputs,
    out_dir: Path,
    options: RunOptions,
    *,
    progress_units: int,
    rounds: Callable[[Setup], RunResult],
) -> RunResult:
    """:func:`prepare` the run, then ``rounds(setup)``; an exception deletes the partial run
    (a kill leaves it, to be resumed). Every control's driver runs through here."""
    setup = prepare(cfg, inputs, out_dir, progress_units=progress_units, options=options)
    with discard_on_error(setup.writer.run_dir):
        return rounds(setup)


def run_federated(
    cfg: TrainConfig,
    inputs: RunInputs,
    out_dir: Path,
    *,
    options: RunOptions = RunOptions(),
    engine: RoundEngine | None = None,
) -> RunResult:
    """Anchored or naive-fedavg (the difference is entirely in ``cfg``; see CONTROL_OVERRIDES)."""
    pids = sorted(inputs.silos)
    if len(pids) < cfg.min_participants:
        raise QuorumNotMet(f"{len(pids)} silo(s) given, fewer than min_participants = {cfg.min_participants}")
    rounds = engine or InProcessRounds()
    return run_prepared(
        cfg, inputs, out_dir, options, progress_units=cfg.rounds * len(pids),
        rounds=lambda setup: _federated_rounds(setup, pids, rounds),
    )  # fmt: skip


def _federated_rounds(setup: Setup, pids: list[str], engine: RoundEngine) -> RunResult:
    cfg = setup.cfg
    if setup.resumed is None:
        theta = setup.theta0
        state = outer_init(theta)
        parent = record_initial_global(setup)
        engine.start(setup, pids)
        setup.commit_state(0, getattr(engine, "participants", None), state)
    else:
        t = setup.resumed.round_index
        theta = setup.checkpoint_params(t)
        outer_doc = setup.resumed.doc["outer"]
        velocity = {k[len("outer/") :]: v for k, v in setup.resumed.tensors.items() if k.startswith("outer/")}
        state = OuterState(
            velocity=dict(sorted(velocity.items())), steps=int(outer_doc["steps"]), meta=dict(outer_doc["meta"])
        )
        parent = setup.records[-1]["global_hash"]
        engine.start(setup, pids)
        parts = getattr(engine, "participants", None)
        if parts is None:
            raise ConfigError("this round engine cannot resume a run", remediation="Resume with the in-process engine.")
        restore_participants(parts, setup.resumed)
    for r in range(setup.start_round or 1, cfg.rounds + 1):
        theta, state, results = engine.run_round(setup, theta, state, r, pids)
        if len(results) < cfg.min_participants:
            raise QuorumNotMet(
                f"round {r}: {len(results)} update(s), fewer than min_participants = {cfg.min_participants}"
            )
        aggregate_drift, coordinator_aligned = None, False
        if cfg.backstop:
            theta, aggregate_drift, coordinator_aligned = align_aggregate(setup, theta)
        global_hash = setup.writer.commit(theta, round_index=r, parent_hash=parent)
        metrics = global_metrics(setup, theta)
        released = drift_summary({p: res.released_embedding for p, res in results.items()}, None)
        raw = drift_summary({p: res.raw_embedding for p, res in results.items()}, setup.reference)
        metrics["drift_pairwise_mean_deg"] = released["pairwise_mean"]
        metrics["drift_pairwise_max_deg"] = released["pairwise_max"]
        backstop_degenerate = any(
            res.backstop_fired is False and res.backstop_angle_deg is None for res in results.values()
        )
        metrics["drift_degenerate"] = bool(metrics["drift_degenerate"] or released["degenerate"] or backstop_degenerate)
        losses = [res.loss for res in results.values()]
        metrics["train_loss"] = float(np.mean([l.total for l in losses]))
        metrics["sigreg"] = float(np.mean([l.sigreg for l in losses]))
        metrics["train_pred"] = float(np.mean([l.pred for l in losses]))
        metrics["train_anchor"] = float(np.mean([l.anchor for l in losses]))
        metrics["raw_pairwise_mean_deg"] = raw["pairwise_mean"]
        raw_ref = [v for v in raw["to_reference"].values()]
        metrics["raw_to_reference_max_deg"] = None if any(v is None for v in raw_ref) else float(max(raw_ref))
        fired = {p: bool(res.backstop_fired) for p, res in results.items() if res.backstop_fired is not None}
        metrics["backstop_fired_count"] = float(sum(fired.values()))
        if cfg.backstop:
            metrics["aggregate_drift_to_reference_deg"] = aggregate_drift
            metrics["coordinator_aligned"] = float(coordinator_aligned)
        record_round(
            setup,
            round_index=r,
            participants=list(results),
            global_hash=global_hash,
            parent_hash=parent,
            metrics=metrics,
            backstop_fired=fired,
        )
        parent = global_hash
        setup.commit_state(r, getattr(engine, "participants", None), state)
    return finish(setup, final_params=theta)
