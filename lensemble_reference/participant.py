"""A participant's local training: H inner AdamW steps of the objective on its own silo.

A :class:`Participant` owns a module, an AdamW optimiser and a seeded window sampler, all of which
stay on the silo across rounds (DiLoCo keeps inner optimiser state local); each round the
coordinator's global weights are copied in (``load``) and the participant trains ``steps`` steps.
Nothing here looks at other silos.

Determinism: batches come from the participant's own ``numpy`` generator, SIGReg's sketch is the
shared per-round sketch passed in, the model has no dropout, and the caller fixes torch's thread
count and enables ``torch.use_deterministic_algorithms`` (see :func:`deterministic_torch`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lensemble_spec.protocol import Silo

from .config import TrainConfig
from .data import WindowSampler, check_silo
from .model import WorldModel, params_of
from .objective import AnchorTensors, loss_terms


def deterministic_torch(threads: int) -> None:
    """Fix the thread count and refuse nondeterministic kernels (process-wide torch settings)."""
    torch.set_num_threads(int(threads))
    torch.use_deterministic_algorithms(True)


@dataclass(frozen=True)
class LossSummary:
    """Mean of each loss term over the steps of one local update."""

    pred: float
    sigreg: float
    anchor: float
    total: float
    steps: int


class Participant:
    def __init__(self, name: str, silo: Silo, cfg: TrainConfig, *, seed: int, batch_size: int | None = None) -> None:
        m = cfg.model
        check_silo(silo, obs_shape=(m.in_channels, m.image_size, m.image_size), action_dim=m.action_dim)
        self.name = name
        self.cfg = cfg
        self.batch_size = batch_size or cfg.batch_size
        self.module = WorldModel(m)
        self.sampler = WindowSampler(silo, window=cfg.window, seed=seed, episodes_per_batch=cfg.episodes_per_batch)
        self.optimizer = torch.optim.AdamW(
            self.module.parameters(), lr=cfg.inner_lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99)
        )

    def load(self, params: Mapping[str, Any]) -> None:
        """Copy ``params`` into the module in place (the optimiser keeps its moments)."""
        with torch.no_grad():
            for name, p in self.module.named_parameters():
                p.copy_(torch.from_numpy(np.asarray(params[name], dtype=np.float32)))

    def params(self) -> dict[str, np.ndarray]:
        return params_of(self.module)

    def train(self, steps: int, sketch: torch.Tensor, anchor: AnchorTensors | None) -> LossSummary:
        cfg = self.cfg
        sums = {"pred": 0.0, "sigreg": 0.0, "anchor": 0.0, "total": 0.0}
        self.module.train()
        for _ in range(steps):
            obs, actions = self.sampler.sample(self.batch_size)
            terms = loss_terms(
                self.module,
                obs,
                actions,
                sketch,
                anchor=anchor,
                lambda_pred=cfg.lambda_pred,
                lambda_sigreg=cfg.lambda_sigreg,
                target_stop_gradient=cfg.target_stop_gradient,
            )
            self.optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.module.parameters(), cfg.grad_clip)
            self.optimizer.step()
            for k in sums:
                sums[k] += float(terms[k].detach())
        n = max(steps, 1)
        return LossSummary(**{k: v / n for k, v in sums.items()}, steps=steps)
