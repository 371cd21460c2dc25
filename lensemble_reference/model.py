"""LeWM-style world model: a small CNN encoder ending in a frame layer, and an action-conditioned
predictor whose latent-facing layers make the gauge action exact in weights.

Conventions (RFC-0002 §2): latents are row vectors ``z`` of width ``d``; a gauge transform by an
orthogonal ``Q`` (d×d, det ±1) sends ``z → z Q``. ``nn.Linear`` computes ``y = x Wᵀ + b``.

Encoder ``f``: ``x ∈ [0,1]^{3×48×48} → (x − ½) → Conv(k4, s4) → Conv(k3, s2) → Conv(k3, s2)`` (each
followed by GroupNorm and GELU; 48 → 12 → 6 → 3) ``→ flatten → fc → frame_proj``. ``frame_proj`` is
``Linear(d, d, bias=False)`` initialised to the identity, so ``z = h Fᵀ`` with ``h = fc(...)``.

Predictor ``g``: ``g(z, a) = z + out_proj(MLP(GELU(in_proj(z) + cond_proj(a))))``. Nothing but
``in_proj`` reads ``z`` and nothing but ``out_proj`` and the skip write to latent space, so the
hidden layers (and their nonlinearity) never see the gauge.

Gauge action in weights, ``rotate(params, Q)`` (the algebra, row convention):

* ``frame_proj``: want ``z' = z Q = h Fᵀ Q = h (Qᵀ F)ᵀ`` → ``F' = Qᵀ F``.
* ``in_proj``: want ``in'(z Q) = in(z)``: ``z Q W'ᵀ = z Wᵀ`` → ``W'ᵀ = Qᵀ Wᵀ`` → ``W' = W Q``
  (bias unchanged: it lives on the hidden side).
* ``out_proj``: want ``out'(u) = out(u) Q = u Oᵀ Q + b Q`` → ``O' = Qᵀ O`` and ``b' = b Q``
  (= ``Qᵀ b`` for the column vector ``b``).
* skip ``z + out``: ``z Q + out Q = (z + out) Q``, exactly equivariant.

Hence ``encode(rotate(p, Q), x) = encode(p, x) Q`` and ``predict(rotate(p, Q), z Q, a) =
predict(p, z, a) Q`` for every orthogonal ``Q`` including reflections, up to float rounding
(the rotation itself is done in float64 and rounded once to float32).

Parameter names (``state_dict`` keys, all float32) are ``encoder.*`` and ``predictor.*`` only;
they are the names deltas, checkpoints and the residency check use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from lensemble_spec.errors import InputError

from .config import ModelConfig

#: Parameters the gauge acts on, and how (see module docstring).
FRAME_PROJ = "encoder.frame_proj.weight"
IN_PROJ = "predictor.in_proj.weight"
OUT_PROJ_W = "predictor.out_proj.weight"
OUT_PROJ_B = "predictor.out_proj.bias"
#: Parameters that define the encoder's terminal frame and the predictor's latent interface.
GAUGE_PARAMS = (FRAME_PROJ, IN_PROJ, OUT_PROJ_W, OUT_PROJ_B)


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c1, c2, c3 = cfg.channels
        self.conv1 = nn.Conv2d(cfg.in_channels, c1, 4, 4)  # patchify: 48 -> 12
        self.norm1 = nn.GroupNorm(min(4, c1), c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, 2, 1)  # 12 -> 6
        self.norm2 = nn.GroupNorm(min(4, c2), c2)
        self.conv3 = nn.Conv2d(c2, c3, 3, 2, 1)  # 6 -> 3
        self.norm3 = nn.GroupNorm(min(4, c3), c3)
        side = cfg.image_size // 16
        self.fc = nn.Linear(c3 * side * side, cfg.latent_dim)
        self.frame_proj = nn.Linear(cfg.latent_dim, cfg.latent_dim, bias=False)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - 0.5
        x = self.act(self.norm1(self.conv1(x)))
        x = self.act(self.norm2(self.conv2(x)))
        x = self.act(self.norm3(self.conv3(x)))
        return self.frame_proj(self.fc(x.flatten(1)))


class Predictor(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        h = cfg.pred_hidden
        self.in_proj = nn.Linear(cfg.latent_dim, h)
        self.cond_proj = nn.Linear(cfg.action_dim, h)
        self.blocks = nn.ModuleList(nn.Linear(h, h) for _ in range(cfg.pred_depth))
        self.out_proj = nn.Linear(h, cfg.latent_dim)
        self.act = nn.GELU()

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        u = self.act(self.in_proj(z) + self.cond_proj(a))
        for block in self.blocks:
            u = self.act(block(u))
        return z + self.out_proj(u)


class WorldModel(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.predictor = Predictor(cfg)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """``(..., C, H, W) → (..., d)``."""
        lead = obs.shape[:-3]
        z = self.encoder(obs.reshape(-1, *obs.shape[-3:]))
        return z.reshape(*lead, z.shape[-1])

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.predictor(z, a)


def init_params(cfg: ModelConfig, seed: int) -> dict[str, np.ndarray]:
    """Seeded float32 parameters (numpy, name-sorted); ``frame_proj`` is exactly the identity.

    Weights are uniform with variance ``1/fan_in`` (LeCun), biases uniform in ``±1/√fan_in``,
    GroupNorm affine = (1, 0). Uses a private ``torch.Generator`` (the global RNG is untouched),
    so the result depends on ``(cfg, seed)`` only.
    """
    gen = torch.Generator().manual_seed(int(seed) % (2**63))
    module = WorldModel(cfg)
    params: dict[str, np.ndarray] = {}
    for name, p in module.named_parameters():  # registration order: fixed by the module code
        if name == FRAME_PROJ:
            value = torch.eye(cfg.latent_dim)
        elif ".norm" in name:
            value = torch.ones(p.shape) if name.endswith(".weight") else torch.zeros(p.shape)
        elif name.endswith(".bias"):
            bound = 1.0 / _fan_in(module, name) ** 0.5
            value = (torch.rand(p.shape, generator=gen) * 2 - 1) * bound
        else:
            bound = (3.0 / int(np.prod(p.shape[1:]))) ** 0.5
            value = (torch.rand(p.shape, generator=gen) * 2 - 1) * bound
        params[name] = value.to(torch.float32).numpy().copy()
    return dict(sorted(params.items()))


def _fan_in(module: nn.Module, bias_name: str) -> int:
    weight = dict(module.named_parameters())[bias_name[: -len("bias")] + "weight"]
    return int(np.prod(weight.shape[1:]))


def infer_model_config(params: Mapping[str, Any]) -> ModelConfig:
    """The architecture a parameter mapping belongs to, read from its tensor shapes.

    Lets a checkpoint be evaluated without its run's config (the conformance verifier re-encodes
    checkpoints of any size through one model part). Raises InputError for a mapping that is not
    this model family.
    """
    try:
        shape = {k: tuple(np.shape(v)) for k, v in params.items()}
        c1, in_ch = shape["encoder.conv1.weight"][:2]
        c2 = shape["encoder.conv2.weight"][0]
        c3 = shape["encoder.conv3.weight"][0]
        d, fc_in = shape["encoder.fc.weight"]
        hidden, action_dim = shape["predictor.cond_proj.weight"]
    except (KeyError, ValueError) as exc:
        raise InputError(f"params are not a lensemble_reference world model: missing or malformed {exc}") from exc
    side = int(round((fc_in / c3) ** 0.5))
    if side * side * c3 != fc_in:
        raise InputError(f"encoder.fc input width {fc_in} is not {c3}·side² for any integer side")
    depth = sum(1 for k in params if k.startswith("predictor.blocks.") and k.endswith(".weight"))
    return ModelConfig(
        latent_dim=int(d),
        channels=(int(c1), int(c2), int(c3)),
        pred_hidden=int(hidden),
        pred_depth=int(depth),
        action_dim=int(action_dim),
        image_size=16 * side,
        in_channels=int(in_ch),
    )


def module_from_params(cfg: ModelConfig | None, params: Mapping[str, Any]) -> WorldModel:
    """A module holding float32 copies of ``params`` (names must match exactly).

    ``cfg=None`` infers the architecture from the parameter shapes (:func:`infer_model_config`).
    """
    module = WorldModel(cfg if cfg is not None else infer_model_config(params))
    state = {k: torch.as_tensor(np.asarray(v, dtype=np.float32)).clone() for k, v in params.items()}
    expected = set(module.state_dict())
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise InputError(f"params do not match the model (missing {missing[:3]}, unexpected {extra[:3]})")
    for k, v in module.state_dict().items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise InputError(f"param {k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
    module.load_state_dict(state, strict=True)
    return module


def params_of(module: WorldModel) -> dict[str, np.ndarray]:
    """Sorted float32 numpy copies of the module's parameters."""
    return {k: v.detach().to(torch.float32).numpy().copy() for k, v in sorted(module.state_dict().items())}


#: Eigenvalue floor (relative to the largest) when whitening the initial probe embedding: caps the
#: amplification of any direction at 100× (1/√1e-4) if the random encoder happens to be nearly
#: rank-deficient on the probe (at the default size the smallest eigenvalue sits near 1e-2).
WHITEN_EIG_RTOL = 1e-4
#: Below this total variance (relative to the raw energy) the probe embedding is treated as
#: constant (e.g. a probe of identical points) and θ_0 is left unwhitened: there is no frame to pin.
WHITEN_CONSTANT_RTOL = 1e-12


def calibrate_init(cfg: ModelConfig, params: Mapping[str, Any], probe_points: Any) -> dict[str, np.ndarray]:
    """Whiten the initial encoder on the public probe: ``f'(P)`` has zero mean and identity covariance.

    With ``z = h Aᵀ + c`` (``fc``; ``frame_proj`` = I at init), mean ``μ`` and covariance ``Σ`` of
    ``f(P)`` and the symmetric ``W = Σ^{-1/2}``: ``z' = (z − μ) W`` ⇔ ``A' = W A``,
    ``c' = W (c − μ)``. Why: the anchor pins ``f(P)`` to the round-0 targets forever, and SIGReg
    pulls latents toward N(0, I); a random encoder's probe embedding has a small, anisotropic
    scale, so without this the two terms would fight from step one. Deterministic (float64
    eigendecomposition of a d×d matrix), applied identically for every control. A probe whose
    embedding is constant (identical points) is returned unchanged.
    """
    out = {k: np.array(v, dtype=np.float32, copy=True) for k, v in params.items()}
    module = module_from_params(cfg, out)
    with torch.no_grad():
        z = module.encode(torch.as_tensor(np.asarray(probe_points, dtype=np.float32))).double().numpy()
    mu = z.mean(axis=0)
    cov = np.cov(z, rowvar=False, bias=True)
    if not np.all(np.isfinite(cov)) or np.trace(cov) <= WHITEN_CONSTANT_RTOL * max(float(np.mean(z * z)), 1e-300):
        return out  # a degenerate probe: nothing to calibrate on (the run reports the degenerate frame)
    evals, evecs = np.linalg.eigh(cov)
    evals = np.maximum(evals, WHITEN_EIG_RTOL * evals.max())
    w = (evecs / np.sqrt(evals)) @ evecs.T
    a = out["encoder.fc.weight"].astype(np.float64)
    c = out["encoder.fc.bias"].astype(np.float64)
    out["encoder.fc.weight"] = (w @ a).astype(np.float32)
    out["encoder.fc.bias"] = (w @ (c - mu)).astype(np.float32)
    return out


def rotate_params(params: Mapping[str, Any], q: Any) -> dict[str, np.ndarray]:
    """The gauge action ``z → z Q`` in weights (see module docstring); float32 out.

    Only the four :data:`GAUGE_PARAMS` change; every other array is returned bit-identical.
    Raises InputError if ``q`` is not a ``(d, d)`` orthogonal matrix (tolerance 1e-4, float32
    rotations are accepted).
    """
    out = {k: np.array(np.asarray(v), dtype=np.float32, copy=True) for k, v in params.items()}
    missing = [k for k in GAUGE_PARAMS if k not in out]
    if missing:
        raise InputError(f"params lack gauge parameter(s) {', '.join(missing)}")
    d = out[FRAME_PROJ].shape[0]
    q64 = np.asarray(q, dtype=np.float64)
    if q64.shape != (d, d) or not np.all(np.isfinite(q64)):
        raise InputError(f"rotation must be a finite ({d}, {d}) matrix, got shape {q64.shape}")
    if np.max(np.abs(q64.T @ q64 - np.eye(d))) > 1e-4:
        raise InputError("rotation is not orthogonal (QᵀQ deviates from I by more than 1e-4)")
    f = out[FRAME_PROJ].astype(np.float64)
    w = out[IN_PROJ].astype(np.float64)
    o = out[OUT_PROJ_W].astype(np.float64)
    b = out[OUT_PROJ_B].astype(np.float64)
    out[FRAME_PROJ] = (q64.T @ f).astype(np.float32)
    out[IN_PROJ] = (w @ q64).astype(np.float32)
    out[OUT_PROJ_W] = (q64.T @ o).astype(np.float32)
    out[OUT_PROJ_B] = (b @ q64).astype(np.float32)
    return out
