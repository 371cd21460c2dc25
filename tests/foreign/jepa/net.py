"""The world model as pure functions of a parameter dict (torch, float32).

Encoder: 8×8 patches → linear embedding + learned positions → GELU → linear to ``d`` →
LayerNorm without affine parameters (every token sums to zero) → a linear *frame layer*
``F`` (``d × d``, no bias). It returns one latent per patch token, ``(N, K, d)``; pooling them is
the caller's business. Because each normalised token sums to zero, the latents span at most
``d − 1`` directions — a rank-deficient frame by design.

Predictor: ``z' = z + MLP([z, a])`` with the latent entering through ``P_z`` (``d × h``) and leaving
through ``P_out`` (``h × d``) plus a bias: a gauge rotation ``z → zQ`` is absorbed by ``P_z → QᵀP_z``,
``P_out → P_out Q``, ``b_out → b_out Q`` and ``F → F Q``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as fn

PATCH = 8


@dataclass(frozen=True)
class Shape:
    d: int = 16
    actions: int = 5
    side: int = 32
    channels: int = 3
    width: int = 48  # token embedding width
    hidden: int = 64  # predictor width

    @property
    def tokens(self) -> int:
        return (self.side // PATCH) ** 2


def fresh(shape: Shape, seed: int) -> dict[str, np.ndarray]:
    """New parameters (float32) from ``seed``; the frame layer starts orthogonal (a well-conditioned frame)."""
    g = np.random.Generator(np.random.Philox(seed))
    patch_in = shape.channels * PATCH * PATCH

    def dense(n_in: int, n_out: int) -> np.ndarray:
        return (g.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)

    return {
        "encoder.embed.w": dense(patch_in, shape.width),
        "encoder.embed.b": np.zeros(shape.width, np.float32),
        "encoder.pos": (0.1 * g.standard_normal((shape.tokens, shape.width))).astype(np.float32),
        "encoder.to_latent.w": dense(shape.width, shape.d),
        "encoder.to_latent.b": np.zeros(shape.d, np.float32),
        "encoder.frame": np.linalg.qr(g.standard_normal((shape.d, shape.d)))[0].astype(np.float32),
        "predictor.z_in": dense(shape.d, shape.hidden),
        "predictor.a_in": dense(shape.actions, shape.hidden),
        "predictor.b_in": np.zeros(shape.hidden, np.float32),
        "predictor.mid.w": dense(shape.hidden, shape.hidden),
        "predictor.mid.b": np.zeros(shape.hidden, np.float32),
        "predictor.out.w": (0.1 * dense(shape.hidden, shape.d)).astype(np.float32),
        "predictor.out.b": np.zeros(shape.d, np.float32),
    }


def tensors(params, *, grad: bool = False) -> dict[str, torch.Tensor]:
    out = {}
    for name, value in params.items():
        t = torch.tensor(np.array(value, dtype=np.float32))
        out[name] = t.requires_grad_(True) if grad else t
    return out


def tokens(p: dict[str, torch.Tensor], obs: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)`` → ``(N, K, d)`` frame-layer tokens."""
    n, c, h, w = obs.shape
    obs = obs - 0.5  # centred pixels: latents of different frames spread over more directions
    patches = (
        obs.reshape(n, c, h // PATCH, PATCH, w // PATCH, PATCH)
        .permute(0, 2, 4, 1, 3, 5)
        .reshape(n, -1, c * PATCH * PATCH)
    )
    x = fn.gelu(patches @ p["encoder.embed.w"] + p["encoder.embed.b"] + p["encoder.pos"])
    x = x @ p["encoder.to_latent.w"] + p["encoder.to_latent.b"]
    x = fn.layer_norm(x, (x.shape[-1],), eps=1e-5)
    return x @ p["encoder.frame"]


def pooled(p: dict[str, torch.Tensor], obs: torch.Tensor) -> torch.Tensor:
    return tokens(p, obs).mean(dim=1)


def step(p: dict[str, torch.Tensor], z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    h = fn.gelu(z @ p["predictor.z_in"] + a @ p["predictor.a_in"] + p["predictor.b_in"])
    h = fn.gelu(h @ p["predictor.mid.w"] + p["predictor.mid.b"])
    return z + h @ p["predictor.out.w"] + p["predictor.out.b"]


def turned(params, q) -> dict[str, np.ndarray]:
    """Parameters of the same model in the frame rotated by orthogonal ``q`` (float64 algebra)."""
    q = np.asarray(q, dtype=np.float64)
    out = {k: np.array(v, copy=True) for k, v in params.items()}
    for name, fix in (
        ("encoder.frame", lambda m: m @ q),
        ("predictor.z_in", lambda m: q.T @ m),
        ("predictor.out.w", lambda m: m @ q),
        ("predictor.out.b", lambda m: m @ q),
    ):
        src = np.asarray(params[name])
        out[name] = fix(src.astype(np.float64)).astype(src.dtype)
    return out


# --- objective -------------------------------------------------------------------------------------
def _simpson_window(knots: int = 33, t_max: float = 4.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Knots on [0, t_max] with Simpson weights × e^{−t²/2}, normalised to sum 1."""
    t = np.linspace(0.0, t_max, knots)
    h = t[1] - t[0]
    simpson = np.ones(knots)
    simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
    w = simpson * h / 3.0 * np.exp(-0.5 * t * t)
    return torch.tensor(t, dtype=torch.float64), torch.tensor(w / w.sum(), dtype=torch.float64)


KNOTS, WEIGHTS = _simpson_window()


def epps_pulley(z: torch.Tensor, sketch: torch.Tensor) -> torch.Tensor:
    """Mean over sketch directions of the windowed squared ECF error of centred projections."""
    u = (z @ sketch).double()
    u = u - u.mean(dim=0, keepdim=True)
    arg = u[:, :, None] * KNOTS  # (M, m, K)
    re = torch.cos(arg).mean(dim=0) - torch.exp(-0.5 * KNOTS**2)
    im = torch.sin(arg).mean(dim=0)
    return ((re**2 + im**2) * WEIGHTS).sum(dim=-1).mean().float()


def objective(
    p, obs: torch.Tensor, actions: torch.Tensor, sketch: torch.Tensor, anchor, lam_pred: float, lam_sigreg: float
) -> dict[str, torch.Tensor]:
    """Terms on windows ``obs`` (B, T+1, C, H, W), ``actions`` (B, T, A); ``anchor`` (points, targets, weight)
    or None."""
    b, t1 = obs.shape[:2]
    z = pooled(p, obs.reshape(b * t1, *obs.shape[2:])).reshape(b, t1, -1)
    guesses = torch.stack([step(p, z[:, i], actions[:, i]) for i in range(t1 - 1)], dim=1)
    pred = ((guesses - z[:, 1:]) ** 2).mean()
    sig = epps_pulley(z.reshape(b * t1, -1), sketch)
    if anchor is None:
        anc = torch.zeros((), dtype=pred.dtype)
    else:
        points, targets, weight = anchor
        anc = weight * ((pooled(p, points) - targets) ** 2).sum(dim=1).mean()
    return {"pred": pred, "sigreg": sig, "anchor": anc, "total": lam_pred * pred + lam_sigreg * sig + anc}
