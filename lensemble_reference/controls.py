"""The four controls (RFC-0005 §2) and the embedded default data.

* ``anchored`` / ``naive-fedavg`` — :func:`lensemble_reference.federation.run_federated`; they differ
  only in ``CONTROL_OVERRIDES`` (anchor weight and backstop).
* ``local-only`` — each silo trains its own copy of ``θ_0`` for ``rounds × H`` steps with the
  same objective (anchor weight included) and sketch schedule, and never aggregates. Checkpoints:
  the round-0 global ``θ_0`` and, for every round ``t ≥ 1``, each silo's own model at
  ``checkpoints/<silo>/round-XXXX`` (first parent = ``θ_0``). Records ``t ≥ 1`` have a null
  ``global_hash``, list every silo, carry the MEAN over silos of the probe collapse metrics, the
  MAXIMUM over silos of the drift to the reference, and the pairwise inter-silo drift.
* ``centralized`` — one model on the pooled silos (the upper bound): ``H`` steps per round with a
  batch ``C×`` larger, i.e. the same samples per round as the federation; no outer step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.metrics import derive_seed
from lensemble_spec.protocol import RunResult
from lensemble_spec.verify.recompute import collapse_metrics

from .backstop import encode_numpy
from .config import TrainConfig
from .data import pool_silos
from .federation import RunInputs, RunOptions, anchor_tensors, round_sketch, run_federated, run_prepared
from .participant import Participant
from .records import drift_summary, finish, global_metrics, record_initial_global, record_round
from .resume import restore_participants


def world_inputs(cfg: TrainConfig) -> RunInputs:
    """Training silos + probe of the embedded synthetic arm world for ``cfg.world`` (no held-out)."""
    return world_splits(cfg)[0]


def world_splits(cfg: TrainConfig) -> tuple[RunInputs, Any]:
    """``(RunInputs, held-out Silo)`` of the embedded world; the held-out split is the evaluator's."""
    from lensemble_spec.worlds import make_world

    w = cfg.world
    world = make_world(w.seed, **w.keywords())
    spec = world.spec.to_dict()
    inputs = RunInputs(
        silos=world.silos,
        probe_points=np.asarray(world.probe.points, dtype=np.float32),
        probe_hash=world.probe.probe_hash,
        data_roots=[f"synthetic:{spec.get('version', 'lensemble-spec/synthetic-arm')}?seed={w.seed}"],
        world=spec,
    )
    return inputs, world.heldout


def run_control(
    cfg: TrainConfig,
    inputs: RunInputs,
    out_dir: Path,
    *,
    show_progress: bool = False,
    resume: bool = False,
    command: str = "train",
) -> RunResult:
    """Train ``cfg.control`` into ``out_dir`` (written as ``out_dir.partial`` until complete);
    ``resume`` continues a killed run from its last committed round (:mod:`lensemble_reference.resume`).
    The options are those of :class:`~lensemble_reference.federation.RunOptions`."""
    cfg.validate()
    options = RunOptions(show_progress=show_progress, resume=resume, command=command)
    if cfg.control in ("anchored", "naive-fedavg"):
        return run_federated(cfg, inputs, out_dir, options=options)
    pids = sorted(inputs.silos)
    if cfg.control == "local-only":
        return run_prepared(
            cfg, inputs, out_dir, options, progress_units=cfg.rounds * len(pids),
            rounds=lambda setup: _local_only_rounds(setup, pids),
        )  # fmt: skip
    return run_prepared(
        cfg, inputs, out_dir, options, progress_units=cfg.rounds, rounds=lambda setup: _centralized_rounds(setup, pids)
    )


def _local_only_rounds(setup: Any, pids: list[str]) -> RunResult:
    cfg, inputs = setup.cfg, setup.inputs
    anchor = anchor_tensors(cfg, inputs.probe_points, setup.reference)
    participants = {
        pid: Participant(pid, inputs.silos[pid], cfg, seed=derive_seed(cfg.seed, f"batches/{pid}")) for pid in pids
    }
    models: dict[str, dict[str, np.ndarray]] = {}
    if setup.resumed is None:
        for part in participants.values():
            part.load(setup.theta0)
        theta0_hash = record_initial_global(setup)
        parents = {pid: theta0_hash for pid in pids}
        setup.commit_state(0, participants)
    else:
        t = setup.resumed.round_index
        by_key = {(c["round_index"], c["participant"]): c["content_hash"] for c in setup.writer.checkpoints}
        parents = {}
        for pid in pids:
            params = setup.theta0 if t == 0 else setup.checkpoint_params(t, pid)
            participants[pid].load(params)
            if t > 0:
                models[pid] = params
            parents[pid] = by_key[(0, None)] if t == 0 else by_key[(t, pid)]
        restore_participants(participants, setup.resumed)
    for r in range(setup.start_round or 1, cfg.rounds + 1):
        sketch = round_sketch(cfg, r)
        losses = []
        for pid in pids:
            losses.append(participants[pid].train(cfg.inner_steps, sketch, anchor))
            models[pid] = participants[pid].params()
            parents[pid] = setup.writer.commit(models[pid], round_index=r, parent_hash=parents[pid], participant=pid)
            setup.progress.step(f"round {r}/{cfg.rounds} {pid}", end_of_round=pid == pids[-1])
        embs = {pid: encode_numpy(cfg.model, models[pid], inputs.probe_points) for pid in pids}
        per_silo = {pid: collapse_metrics(z) for pid, z in embs.items()}
        metrics: dict[str, Any] = {}
        for key in ("effective_rank", "effective_dim", "latent_std_mean", "latent_rms"):
            values = [per_silo[p][key] for p in pids]
            metrics[key] = None if any(v is None for v in values) else float(np.mean(values))
        drift = drift_summary(embs, setup.reference)
        to_ref = list(drift["to_reference"].values())
        metrics["drift_to_reference_deg"] = None if any(v is None for v in to_ref) else float(max(to_ref))
        metrics["drift_pairwise_mean_deg"] = drift["pairwise_mean"]
        metrics["drift_pairwise_max_deg"] = drift["pairwise_max"]
        metrics["drift_degenerate"] = drift["degenerate"]
        metrics["train_loss"] = float(np.mean([l.total for l in losses]))
        metrics["sigreg"] = float(np.mean([l.sigreg for l in losses]))
        for pid in pids:
            metrics[f"drift_to_reference_deg/{pid}"] = drift["to_reference"][pid]
        record_round(setup, round_index=r, participants=pids, global_hash=None, parent_hash=None, metrics=metrics)
        setup.commit_state(r, participants)
    return finish(setup, final_params=None, participant_params=models)


def _centralized_rounds(setup: Any, pids: list[str]) -> RunResult:
    cfg, inputs = setup.cfg, setup.inputs
    anchor = anchor_tensors(cfg, inputs.probe_points, setup.reference)
    pooled = pool_silos(inputs.silos)
    part = Participant(
        "pooled", pooled, cfg, seed=derive_seed(cfg.seed, "batches/pooled"), batch_size=cfg.batch_size * len(pids)
    )
    if setup.resumed is None:
        theta = setup.theta0
        part.load(theta)
        parent = record_initial_global(setup)
        setup.commit_state(0, {"pooled": part})
    else:
        theta = setup.checkpoint_params(setup.resumed.round_index)
        part.load(theta)
        parent = setup.records[-1]["global_hash"]
        restore_participants({"pooled": part}, setup.resumed)
    for r in range(setup.start_round or 1, cfg.rounds + 1):
        loss = part.train(cfg.inner_steps, round_sketch(cfg, r), anchor)
        theta = part.params()
        setup.progress.step(f"round {r}/{cfg.rounds} pooled", end_of_round=True)
        global_hash = setup.writer.commit(theta, round_index=r, parent_hash=parent)
        metrics = global_metrics(setup, theta)
        metrics["train_loss"] = loss.total
        metrics["sigreg"] = loss.sigreg
        record_round(
            setup, round_index=r, participants=pids, global_hash=global_hash, parent_hash=parent, metrics=metrics
        )
        parent = global_hash
        setup.commit_state(r, {"pooled": part})
    return finish(setup, final_params=theta)
