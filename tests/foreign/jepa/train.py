"""One participant's local training: hand-written Adam over the parameter dict, seeded windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lensemble_spec.metrics import build_sketch, round_sketch_seed

from . import net
from .errors import PrivateParameter, ProbeTooSmall

SHARED_PREFIXES = ("encoder.", "predictor.")
SKETCH_COLUMNS = 64


@dataclass(frozen=True)
class Recipe:
    lr: float = 1e-3
    batch: int = 8
    window: int = 2
    lam_pred: float = 1.0
    lam_sigreg: float = 0.1
    root_seed: int = 0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


def check_shared(names, what: str) -> None:
    private = sorted(n for n in names if not n.startswith(SHARED_PREFIXES))
    if private:
        raise PrivateParameter(f"{what} holds parameters that never leave a participant: {private[:3]}")


def round_sketch(d: int, root_seed: int, round_index: int) -> torch.Tensor:
    return torch.tensor(
        np.asarray(build_sketch(round_sketch_seed(root_seed, round_index), d, SKETCH_COLUMNS), dtype=np.float32)
    )


def anchor_tuple(anchor, d: int):
    """``(points, targets, weight)`` tensors, or None for no anchor / zero weight."""
    if anchor is None or float(anchor.weight) <= 0.0:
        return None
    points = np.array(anchor.points, dtype=np.float32)
    if points.shape[0] < d:
        raise ProbeTooSmall(f"{points.shape[0]} anchor points cannot pin a {d}-dimensional frame")
    return torch.tensor(points), torch.tensor(np.array(anchor.targets, dtype=np.float32)), float(anchor.weight)


def train(
    params,
    obs: np.ndarray,
    actions: np.ndarray,
    *,
    steps: int,
    seed: int,
    round_index: int,
    anchor,
    recipe: Recipe,
    d: int,
) -> dict[str, np.ndarray]:
    """``steps`` Adam steps from ``params`` on windows of (obs, actions); returns the local params."""
    check_shared(params, "the global model")
    anc = anchor_tuple(anchor, d)
    if steps <= 0:
        return {k: np.array(v, copy=True) for k, v in params.items()}
    p = net.tensors(params, grad=True)
    sketch = round_sketch(d, recipe.root_seed, round_index)
    first = {k: torch.zeros_like(v) for k, v in p.items()}
    second = {k: torch.zeros_like(v) for k, v in p.items()}
    rng = np.random.Generator(np.random.Philox([int(seed) & (2**63 - 1), int(round_index)]))
    episodes, horizon = actions.shape[:2]
    window = max(1, min(int(recipe.window), horizon))
    b1, b2 = recipe.betas
    for k in range(1, steps + 1):
        ep = rng.integers(0, episodes, size=recipe.batch)
        start = rng.integers(0, horizon - window + 1, size=recipe.batch)
        o = np.stack([obs[e, s : s + window + 1] for e, s in zip(ep, start)]).astype(np.float32)
        a = np.stack([actions[e, s : s + window] for e, s in zip(ep, start)]).astype(np.float32)
        terms = net.objective(
            p, torch.from_numpy(o), torch.from_numpy(a), sketch, anc, recipe.lam_pred, recipe.lam_sigreg
        )
        grads = torch.autograd.grad(terms["total"], list(p.values()))
        with torch.no_grad():
            for (name, value), g in zip(p.items(), grads):
                first[name].mul_(b1).add_(g, alpha=1 - b1)
                second[name].mul_(b2).addcmul_(g, g, value=1 - b2)
                m_hat = first[name] / (1 - b1**k)
                v_hat = second[name] / (1 - b2**k)
                value.sub_(recipe.lr * m_hat / (v_hat.sqrt() + recipe.eps))
    return {k: v.detach().numpy().astype(np.asarray(params[k]).dtype) for k, v in p.items()}
