"""Upper bounds on a training configuration, checked before anything is built or written.

``TrainConfig.validate`` already refuses values below their minimum; this module refuses values
above what the trainer can honour: every count has a ceiling (:data:`CEILINGS`, far above any
useful setting, low enough that the number cannot overflow a C integer or ask the allocator for
petabytes), the seeds fit the manifest's 64-bit seed type, and an estimate of the largest memory
the run needs — the rendered world, the sketch, one batch's activations, the parameters and their
optimiser moments per silo — must fit in :func:`memory_budget`. A violation is a
:class:`~lensemble_spec.errors.ConfigError` naming the field, raised before the output directory
is touched (a config that only fails deep inside torch used to leave a half-written run behind).
"""

from __future__ import annotations

import os
from typing import Any

from lensemble_spec.errors import ConfigError

#: Largest value of each count (dotted config path -> ceiling).
CEILINGS: dict[str, int] = {
    "rounds": 100_000,
    "inner_steps": 10_000_000,
    "batch_size": 65_536,
    "window": 4_096,
    "episodes_per_batch": 65_536,
    "sketch_dim": 65_536,
    "threads": 256,
    "min_participants": 4_096,
    "model.latent_dim": 65_536,
    "model.pred_hidden": 65_536,
    "model.pred_depth": 256,
    "model.action_dim": 65_536,
    "model.image_size": 4_096,
    "model.in_channels": 64,
    "model.channels": 65_536,
    "world.episodes_per_silo": 1_000_000,
    "world.horizon": 100_000,
    "world.image_size": 4_096,
    "world.probe_size": 1_000_000,
}
#: Largest value of each real-valued setting: far beyond anything that trains (an inner learning
#: rate of 10 already diverges at once), low enough that no product overflows float32.
FLOAT_CEILINGS: dict[str, float] = {
    "inner_lr": 10.0,
    "weight_decay": 1e3,
    "grad_clip": 1e6,
    "lambda_pred": 1e6,
    "lambda_sigreg": 1e6,
    "lambda_anchor": 1e6,
    "backstop_threshold_deg": 1e4,
}
#: Seeds are recorded as unsigned 64-bit integers (RunManifest.root_seed); the world takes 63 bits.
MAX_SEED = (1 << 63) - 1
#: Silos of the embedded world plus its held-out split (episodes rendered per ``episodes_per_silo``).
WORLD_SPLITS = 5
#: Fraction of physical memory a run may plan to use.
MEMORY_FRACTION = 0.75
_FALLBACK_MEMORY = 8 * 1024**3


def memory_budget() -> int:
    """Bytes a run may plan to use: ``LENSEMBLE_MEMORY_BYTES`` if set, else 75% of physical memory."""
    env = os.environ.get("LENSEMBLE_MEMORY_BYTES", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = _FALLBACK_MEMORY
    return int(total * MEMORY_FRACTION) if total > 0 else _FALLBACK_MEMORY


def estimate_memory(cfg: Any) -> dict[str, int]:
    """Rough byte counts of the big allocations of a run of ``cfg`` (float32 everywhere)."""
    m, w = cfg.model, cfg.world
    pixels = m.in_channels * w.image_size * w.image_size
    frames = WORLD_SPLITS * w.episodes_per_silo * (w.horizon + 1) + w.probe_size
    widest = max(m.channels)
    # conv activations of one batch (first layer at full resolution dominates), kept for backward
    batch_frames = cfg.batch_size * (cfg.window + 1) * max(1, WORLD_SPLITS - 1)  # centralized: C× batch
    activations = batch_frames * (pixels + widest * (w.image_size // 2) ** 2 * 2)
    conv_params = sum(a * b * 9 for a, b in zip((m.in_channels, *m.channels[:-1]), m.channels))
    head_params = m.channels[-1] * m.latent_dim * (w.image_size // 16) ** 2
    pred_params = (
        (m.latent_dim + m.action_dim) * m.pred_hidden + m.pred_depth * m.pred_hidden**2 + m.pred_hidden * m.latent_dim
    )
    params = conv_params + head_params + pred_params
    return {
        "world": 4 * frames * pixels,
        "sketch": 4 * m.latent_dim * cfg.sketch_dim,
        "activations": 4 * activations,
        "parameters": 4 * params * 4 * (WORLD_SPLITS - 1),  # weights, grads, two moments, per silo
    }


def check_limits(cfg: Any) -> None:
    """Raise ConfigError for the first count above its ceiling, a seed out of range, or a run
    whose estimated memory exceeds the budget."""
    for path, ceiling in CEILINGS.items():
        node: Any = cfg
        for part in path.split("."):
            node = getattr(node, part)
        values = node if isinstance(node, tuple) else (node,)
        if any(v > ceiling for v in values):
            raise ConfigError(
                f"{path} = {node} is above the limit of {ceiling}",
                remediation=f"Use a value of {path} at most {ceiling}.",
                field=path,
            )
    for path, ceiling in FLOAT_CEILINGS.items():
        if getattr(cfg, path) > ceiling:
            raise ConfigError(
                f"{path} = {getattr(cfg, path)} is above the limit of {ceiling}",
                remediation=f"Use {path} <= {ceiling}.",
                field=path,
            )
    for path, value in (("seed", cfg.seed), ("world.seed", cfg.world.seed)):
        if not 0 <= value <= MAX_SEED:
            raise ConfigError(
                f"{path} = {value} is outside 0 … 2**63 − 1",
                remediation="Use a non-negative seed below 2**63.",
                field=path,
            )
    if cfg.model.action_dim < 1 or cfg.model.in_channels < 1:
        raise ConfigError("model.action_dim and model.in_channels must be >= 1", field="model.action_dim")
    if cfg.world.episodes_per_silo < 1 or cfg.world.horizon < 1:
        raise ConfigError("world.episodes_per_silo and world.horizon must be >= 1", field="world")
    parts = estimate_memory(cfg)
    total, budget = sum(parts.values()), memory_budget()
    if total > budget:
        biggest = max(parts, key=parts.__getitem__)
        raise ConfigError(
            f"the run would need about {total / 1024**3:.1f} GiB ({biggest} {parts[biggest] / 1024**3:.1f} GiB), "
            f"more than the {budget / 1024**3:.1f} GiB budget",
            remediation="Lower world.episodes_per_silo, world.probe_size, batch_size, sketch_dim or the model sizes "
            "(or raise LENSEMBLE_MEMORY_BYTES if the machine really has the memory).",
            field=biggest,
        )


__all__ = ["CEILINGS", "FLOAT_CEILINGS", "MAX_SEED", "check_limits", "estimate_memory", "memory_budget"]
