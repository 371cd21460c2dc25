"""The training objective: next-embedding prediction + SIGReg + a frame anchor (landmark or frame-only).

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
  This is the ``landmark`` variant (RFC-0002 §4): it pins the probe embedding's CONTENT, so the
  encoder is also pulled back towards the random round-0 features.
* ``anchor = w · ‖Q* − I‖_F²`` — the ``frame`` variant (RFC-0002 §8.1): ``Q*`` is the orthogonal
  Procrustes rotation of the current probe embedding onto the targets (``f(P) Q* ≈ T``, over
  ``O(d)``), i.e. the orthogonal polar factor of ``f(P)ᵀ T``. It is zero whenever the probe
  embedding is in the reference frame, whatever its content (scale, shape, which features it
  encodes), and grows with the rotation only. The polar factor is computed by a Newton–Schulz
  iteration (matrix products only) so its gradient stays finite when singular values coincide —
  the case at round 0, where ``f(P)ᵀ T`` is a multiple of the identity for whitened targets —
  unlike a backward pass through ``torch.linalg.svd``, whose ``1/(σ_i² − σ_j²)`` terms blow up.

All terms are float32 0-dim tensors; ``total`` is differentiable w.r.t. the model parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lensemble_spec.metrics import sigreg_statistic

from .model import WorldModel

#: Anchor variants (RFC-0002 §4 / §8.1): ``landmark`` pins the probe content, ``frame`` only its frame.
ANCHOR_VARIANTS = ("landmark", "frame")
#: Newton–Schulz iterations stop when an update moves no entry by more than this (float64).
POLAR_TOL = 1e-12
POLAR_MAX_ITER = 100


@dataclass(frozen=True)
class AnchorTensors:
    """Probe points ``(k, C, H, W)``, fixed round-0 targets ``(k, d)``, the weight and the variant."""

    points: torch.Tensor
    targets: torch.Tensor
    weight: float
    variant: str = "landmark"


def polar_factor(m: torch.Tensor) -> torch.Tensor:
    """The orthogonal polar factor ``U Vᵀ`` of a square ``m = U S Vᵀ`` (float64, differentiable).

    Newton–Schulz: ``X ← 1.5 X − 0.5 X Xᵀ X`` from ``X_0 = m / ‖m‖_F`` (singular values in
    ``(0, 1]``, inside the ``(0, √3)`` basin) converges to ``U Vᵀ`` for full-rank ``m``. The scale
    is detached: the polar factor of ``m / c`` is that of ``m`` for every ``c > 0``, so the
    gradient is unchanged. ``U Vᵀ`` is the minimiser of ``‖A Q − B‖_F`` over ``O(d)`` for
    ``m = Aᵀ B`` (what ``lensemble_spec.metrics.procrustes_align`` returns).
    """
    m = m.to(torch.float64)
    scale = torch.linalg.matrix_norm(m.detach()).clamp_min(torch.finfo(torch.float64).tiny)
    x = m / scale
    for _ in range(POLAR_MAX_ITER):
        nxt = 1.5 * x - 0.5 * x @ x.transpose(-1, -2) @ x
        done = bool((nxt.detach() - x.detach()).abs().max() <= POLAR_TOL)
        x = nxt
        if done:
            break
    return x


def frame_rotation(z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``Q*`` with ``z Q* ≈ targets`` over ``O(d)`` (float64, differentiable in ``z``)."""
    return polar_factor(z.to(torch.float64).transpose(-1, -2) @ targets.to(torch.float64))


def anchor_loss(model: WorldModel, anchor: AnchorTensors) -> torch.Tensor:
    """The anchor term of ``anchor.variant`` (see module docstring), float32 0-dim."""
    z = model.encode(anchor.points)
    if anchor.variant == "frame":
        q = frame_rotation(z, anchor.targets)
        eye = torch.eye(q.shape[-1], dtype=q.dtype)
        return (anchor.weight * (q - eye).pow(2).sum()).to(z.dtype)
    if anchor.variant != "landmark":
        raise ValueError(f"unknown anchor variant {anchor.variant!r}; expected one of {ANCHOR_VARIANTS}")
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
