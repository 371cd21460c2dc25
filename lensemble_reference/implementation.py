"""``IMPLEMENTATION``: the reference trainer behind the ``lensemble_spec.protocol`` interface.

Parameters cross the boundary as ``dict[str, numpy.ndarray]`` (float32, names ``encoder.*`` /
``predictor.*``); everything torch stays inside. The parts:

* ``gauge`` — delegates to ``lensemble_spec.metrics`` (the reference has no gauge code of its own);
* ``model`` — the LeWM-style model of :mod:`lensemble_reference.model` at the harness size
  (:data:`HARNESS_MODEL`: 32×32 RGB, d = 16, 5-dim actions); ``loss_terms`` uses the model part's
  ``lambda_pred`` / ``lambda_sigreg`` and the caller's sketch and anchor;
* ``federation`` — stateless ``local_update`` (fresh AdamW, seeded sampler), the pure float64
  outer step, the Procrustes backstop (``align_release``) and ``run`` (the in-process round loop
  writing a complete run directory);
* ``artifacts`` — ``lensemble_spec.artifacts`` checkpoints with this producer's name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lensemble_spec import metrics
from lensemble_spec.artifacts.checkpoint import load_checkpoint as _load_checkpoint
from lensemble_spec.artifacts.checkpoint import save_checkpoint as _save_checkpoint
from lensemble_spec.errors import ConfigError, ProbeError
from lensemble_spec.protocol import (
    CONTROLS,
    Batch,
    FederationConfig,
    FrameAnchor,
    Implementation,
    LocalConfig,
    ObjectiveWeights,
    OuterConfig,
    Probe,
    RunResult,
    Silo,
)

from . import __version__
from .artifacts import PRODUCER
from .backstop import align_to_reference, encode_numpy, redifference
from .config import ModelConfig, TrainConfig, WorldConfig, default_threads
from .controls import run_control
from .federation import RunInputs, round_sketch
from .model import infer_model_config, init_params, module_from_params, rotate_params
from .objective import AnchorTensors, loss_terms
from .outer import OuterState, check_releasable, outer_init, outer_step
from .participant import Participant, deterministic_torch

#: Model size used for the conformance harness (``lensemble_spec.worlds.harness_world``: 32 px).
HARNESS_MODEL = ModelConfig(
    latent_dim=16, channels=(16, 32, 32), pred_hidden=64, pred_depth=2, action_dim=5, image_size=32
)


class ReferenceGauge:
    """Gauge primitives = the library's definitions (so conformance checks the library, too)."""

    def procrustes_align(self, source: Any, target: Any) -> np.ndarray:
        return np.asarray(metrics.procrustes_align(source, target).q)

    def rotation_angle_deg(self, q: Any) -> float:
        return float(metrics.drift_angle_deg(q))

    def frame_drift_deg(self, source: Any, target: Any) -> float:
        return float(metrics.drift_to_reference_deg(source, target))

    def effective_rank(self, z: Any) -> float:
        return float(metrics.effective_rank(z))

    def latent_std_mean(self, z: Any) -> float:
        return float(metrics.latent_std_mean(z))


class ReferenceModel:
    """The world model on ``dict[str, ndarray]`` params (float32 in, float32 out).

    ``encode``/``predict``/``loss_terms``/``rotate`` read the architecture from the parameter
    shapes, so checkpoints of any size written by this trainer (the 48-px headline runs as well as
    the harness-sized ones) can be evaluated through this one object; ``init`` and the declared
    ``latent_dim``/``action_dim``/``obs_shape`` are those of ``cfg`` (the harness size by default).
    """

    def __init__(
        self,
        cfg: ModelConfig = HARNESS_MODEL,
        *,
        lambda_pred: float = 1.0,
        lambda_sigreg: float = 1.0,
        threads: int | None = None,
    ) -> None:
        self.cfg = cfg
        self.latent_dim = cfg.latent_dim
        self.action_dim = cfg.action_dim
        self.obs_shape = (cfg.in_channels, cfg.image_size, cfg.image_size)
        self.lambda_pred = lambda_pred
        self.lambda_sigreg = lambda_sigreg
        #: RFC-0002 anchor variants ``loss_terms`` computes (``frame`` is the optional §8.1 variant).
        self.anchor_variants = ("landmark", "frame")
        self.threads = default_threads() if threads is None else int(threads)

    def init(self, seed: int) -> dict[str, np.ndarray]:
        return init_params(self.cfg, seed)

    def encode(self, params: Mapping[str, Any], obs: Any) -> np.ndarray:
        deterministic_torch(self.threads)
        return encode_numpy(infer_model_config(params), params, obs)

    def predict(self, params: Mapping[str, Any], z: Any, action: Any) -> np.ndarray:
        deterministic_torch(self.threads)
        module = module_from_params(None, params)
        with torch.no_grad():
            out = module.predict(
                torch.as_tensor(np.asarray(z, dtype=np.float32)), torch.as_tensor(np.asarray(action, dtype=np.float32))
            )
        return out.numpy()

    def loss_terms(
        self,
        params: Mapping[str, Any],
        batch: Batch,
        *,
        sketch: Any,
        anchor: FrameAnchor | None = None,
        weights: ObjectiveWeights | None = None,
    ) -> dict[str, float]:
        """Floats ``pred``, ``sigreg``, ``anchor`` (exactly 0.0 without an anchor) and ``total``.

        ``total = lambda_pred·pred + lambda_sigreg·sigreg + anchor`` with the given ``weights``
        (this part's ``lambda_pred``/``lambda_sigreg`` when ``None``); the anchor term already
        carries ``anchor.weight``. Raises ProbeError for an anchor with fewer points than latent
        dimensions (GAUGE-022).
        """
        lambda_pred = self.lambda_pred if weights is None else float(weights.lambda_pred)
        lambda_sigreg = self.lambda_sigreg if weights is None else float(weights.lambda_sigreg)
        deterministic_torch(self.threads)
        module = module_from_params(None, params)
        anc = None
        if anchor is not None:
            d = module.cfg.latent_dim
            if np.shape(anchor.points)[0] < d:
                raise ProbeError(
                    f"the anchor has {np.shape(anchor.points)[0]} points for a {d}-dimensional latent; k >= d is "
                    f"needed to pin a frame",
                    remediation="Use a probe with at least latent_dim points.",
                )
            variant = str(getattr(anchor, "variant", "landmark"))
            if variant not in self.anchor_variants:
                raise ConfigError(
                    f"unknown anchor variant {variant!r}",
                    remediation=f"Use one of {', '.join(self.anchor_variants)}.",
                    field="anchor.variant",
                )
            anc = AnchorTensors(
                points=torch.as_tensor(np.array(anchor.points, dtype=np.float32)),
                targets=torch.as_tensor(np.array(anchor.targets, dtype=np.float32)),
                weight=float(anchor.weight),
                variant=variant,
            )
        with torch.no_grad():
            terms = loss_terms(
                module,
                torch.as_tensor(np.array(batch.obs, dtype=np.float32)),
                torch.as_tensor(np.array(batch.actions, dtype=np.float32)),
                torch.as_tensor(np.array(sketch, dtype=np.float32)),
                anchor=anc,
                lambda_pred=lambda_pred,
                lambda_sigreg=lambda_sigreg,
            )
        return {k: float(v) for k, v in terms.items()}

    def rotate(self, params: Mapping[str, Any], q: Any) -> dict[str, np.ndarray]:
        rotated = rotate_params(params, q)
        return {k: rotated[k].astype(np.asarray(params[k]).dtype, copy=False) for k in params}


def train_config_for(
    config: FederationConfig,
    silos: Mapping[str, Silo],
    model: ModelConfig = HARNESS_MODEL,
    *,
    threads: int | None = None,
) -> TrainConfig:
    """Map the harness's FederationConfig onto a TrainConfig (model sized to the silos' data).

    Every FederationConfig field keeps its name and value (the manifest's config holds them all,
    ART-017); the rest are this trainer's own keys.
    """
    if not silos:
        raise ConfigError("run() needs at least one silo")
    first = next(iter(silos.values()))
    obs = np.asarray(first.obs)
    if obs.ndim != 5 or obs.shape[-1] != obs.shape[-2]:
        raise ConfigError(f"silo observations must be (E, T+1, C, H, H), got {obs.shape}")
    m = dataclasses.replace(
        model,
        image_size=int(obs.shape[-1]),
        in_channels=int(obs.shape[2]),
        action_dim=int(np.asarray(first.actions).shape[-1]),
    )
    horizon = int(np.asarray(first.actions).shape[1])
    return TrainConfig(
        control=config.control,
        seed=int(config.seed),
        rounds=int(config.rounds),
        inner_steps=int(config.inner_steps),
        batch_size=int(config.batch_size),
        window=min(3, horizon),
        inner_lr=float(config.inner_lr),
        lambda_sigreg=float(config.lambda_sigreg),
        lambda_anchor=float(config.lambda_anchor),
        backstop=bool(config.backstop),
        backstop_threshold_deg=float(config.backstop_threshold_deg),
        outer=OuterConfig(
            lr=float(config.outer.lr), momentum=float(config.outer.momentum), nesterov=bool(config.outer.nesterov)
        ),
        min_participants=int(config.min_participants),
        threads=default_threads() if threads is None else int(threads),
        model=m,
        world=WorldConfig(image_size=m.image_size, horizon=horizon, probe_size=max(m.latent_dim, 16)),
    )


class ReferenceFederation:
    def __init__(self, model: ReferenceModel) -> None:
        self.model = model

    @property
    def default_outer(self) -> OuterConfig:
        """The outer configuration this trainer uses when none is given: ``TrainConfig().outer`` (FED-025)."""
        return TrainConfig().outer

    def _train_cfg(self, params: Mapping[str, Any], silo: Silo, config: LocalConfig | None = None) -> TrainConfig:
        """This trainer's TrainConfig for one local update, sized to ``params`` (architecture) and
        ``silo`` (window); the caller's LocalConfig (learning rate, batch size, window, weights,
        root seed of the round's sketch) when given, this trainer's defaults otherwise."""
        horizon = int(np.asarray(silo.actions).shape[1])
        if config is None:
            return TrainConfig(
                model=infer_model_config(params),
                window=min(TrainConfig().window, horizon),
                lambda_pred=self.model.lambda_pred,
                lambda_sigreg=self.model.lambda_sigreg,
                threads=self.model.threads,
            )
        return TrainConfig(
            model=infer_model_config(params),
            seed=int(config.root_seed),
            window=min(int(config.window), horizon),
            batch_size=int(config.batch_size),
            inner_lr=float(config.inner_lr),
            lambda_pred=float(config.weights.lambda_pred),
            lambda_sigreg=float(config.weights.lambda_sigreg),
            threads=self.model.threads,
        )

    def local_update(
        self,
        global_params: Mapping[str, Any],
        silo: Silo,
        *,
        steps: int,
        seed: int,
        round_index: int,
        anchor: FrameAnchor | None = None,
        config: LocalConfig | None = None,
        sketch: Any = None,
    ) -> dict[str, np.ndarray]:
        """Δ = local − global after ``steps`` AdamW steps (protocol ``FederationPart.local_update``).

        A fresh AdamW and a sampler seeded with ``seed``; trains SIGReg with ``sketch`` when given
        (as float32), else with the round's sketch ``build_sketch(round_sketch_seed(config.root_seed,
        round_index), d, 64)`` (FED-027); the anchor as given (its ``weight`` is the anchor weight).
        Never reads ``silo.states``; never modifies its inputs (the global is copied into a fresh module).
        """
        cfg = self._train_cfg(global_params, silo, config)
        deterministic_torch(cfg.threads)
        check_releasable(global_params, who="global params")
        part = Participant(silo.name, silo, cfg, seed=seed)
        part.load(global_params)
        anc = None
        if anchor is not None and anchor.weight > 0:
            if np.shape(anchor.points)[0] < cfg.model.latent_dim:
                raise ProbeError(
                    f"the anchor has {np.shape(anchor.points)[0]} points, fewer than latent_dim {cfg.model.latent_dim}"
                )
            anc = AnchorTensors(
                points=torch.from_numpy(np.array(anchor.points, dtype=np.float32)),
                targets=torch.from_numpy(np.array(anchor.targets, dtype=np.float32)),
                weight=float(anchor.weight),
                variant=str(getattr(anchor, "variant", "landmark")),
            )
        given = None if sketch is None else torch.from_numpy(np.array(sketch, dtype=np.float32))
        part.train(steps, round_sketch(cfg, round_index) if given is None else given, anc)
        delta = redifference(global_params, part.params())
        check_releasable(delta, who=f"delta of {silo.name}")
        return {k: delta[k].astype(np.asarray(global_params[k]).dtype, copy=False) for k in global_params}

    def outer_init(self, params: Mapping[str, Any]) -> OuterState:
        return outer_init(params)

    def outer_step(
        self,
        global_params: Mapping[str, Any],
        deltas: Mapping[str, Mapping[str, Any]],
        state: OuterState,
        config: OuterConfig,
    ) -> tuple[dict[str, np.ndarray], OuterState]:
        return outer_step(
            global_params, deltas, state, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov
        )

    def align_release(
        self, global_params: Mapping[str, Any], local_params: Mapping[str, Any], probe_points: Any, reference: Any
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Always aligns (the threshold decision belongs to ``run``); returns (aligned local, Q*)."""
        deterministic_torch(self.model.threads)
        alignment = align_to_reference(infer_model_config(local_params), local_params, probe_points, reference)
        return alignment.params, alignment.q

    def run(self, config: FederationConfig, silos: Mapping[str, Silo], probe: Probe, out_dir: Path) -> RunResult:
        if config.control not in CONTROLS:
            raise ConfigError(f"unknown control {config.control!r}; choose from {', '.join(CONTROLS)}", field="control")
        cfg = train_config_for(config, silos, self.model.cfg, threads=self.model.threads)
        points = np.asarray(probe.points, dtype=np.float32)
        inputs = RunInputs(
            silos=dict(silos),
            probe_points=points,
            probe_hash=probe.probe_hash or _probe_hash(points),
            data_roots=[f"harness:{name}" for name in sorted(silos)],
        )
        return run_control(cfg, inputs, Path(out_dir))


def _probe_hash(points: np.ndarray) -> str:
    from lensemble_spec.artifacts import probe_hash

    return probe_hash(points)


class ReferenceArtifacts:
    #: Every dtype RFC-0010 allows (lensemble_spec.artifacts stores them all, bfloat16 from torch tensors).
    dtypes = ("bfloat16", "bool", "float16", "float32", "float64", "int32", "int64", "uint8")

    def save_checkpoint(
        self, params: Mapping[str, Any], directory: Path, *, round_index: int, parent_hash: str | None, config_hash: str
    ) -> str:
        check_releasable(params, who="checkpoint")  # ART-006: only the shared model is written
        header = _save_checkpoint(
            params,
            directory,
            round_index=round_index,
            parent_hash=parent_hash,
            config_hash=config_hash,
            producer=PRODUCER,
        )
        return header.content_hash

    def load_checkpoint(self, directory: Path) -> dict[str, np.ndarray]:
        params, _header = _load_checkpoint(directory)
        return params


def build_implementation() -> Implementation:
    model = ReferenceModel()
    return Implementation(
        name="lensemble_reference",
        version=__version__,
        gauge=ReferenceGauge(),
        model=model,
        federation=ReferenceFederation(model),
        artifacts=ReferenceArtifacts(),
    )


IMPLEMENTATION = build_implementation()
