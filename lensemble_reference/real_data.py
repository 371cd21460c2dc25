"""Run inputs from local LeRobot datasets: what ``train``/``headline --lerobot-root`` train on.

:func:`lerobot_run_inputs(cfg, options)` loads the roots with
:func:`lensemble_reference.lerobot_data.load_lerobot_silos` and returns ``(cfg', RunInputs, held-out
Silo)``, the same triple the embedded world gives (:func:`lensemble_reference.controls.world_splits`)
plus the configuration adapted to the data.

Contract
--------
* **The model follows the data.** ``cfg'.model.action_dim`` is the loaded silos' action width
  (6 for SO-100) and ``cfg'.model.image_size`` their frame size (the loader resizes every frame to
  the configured ``model.image_size``); ``cfg'.world.horizon`` is the chunk length ``T`` and
  ``cfg'.world.image_size`` the frame size. They live in the run's config, so the manifest's
  ``config_hash`` (and every checkpoint's) covers them. So do the loader options (frame stride,
  frame cap, split mode, camera key) as ``cfg'.data`` (:func:`data_config`). ``world.seed`` is the data seed: it drives
  the pooled split (``split_seed``) and the probe draw. ``world.episodes_per_silo`` is unused
  with real data. Nothing is loaded before the options and the adapted config validate.
* **The public probe** (RFC-0002 §4) is ``k = world.probe_size`` (≥ ``latent_dim``, checked by
  the config) real frames from the TRAINING silos, never the held-out split. Candidates are, for
  every training silo in sorted order and every chunk row in order, the chunk's frames
  ``0 … T−1`` (a chunk's frame ``T`` is the next chunk's frame 0, so every candidate is a
  distinct source frame). ``k`` of the ``N`` candidates are drawn without replacement by
  ``numpy.random.default_rng(derive_seed(world.seed, "lerobot/probe")).choice(N, k,
  replace=False)`` and taken in ascending candidate order. Drawn across whole episodes rather
  than their first frames on purpose: teleoperated SO-100 episodes start in the same rest pose,
  so first frames are nearly identical images and pin a frame poorly (ill-conditioned
  Procrustes). ``probe_hash`` is :func:`lensemble_spec.artifacts.probe_hash` of the points; the
  source of every point — ``[silo, root position, episode_index, source frame]`` — is recorded.
  The probe's frames are published in ``probe.safetensors`` for every participant: with real
  data this reveals ``k`` training frames, which is what a public probe means.
* **Provenance.** ``RunInputs.data_roots`` names each root as
  ``lerobot:<absolute path>?fingerprint=<sha256>`` (the loader's content fingerprint of
  ``meta/info.json`` and the episode lengths). ``RunInputs.world`` — recorded by the trainer as
  the manifest's ``split_policy["world"]`` — is :data:`DATA_SCHEMA` with the loader's split
  policy (mode, rule, assignment, ``split_hash``), its standardisation and the probe's rule,
  seed and sources; identical for every control of a headline comparison (EVAL-001).

Errors: :class:`~lensemble_spec.errors.ConfigError` for bad options or a config that cannot
hold the data's chunks (before any file is read),
the loader's :class:`~lensemble_spec.errors.DataError` for a missing or malformed root, and
``DataError`` when the training silos hold fewer than ``k`` candidate frames or the held-out
split is too small to evaluate (fewer than 2 chunks, or no more frames than latent dimensions)
— all before training starts, so no run directory is left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lensemble_spec.errors import DataError
from lensemble_spec.metrics import derive_seed

from .config import DataConfig, TrainConfig
from .federation import RunInputs

#: Identifies the layout of the data description a run records (``split_policy["world"]``).
DATA_SCHEMA = "lensemble-spec/lerobot-data/v1"
#: ``derive_seed`` label of the probe draw.
PROBE_SEED_LABEL = "lerobot/probe"


@dataclass(frozen=True)
class LeRobotOptions:
    """Loader options a command line can set. ``horizon=None``: the config's ``world.horizon``.

    Values are checked by the loader (ConfigError) before it opens any root.
    """

    roots: tuple[str, ...]
    horizon: int | None = None
    frame_stride: int = 1
    max_frames_per_episode: int | None = None
    split: str = "auto"
    image_key: str | None = None


def data_config(options: LeRobotOptions) -> DataConfig:
    """The config's ``data`` section for ``options`` (roots are machine paths: not part of it)."""
    return DataConfig(
        source="lerobot",
        frame_stride=int(options.frame_stride),
        max_frames_per_episode=int(options.max_frames_per_episode or 0),
        split=str(options.split),
        image_key=str(options.image_key or ""),
    )


def adapt_config(cfg: TrainConfig, *, horizon: int, image_size: int, action_dim: int) -> TrainConfig:
    """``cfg`` with the data's chunk length, frame size and action width (validated)."""
    data = cfg.to_dict()
    data["world"]["horizon"] = int(horizon)
    data["world"]["image_size"] = int(image_size)
    data["model"]["image_size"] = int(image_size)
    data["model"]["action_dim"] = int(action_dim)
    return TrainConfig.from_dict(data).validate()


def probe_candidates(silos: dict[str, Any]) -> list[tuple[str, int, int]]:
    """``(silo, row, t)`` of every probe candidate, in the order of the module docstring."""
    out: list[tuple[str, int, int]] = []
    for name in sorted(silos):
        rows, frames = np.asarray(silos[name].obs).shape[:2]
        out.extend((name, r, t) for r in range(rows) for t in range(frames - 1))
    return out


def select_probe(
    silos: dict[str, Any], chunk_sources: dict[str, np.ndarray], *, k: int, seed: int, frame_stride: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(points (k, C, H, W) float32, description)`` by the seeded rule of the module docstring."""
    from lensemble_spec.artifacts import probe_hash

    candidates = probe_candidates(silos)
    if len(candidates) < k:
        raise DataError(
            f"the training silos hold {len(candidates)} candidate probe frames, fewer than probe_size = {k}",
            remediation="Use more or longer episodes, or a smaller world.probe_size (it must stay >= "
                        "model.latent_dim).",
        )
    rng = np.random.default_rng(derive_seed(seed, PROBE_SEED_LABEL))
    chosen = np.sort(rng.choice(len(candidates), size=k, replace=False))
    picks = [candidates[int(i)] for i in chosen]
    points = np.stack([np.asarray(silos[s].obs[r, t], dtype=np.float32) for s, r, t in picks])
    sources = []
    for s, r, t in picks:
        root, episode, first = (int(v) for v in chunk_sources[s][r])
        sources.append([s, root, episode, first + t * frame_stride])
    description = {
        "rule": (
            "candidates: for each training silo (sorted) and chunk row (in order), the chunk's frames 0..T-1; "
            f"numpy.random.default_rng(derive_seed(world.seed, {PROBE_SEED_LABEL!r})).choice(N, k, replace=False), "
            "taken in ascending candidate order"
        ),
        "seed": int(seed),
        "size": int(k),
        "candidates": len(candidates),
        "sources_fields": ["silo", "root", "episode_index", "frame_index"],
        "sources": sources,
        "probe_hash": probe_hash(points),
    }
    return points, description


def check_heldout(heldout: Any, *, latent_dim: int) -> None:
    """DataError unless the evaluator can score the held-out split (RFC-0005 §3), checked before training.

    The state probe needs >= 2 held-out rows (the first ⌊E/2⌋ fit, the rest score) and the
    collapse metrics more held-out frames than latent dimensions.
    """
    rows, frames = np.asarray(heldout.obs).shape[:2]
    if rows < 2 or rows * frames <= latent_dim:
        raise DataError(
            f"the held-out split has {rows} chunk(s) of {frames} frames; evaluation needs >= 2 chunks "
            f"and more than latent_dim = {latent_dim} frames",
            remediation="Hold out more or longer episodes: add episodes or roots, or lower "
                        "--lerobot-horizon/--lerobot-stride.",
        )


def lerobot_run_inputs(cfg: TrainConfig, options: LeRobotOptions) -> tuple[TrainConfig, RunInputs, Any]:
    """``(cfg', RunInputs, held-out Silo)`` for ``options.roots`` (see module docstring)."""
    from .lerobot_data import load_lerobot_silos

    horizon = options.horizon if options.horizon is not None else cfg.world.horizon
    cfg = cfg.replace(data=data_config(options))  # the loader options enter config_hash
    # Fail on a config that cannot fit the data's chunks before reading any dataset.
    cfg = adapt_config(cfg, horizon=horizon, image_size=cfg.model.image_size, action_dim=cfg.model.action_dim)
    splits = load_lerobot_silos(
        list(options.roots),
        image_key=options.image_key,
        image_size=cfg.model.image_size,
        split_seed=cfg.world.seed,
        horizon=horizon,
        frame_stride=options.frame_stride,
        max_frames_per_episode=options.max_frames_per_episode,
        split=options.split,
    )
    check_heldout(splits.heldout, latent_dim=cfg.model.latent_dim)
    first = splits.silos[min(splits.silos)]
    obs, actions = np.asarray(first.obs), np.asarray(first.actions)
    cfg = adapt_config(cfg, horizon=obs.shape[1] - 1, image_size=obs.shape[-1], action_dim=actions.shape[-1])
    points, probe = select_probe(
        splits.silos,
        splits.chunk_sources,
        k=cfg.world.probe_size,
        seed=cfg.world.seed,
        frame_stride=options.frame_stride,
    )
    fingerprints = [root["fingerprint"] for root in splits.split_policy["roots"]]
    inputs = RunInputs(
        silos=splits.silos,
        probe_points=points,
        probe_hash=probe["probe_hash"],
        data_roots=[f"lerobot:{path}?fingerprint={fp}" for path, fp in zip(splits.data_roots, fingerprints)],
        world={
            "schema": DATA_SCHEMA,
            "source": "lerobot",
            "split": splits.split_policy,
            "standardisation": splits.standardisation,
            "probe": probe,
        },
    )
    return cfg, inputs, splits.heldout


def describe_data(cfg: TrainConfig, inputs: RunInputs, heldout: Any) -> str:
    """One line for the console: roots, split, rows per split, what the model was sized to."""
    split = (inputs.world or {}).get("split", {})
    rows = ", ".join(f"{name} {np.asarray(inputs.silos[name].obs).shape[0]}" for name in sorted(inputs.silos))
    return (
        f"data: {len(inputs.data_roots)} LeRobot root(s), split {split.get('mode')} "
        f"(split_hash {str(split.get('split_hash'))[:12]}…); chunks of {cfg.world.horizon} steps: {rows}, "
        f"heldout {np.asarray(heldout.obs).shape[0]}; model action_dim {cfg.model.action_dim}, "
        f"{cfg.model.image_size}px frames; probe {cfg.world.probe_size} training frames ({inputs.probe_hash[:12]}…)"
    )


def describe_heldout(inputs: RunInputs) -> str:
    """The results table's ``split`` text for a LeRobot comparison."""
    split = (inputs.world or {}).get("split", {})
    heldout = split.get("assignment", {}).get("heldout", [])
    return (
        f"heldout: {len(heldout)} LeRobot episode(s) by the {split.get('mode')} rule "
        f"(split_hash {str(split.get('split_hash'))[:12]}…); state probe fit on the first floor(E/2) "
        "held-out chunks, scored on the rest"
    )

