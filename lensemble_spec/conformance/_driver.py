"""Federated runs the harness drives itself, through an implementation's primitives (RFC-0003).

An implementation that exposes the model part (``init``/``encode``) and the federation primitives
(``local_update``, ``outer_init``/``outer_step``, ``align_release``) is run by the harness as
RFC-0003 describes, and the run is written as an RFC-0010 run directory through
:class:`lensemble_spec.artifacts.rundir.RunDirWriter`. Every run-level requirement is then checked
on it exactly as on a directory given with ``--run`` — so an implementation that never writes
the run format is judged on drift bounds per round, rank and scale non-collapse and verdicts.

The harness is the coordinator of these runs; the implementation supplies every number:

* ``θ_0 = model.init(seed)``; the anchor targets ``T_0 = encode(θ_0, P)`` on the pinned probe
  ``P``, computed once (RFC-0002 §4) and stored in ``probe.safetensors``;
* round ``r = 1 … R`` of the federated controls (``anchored``, ``naive-fedavg``): each silo, in
  sorted order, ``Δ_p = local_update(θ_{r−1}, silo_p, steps=H, seed=s_{p,r}, round_index=r,
  anchor=(P, T_0, λ_anchor) if λ_anchor > 0, sketch=A_r)`` (the sketch only when ``local_update``
  declares that parameter, RFC-0003 §6); with the backstop on, the participant's local model
  ``θ + Δ_p`` is measured against ``T_0`` and, above the threshold, released as
  ``align_release(θ, θ + Δ_p, P, T_0)`` (a degenerate frame is released unaligned and flagged,
  RFC-0002 §5); then ``θ_r, state = outer_step(θ_{r−1}, {p: Δ_p}, state, outer)``;
* ``local-only``: each silo adds its own ``local_update`` deltas to its own copy of ``θ_0`` and
  never aggregates; ``centralized``: one model trained by ``local_update`` on the pooled silos,
  no outer step (RFC-0005 §2).

``s_{p,r} = derive_seed(seed, f"local/{p}/{r}")``. Round records carry the collapse metrics and the
drift of the committed model's probe embedding, computed by ``lensemble_spec.verify.recompute``
(the verifier's own definitions), plus the pairwise drift of the released models. Parameters are
added as arrays (``θ + Δ`` in the parameter's dtype), which the protocol's delta contract allows.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

import lensemble_spec
from lensemble_spec.artifacts import probe_hash as library_probe_hash
from lensemble_spec.artifacts.rundir import RunDirWriter
from lensemble_spec.errors import (
    ConfigError,
    DegenerateProcrustes,
    LensembleError,
    QuorumNotMet,
)
from lensemble_spec.metrics import build_sketch, derive_seed, frame_drift, round_sketch_seed
from lensemble_spec.protocol import (
    CONTROLS,
    FederationConfig,
    FrameAnchor,
    LocalConfig,
    ObjectiveWeights,
    Probe,
    RunResult,
    Silo,
    local_update_takes_sketch,
)
from lensemble_spec.verify.recompute import drift_to_reference, embed, record_metrics

from . import _assertions as check
from . import bounds

PRODUCER = {"name": "lensemble-spec/conformance-harness", "version": lensemble_spec.__version__}
FEDERATED = ("anchored", "naive-fedavg")
#: Members a federation part needs for the harness to drive runs through it.
PRIMITIVES = ("local_update", "outer_init", "outer_step", "align_release")


def can_drive(model: Any, federation: Any) -> bool:
    """True when the implementation exposes every primitive a harness-driven run needs."""
    return (
        model is not None
        and federation is not None
        and all(callable(getattr(model, m, None)) for m in ("init", "encode"))
        and all(callable(getattr(federation, m, None)) for m in PRIMITIVES)
    )


def _arrays(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {str(k): check.as_array(v) for k, v in params.items()}


def _add(params: Mapping[str, np.ndarray], delta: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``θ + Δ`` per name, in ``θ``'s dtype (the protocol's delta contract)."""
    out = {}
    for k, v in params.items():
        if k not in delta:
            raise ConfigError(f"the delta has no entry {k!r} (a delta names every parameter it is added to)")
        out[k] = (v + check.as_array(delta[k]).astype(v.dtype, copy=False)).astype(v.dtype, copy=False)
    return out


def _sub(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: (a[k] - b[k]).astype(b[k].dtype, copy=False) for k in b}


def _pooled(silos: Mapping[str, Silo]) -> Silo:
    ordered = [silos[k] for k in sorted(silos)]
    return Silo(
        name="pooled",
        obs=np.concatenate([np.asarray(s.obs) for s in ordered]),
        actions=np.concatenate([np.asarray(s.actions) for s in ordered]),
        states=np.concatenate([np.asarray(s.states) for s in ordered]),
    )


class _Run:
    """One harness-driven run in progress (see the module docstring)."""

    def __init__(
        self,
        model: Any,
        federation: Any,
        config: FederationConfig,
        silos: Mapping[str, Silo],
        probe: Probe,
        out_dir: Path,
    ) -> None:
        if config.control not in CONTROLS:
            raise ConfigError(f"unknown control {config.control!r}", field="control")
        self.model, self.federation, self.config = model, federation, config
        #: RFC-0003 §3: what every participant trains with, stated to the implementation (LocalConfig)
        self.local_config = LocalConfig(
            inner_lr=float(config.inner_lr), batch_size=int(config.batch_size), window=bounds.WINDOW,
            weights=ObjectiveWeights(lambda_sigreg=float(config.lambda_sigreg)), root_seed=int(config.seed),
        )  # fmt: skip
        self.silos = {k: silos[k] for k in sorted(silos)}
        self.points = np.ascontiguousarray(np.asarray(probe.points, dtype=np.float32))
        self.probe_hash = probe.probe_hash or library_probe_hash(self.points)
        cfg = dataclasses.asdict(config)
        self.writer = RunDirWriter(
            out_dir,
            run_id=f"harness-{config.control}-{config.seed}",
            control=config.control,
            config=cfg,
            producer=PRODUCER,
        )
        self.started = time.perf_counter()
        self.theta0 = _arrays(model.init(int(config.seed)))
        self.targets = embed(model, self.theta0, self.points)
        self.writer.write_probe(self.points, self.targets)
        self.anchor = (
            FrameAnchor(points=self.points, targets=self.targets, weight=float(config.lambda_anchor))
            if config.lambda_anchor > 0
            else None
        )

    def record(self, round_index: int, participants: list[str], global_hash: str | None, parent_hash: str | None,
               metrics: Mapping[str, Any], fired: Mapping[str, bool] | None = None) -> dict[str, Any]:  # fmt: skip
        kept = {k: v for k, v in metrics.items() if v is not None}
        kept["drift_degenerate"] = bool(metrics.get("drift_degenerate", False))
        return self.writer.append_record({
            "run_id": self.writer.run_id,
            "control": self.config.control,
            "round_index": round_index,
            "participants": sorted(participants),
            "global_hash": global_hash,
            "parent_hash": parent_hash,
            "metrics": kept,
            "backstop_fired": dict(fired or {}),
            "wall_time_s": round(time.perf_counter() - self.started, 3),
        })

    def metrics(self, models: Mapping[str, Mapping[str, np.ndarray]], *, pairwise: bool) -> dict[str, Any]:
        return record_metrics(self.model, models, points=self.points, targets=self.targets, pairwise=pairwise)

    def round_sketch(self, params: Mapping[str, np.ndarray], round_index: int) -> np.ndarray:
        """``A_t = build_sketch(round_sketch_seed(seed, t), d, SKETCH_DIRECTIONS)`` for the model's ``d``."""
        d = int(self.model.latent_dim)
        seed = round_sketch_seed(int(self.config.seed), round_index)
        return np.ascontiguousarray(build_sketch(seed, d, bounds.SKETCH_DIRECTIONS), dtype=np.float32)

    def local(
        self, params: Mapping[str, np.ndarray], silo: Silo, round_index: int, anchor: FrameAnchor | None
    ) -> dict[str, np.ndarray]:
        # RFC-0003 §6: the round's sketch, handed over when local_update takes one (FED-027)
        extra = {"sketch": self.round_sketch(params, round_index)} if local_update_takes_sketch(self.federation) else {}
        delta = self.federation.local_update(
            params,
            silo,
            steps=int(self.config.inner_steps),
            seed=derive_seed(int(self.config.seed), f"local/{silo.name}/{round_index}"),
            round_index=round_index,
            anchor=anchor,
            config=self.local_config,
            **extra,
        )  # fmt: skip
        return _add(params, delta)

    def backstop(
        self, theta: dict[str, np.ndarray], local: dict[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], bool, bool]:
        """(released local model, fired, degenerate) — RFC-0002 §5."""
        angle, degenerate = drift_to_reference(embed(self.model, local, self.points), self.targets)
        if degenerate or angle is None:
            return local, False, True
        if angle <= float(self.config.backstop_threshold_deg):
            return local, False, False
        try:
            aligned, _q = self.federation.align_release(theta, local, self.points, self.targets)
        except DegenerateProcrustes:
            return local, False, True
        return _arrays(aligned), True, False

    def finish(
        self, final: Mapping[str, np.ndarray] | None, participants: Mapping[str, Mapping[str, np.ndarray]] | None = None
    ) -> RunResult:
        cfg = self.config
        self.writer.finish(
            root_seed=int(cfg.seed),
            round_sketch_seeds=[round_sketch_seed(int(cfg.seed), r) for r in range(int(cfg.rounds) + 1)],
            probe_hash=self.probe_hash,
            data_roots=[f"harness:{name}" for name in self.silos],
            split_policy={
                "training_silos": list(self.silos),
                "driver": "lensemble-spec conformance harness (primitives)",
            },
        )
        return RunResult(
            records=list(self.writer.records),
            final_params=dict(final) if final is not None else None,
            run_dir=self.writer.run_dir,
            participant_params={k: dict(v) for k, v in (participants or {}).items()},
            anchor=self.anchor,
        )

    # --- the controls ---------------------------------------------------------------------------
    def federated(self) -> RunResult:
        cfg = self.config
        theta = self.theta0
        state = self.federation.outer_init(theta)
        parent = self.writer.commit(theta, round_index=0, parent_hash=None)
        self.record(0, [], parent, None, self.metrics({"global": theta}, pairwise=False))
        for r in range(1, int(cfg.rounds) + 1):
            deltas, released, fired = {}, {}, {}
            degenerate = False
            for pid, silo in self.silos.items():
                local = self.local(theta, silo, r, self.anchor)
                if cfg.backstop:
                    local, fired[pid], deg = self.backstop(theta, local)
                    degenerate = degenerate or deg
                released[pid] = local
                deltas[pid] = _sub(local, theta)
            new_theta, state = self.federation.outer_step(theta, deltas, state, cfg.outer)
            theta = _arrays(new_theta)
            global_hash = self.writer.commit(theta, round_index=r, parent_hash=parent)
            metrics = self.metrics({"global": theta}, pairwise=False)
            pair = self.released_drift(released)
            metrics.update(pair)
            metrics["drift_degenerate"] = bool(
                metrics.get("drift_degenerate") or pair.pop("degenerate", False) or degenerate
            )
            metrics.pop("degenerate", None)
            self.record(r, list(self.silos), global_hash, parent, metrics, fired)
            parent = global_hash
        return self.finish(theta)

    def released_drift(self, released: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, Any]:
        if len(released) < 2:
            return {"drift_pairwise_mean_deg": None, "drift_pairwise_max_deg": None}
        embeddings = {p: embed(self.model, m, self.points) for p, m in released.items()}
        try:
            summary = frame_drift(embeddings).summary()
        except LensembleError:
            return {"drift_pairwise_mean_deg": None, "drift_pairwise_max_deg": None, "degenerate": True}
        return {
            "drift_pairwise_mean_deg": summary["drift_pairwise_mean_deg"],
            "drift_pairwise_max_deg": summary["drift_pairwise_max_deg"],
            "degenerate": bool(summary["drift_degenerate"]),
        }

    def local_only(self) -> RunResult:
        theta0_hash = self.writer.commit(self.theta0, round_index=0, parent_hash=None)
        self.record(0, [], theta0_hash, None, self.metrics({"global": self.theta0}, pairwise=False))
        models = {pid: self.theta0 for pid in self.silos}
        parents = {pid: theta0_hash for pid in self.silos}
        for r in range(1, int(self.config.rounds) + 1):
            for pid, silo in self.silos.items():
                models[pid] = self.local(models[pid], silo, r, self.anchor)
                parents[pid] = self.writer.commit(models[pid], round_index=r, parent_hash=parents[pid], participant=pid)
            self.record(r, list(self.silos), None, None, self.metrics(models, pairwise=True))
        return self.finish(None, models)

    def centralized(self) -> RunResult:
        pooled = _pooled(self.silos)
        theta = self.theta0
        parent = self.writer.commit(theta, round_index=0, parent_hash=None)
        self.record(0, [], parent, None, self.metrics({"global": theta}, pairwise=False))
        for r in range(1, int(self.config.rounds) + 1):
            theta = self.local(theta, pooled, r, self.anchor)
            global_hash = self.writer.commit(theta, round_index=r, parent_hash=parent)
            self.record(r, list(self.silos), global_hash, parent, self.metrics({"global": theta}, pairwise=False))
            parent = global_hash
        return self.finish(theta)


def drive_run(
    model: Any, federation: Any, config: FederationConfig, silos: Mapping[str, Silo], probe: Probe, out_dir: Path
) -> RunResult:
    """Run ``config`` through the implementation's primitives and write its run directory.

    Raises what the implementation raises (e.g. ``ProbeError`` from ``local_update`` for an anchor
    with fewer points than latent dimensions), and :class:`QuorumNotMet` — before anything is
    committed — when fewer silos than ``min_participants`` are given to a federated control.
    """
    if config.control in FEDERATED and len(silos) < int(config.min_participants):
        raise QuorumNotMet(f"{len(silos)} silo(s) given, fewer than min_participants = {config.min_participants}")
    run = _Run(model, federation, config, silos, probe, Path(out_dir))
    if config.control in FEDERATED:
        return run.federated()
    if config.control == "local-only":
        return run.local_only()
    return run.centralized()


__all__ = ["PRIMITIVES", "PRODUCER", "can_drive", "drive_run"]
