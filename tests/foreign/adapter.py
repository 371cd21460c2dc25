"""``IMPLEMENTATION``: the ``jepa`` package behind ``lensemble_spec.protocol``.

What the adapter does, and nothing more:

* maps jepa's exception classes onto the spec's error families (``error_map``);
* pools the encoder's patch tokens (mean over tokens) into one latent per frame;
* converts arrays at the boundary (numpy float32 in and out; parameters stay numpy dicts);
* translates the protocol's LocalConfig / ObjectiveWeights / OuterConfig into jepa's own recipe;
* declares that checkpoints hold float32 only (``dtypes``) and that there is no ``run``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lensemble_spec import errors as spec
from lensemble_spec.protocol import (
    Batch,
    FrameAnchor,
    Implementation,
    LocalConfig,
    ObjectiveWeights,
    OuterConfig,
    Silo,
)

from .jepa import __version__, errors, frames, merge, net, store, train

SHAPE = net.Shape(d=16, actions=5, side=32)

ERROR_MAP = {
    errors.BadArray: spec.InputError,
    errors.SingularFrame: spec.DegenerateProcrustes,
    errors.ProbeTooSmall: spec.ProbeError,
    errors.NoUpdates: spec.QuorumNotMet,
    errors.MergeError: spec.AggregationError,
    errors.PrivateParameter: spec.ResidencyViolation,
    errors.Tampered: spec.CheckpointIntegrityError,
    errors.OutsidePath: spec.PathEscape,
    errors.UnknownVersion: spec.SchemaVersionMismatch,
    errors.StoreError: spec.ArtifactError,
}


class Gauge:
    def procrustes_align(self, source: Any, target: Any) -> np.ndarray:
        return frames.align(source, target)

    def rotation_angle_deg(self, q: Any) -> float:
        return frames.angle_deg(q)

    def frame_drift_deg(self, source: Any, target: Any) -> float:
        return frames.drift_deg(source, target)

    def effective_rank(self, z: Any) -> float:
        return frames.rankme(z)

    def latent_std_mean(self, z: Any) -> float:
        return frames.mean_std(z)


class Model:
    latent_dim = SHAPE.d
    action_dim = SHAPE.actions
    obs_shape = (SHAPE.channels, SHAPE.side, SHAPE.side)

    def __init__(self) -> None:
        torch.set_num_threads(1)

    def init(self, seed: int) -> dict[str, np.ndarray]:
        return net.fresh(SHAPE, int(seed))

    def encode(self, params: Mapping[str, Any], obs: Any) -> np.ndarray:
        with torch.no_grad():
            tokens = net.tokens(net.tensors(params), torch.tensor(np.array(obs, dtype=np.float32)))
        return tokens.mean(dim=1).numpy()  # the adapter pools the patch tokens

    def predict(self, params: Mapping[str, Any], z: Any, action: Any) -> np.ndarray:
        with torch.no_grad():
            out = net.step(
                net.tensors(params),
                torch.tensor(np.array(z, dtype=np.float32)),
                torch.tensor(np.array(action, dtype=np.float32)),
            )
        return out.numpy()

    def loss_terms(
        self,
        params,
        batch: Batch,
        *,
        sketch: Any,
        anchor: FrameAnchor | None = None,
        weights: ObjectiveWeights | None = None,
    ) -> dict[str, float]:
        w = weights or ObjectiveWeights()
        anc = train.anchor_tuple(anchor, SHAPE.d) if anchor is not None else None
        if anchor is not None and anc is None:  # weight 0: the term is zero but present
            anc = None
        with torch.no_grad():
            terms = net.objective(
                net.tensors(params),
                torch.tensor(np.array(batch.obs, dtype=np.float32)),
                torch.tensor(np.array(batch.actions, dtype=np.float32)),
                torch.tensor(np.array(sketch, dtype=np.float32)),
                anc,
                float(w.lambda_pred),
                float(w.lambda_sigreg),
            )
        return {k: float(v) for k, v in terms.items()}

    def rotate(self, params, q: Any) -> dict[str, np.ndarray]:
        return net.turned(params, q)


class Federation:
    """Primitives only: the harness runs the federation itself (no ``run``)."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def local_update(
        self,
        global_params,
        silo: Silo,
        *,
        steps: int,
        seed: int,
        round_index: int,
        anchor: FrameAnchor | None = None,
        config: LocalConfig | None = None,
    ) -> dict[str, np.ndarray]:
        config = config or LocalConfig()
        recipe = train.Recipe(
            lr=float(config.inner_lr),
            batch=int(config.batch_size),
            window=int(config.window),
            lam_pred=float(config.weights.lambda_pred),
            lam_sigreg=float(config.weights.lambda_sigreg),
            root_seed=int(config.root_seed),
        )
        local = train.train(
            global_params,
            np.asarray(silo.obs),
            np.asarray(silo.actions),
            steps=int(steps),
            seed=int(seed),
            round_index=int(round_index),
            anchor=anchor,
            recipe=recipe,
            d=SHAPE.d,
        )
        return {
            k: (local[k] - np.asarray(global_params[k])).astype(np.asarray(global_params[k]).dtype)
            for k in global_params
        }

    def outer_init(self, params) -> merge.Velocity:
        return merge.fresh(params)

    def outer_step(self, global_params, deltas, state: merge.Velocity, config: OuterConfig):
        return merge.outer(
            global_params,
            deltas,
            state,
            lr=float(config.lr),
            momentum=float(config.momentum),
            nesterov=bool(config.nesterov),
        )

    def align_release(self, global_params, local_params, probe_points: Any, reference: Any):
        q = frames.align(self.model.encode(local_params, probe_points), reference)
        return net.turned(local_params, q), q


class Artifacts:
    dtypes = ("float32",)

    def save_checkpoint(
        self, params, directory: Path, *, round_index: int, parent_hash: str | None, config_hash: str
    ) -> str:
        return store.save(
            params, Path(directory), round_index=round_index, parent_hash=parent_hash, config_hash=config_hash
        )

    def load_checkpoint(self, directory: Path) -> dict[str, np.ndarray]:
        return store.load(Path(directory))


def build() -> Implementation:
    model = Model()
    return Implementation(
        name="jepa (foreign)",
        version=__version__,
        gauge=Gauge(),
        model=model,
        federation=Federation(model),
        artifacts=Artifacts(),
        error_map=ERROR_MAP,
    )


IMPLEMENTATION = build()
