"""The training objective: next-embedding prediction + SIGReg + landmark frame anchor.

    total = λ_pred · pred + λ_sig · sigreg + anchor

* ``pred = mean_{b,t,j} (g(z_t, a_t) − sg(z_{t+1}))²`` — teacher-forced one-step prediction over a
  window of ``T + 1`` frames encoded as one batch. ``sg`` (stop-gradient on the targets) is on by
  default: without it the cheapest way to lower ``pred`` is to make the *targets* easy (shrink or
  slow them), a direct collapse pressure that SIGReg would have to fight every step; with it the
  encoder is shaped through the predictor's input only. ``target_stop_gradient=False`` gives the
  LeWM paper's setting (targets keep their gradient).
* ``sigreg = lensemble_spec.metrics.sigreg_statistic(Z, A)`` on ALL encoded frames ``Z`` (flattened
  to ``(M, d)``) with the shared per-round sketch ``A = build_sketch(round_sketch_seed(root, t), d,
  m)``. Invariant under ``z → zQ`` only when the sketch co-rotates ``A → Qᵀ A``.
* ``anchor = w · mean_i ‖f(p_i) − t_i‖²`` over the public probe points ``p_i`` with the FIXED
  round-0 targets ``t_i = f_0(p_i)`` (squared norm summed over the d latent coordinates, mean over
  landmarks). It breaks the gauge symmetry on purpose: ``f → fQ`` changes it unless ``Q = I``.

All terms are float32 0-dim tensors; ``total`` is differentiable w.r.t. the model parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lensemble_spec.metrics import sigreg_statistic

from .model import WorldModel


@dataclass(frozen=True)
class AnchorTensors:
    """Probe points ``(k, C, H, W)``, fixed round-0 targets ``(k, d)`` and the anchor weight."""

    points: torch.Tensor
    targets: torch.Tensor
    weight: float


def anchor_loss(model: WorldModel, anchor: AnchorTensors) -> torch.Tensor:
    """``weight · mean_i ‖f(p_i) − t_i‖²`` (see module docstring)."""
    z = model.encode(anchor.points)
    return anchor.weight * (z - anchor.targets).pow(2).sum(dim=-1).mean()


def loss_terms(
    model: WorldModel,
    obs: torch.Tensor,
    actions: torch.Tensor,
    sketch: torch.Tensor,
    *,
    anchor: AnchorTensors | None,
    lambda_pred: float,
    lambda_sigreg: float,
    target_stop_gradient: bool = True,
) -> dict[str, torch.Tensor]:
    """Loss terms for a batch of windows ``obs (B, T+1, C, H, W)``, ``actions (B, T, A)``."""
    z = model.encode(obs)  # (B, T+1, d)
    target = z[:, 1:].detach() if target_stop_gradient else z[:, 1:]
    predicted = model.predict(z[:, :-1], actions)
    pred = (predicted - target).pow(2).mean()
    sig = sigreg_statistic(z.reshape(-1, z.shape[-1]), sketch)
    anc = anchor_loss(model, anchor) if anchor is not None and anchor.weight > 0 else torch.zeros((), dtype=z.dtype)
    total = lambda_pred * pred + lambda_sigreg * sig + anc
    return {"pred": pred, "sigreg": sig, "anchor": anc, "total": total}
