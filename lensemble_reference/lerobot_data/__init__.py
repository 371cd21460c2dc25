"""Sovereign silos from LeRobot datasets (v3.0 format), read through lerobot's own dataset class.

``load_lerobot_silos(roots, ...)`` turns one or more local LeRobotDataset roots into the harness
layout: ``n_silos`` training :class:`~lensemble_spec.protocol.Silo` objects plus a held-out one,
with a split policy and a standardisation that the run manifest records.

Contract
--------
* **Roots are local.** A root is a directory holding ``meta/info.json`` (format v3.0), or a hub id
  ``org/name[@revision]`` that is already in a local cache (``$HF_LEROBOT_HOME/org/name``, else the
  huggingface_hub snapshot cache). Nothing is downloaded: files are checked before lerobot opens the
  root (lerobot would otherwise fall back to ``snapshot_download``), and lerobot runs with
  ``HF_HUB_OFFLINE`` forced on for the call. A missing root raises
  :class:`~lensemble_spec.errors.DataError` with the command to fetch it once elsewhere.
* **Split by episode, never by frame**, so no episode contributes to two splits. Episodes are
  identified as ``(root position, episode_index)``. Two modes (``split="auto"`` picks):

  - ``"by_root"`` (auto when there are at least ``n_silos + 1`` roots): natural silos. The LAST
    root is the held-out split; the other roots, in the order given, are dealt to the silos in
    contiguous blocks (``numpy.array_split``), so each silo is one or a few whole recordings.
  - ``"pooled"`` (otherwise): all episodes sorted by (root position, episode_index); a seeded
    permutation (``numpy.random.default_rng(split_seed)``) picks ``round_half_up(heldout_fraction
    · N)`` (at least 1) held-out episodes; the remaining episodes, still in sorted order, are cut
    into ``n_silos`` **contiguous blocks**. Contiguous rather than round-robin on purpose:
    episodes recorded one after another share a session (operator, lighting, object placement),
    so blocks give each silo its own slice of conditions, as separately owned sites would have;
    round-robin would make the silos identically distributed and understate gauge drift.

  Episodes too short for one chunk are excluded before assignment and listed in the policy.
  ``split_policy["split_hash"]`` is the SHA-256 of ``canonical_json({"schema", "roots":
  [fingerprint…], "assignment": {split: [[root, episode]…]}})`` (:func:`compute_split_hash`);
  a root's fingerprint hashes its ``meta/info.json`` and episode lengths, so the hash names the
  data and the assignment, not the machine path.
* **Chunks.** Each episode keeps source frames ``0, s, 2s, …`` (``s = frame_stride``) among its
  first ``max_frames_per_episode`` frames and is cut into chunks of ``T + 1`` kept frames
  (``T = horizon``) that share boundary frames (chunk k holds kept frames ``kT … kT+T``), so every
  transition is used exactly once; a tail shorter than a chunk is dropped. Silo arrays are then
  rectangular: ``obs (E, T+1, 3, H, W)`` float32 in [0, 1], ``actions (E, T, A)``,
  ``states (E, T+1, S)``. The action at step t is the dataset's ``action`` at the kept frame t
  (for LeRobot recordings, the command issued at that frame).
* **Frames** are decoded to RGB (video through PyAV, see :mod:`lensemble_reference._video`; image
  features from lerobot's parquet-embedded PNGs) and resized to ``image_size × image_size`` with
  ``torch.nn.functional.interpolate(mode="bilinear", antialias=True)``. Non-square sources are
  resized without cropping (the aspect ratio changes, nothing at the edges is lost).
* **Standardisation.** Per-dimension mean and (population) std of state and action over every
  frame / transition that appears in a TRAINING silo (never the held-out one); a std below
  :data:`STD_FLOOR` is replaced by 1 (a constant joint stays constant instead of exploding).
  ``(x − mean) / std`` is applied to states and actions of every split, held-out included.

Memory: each kept frame costs ``3 · H · W · 4`` bytes per chunk it appears in (27.6 kB at 48 px),
so 10 000 frames are ≈ 0.28 GB; use ``max_frames_per_episode`` / ``frame_stride`` on long data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.errors import ConfigError, DataError
from lensemble_spec.protocol import Silo

from .roots import OpenedRoot, check_compatible, open_root, resolve_root
from .silos import STD_FLOOR, build_silo, standardisation_stats
from .split import HELDOUT, SPLIT_SCHEMA, assign_episodes, compute_split_hash


@dataclass(frozen=True)
class LeRobotSplits:
    """Training silos, the held-out split and what the run manifest records about them.

    ``chunk_sources[split]`` is ``(E, 3)`` int64: for each silo row, (root position,
    episode_index, first source frame) — enough to find every chunk in the original data.
    """

    silos: dict[str, Silo]
    heldout: Silo
    split_policy: dict[str, Any]
    standardisation: dict[str, Any]
    data_roots: list[str]
    chunk_sources: dict[str, np.ndarray]


# --- public API ------------------------------------------------------------------------------------
def load_lerobot_silos(
    roots: Sequence[Path | str] | Path | str,
    *,
    image_key: str | None = None,
    image_size: int = 48,
    n_silos: int = 4,
    split_seed: int = 0,
    horizon: int = 24,
    frame_stride: int = 1,
    max_frames_per_episode: int | None = None,
    heldout_fraction: float = 0.2,
    split: str = "auto",
    state_key: str = "observation.state",
    action_key: str = "action",
) -> LeRobotSplits:
    """Build ``n_silos`` training silos and a held-out split from LeRobot dataset roots.

    See the module docstring for the split rule, chunking and standardisation. ``image_key``
    defaults to the first image/video feature of the first root (it must exist in every root);
    state and action must have the same dimension in every root.

    Names: ``horizon`` is ``T`` of every silo row, as in ``make_world(horizon=…)``; the trainer
    samples its training windows (``TrainConfig.window``) inside those rows, so choose
    ``horizon >= window``. The temporal subsampling is called ``frame_stride`` (not ``window``)
    because ``window`` already names the training-window length in the trainer's config. Rows of
    every split are ordered by (root, episode, chunk); ``chunk_sources`` tells which episode a row
    came from (e.g. to split the held-out rows by episode for a state probe).

    Raises :class:`ConfigError` for bad arguments and :class:`DataError` for a missing or
    malformed root, a missing feature, or too few episodes for ``n_silos + 1`` splits.
    """
    specs = [roots] if isinstance(roots, (str, Path)) else list(roots)
    _check_arguments(specs, image_size, n_silos, horizon, frame_stride, max_frames_per_episode, heldout_fraction, split)
    opened: list[OpenedRoot] = []
    for position, spec in enumerate(specs):
        root = open_root(
            spec,
            position,
            image_key=image_key if image_key is not None or not opened else opened[0].image_key,
            state_key=state_key,
            action_key=action_key,
            horizon=horizon,
            frame_stride=frame_stride,
            max_frames=max_frames_per_episode,
        )
        if any(r.path == root.path for r in opened):
            raise DataError(
                f"dataset root {root.path} is given twice",
                remediation="List each dataset root once; a repeated root would put its episodes in two splits.",
            )
        opened.append(root)
    check_compatible(opened, state_key, action_key)

    mode = split if split != "auto" else ("by_root" if len(opened) >= n_silos + 1 else "pooled")
    names = [f"silo{i}" for i in range(n_silos)]
    assignment, rule = assign_episodes(opened, names, mode, split_seed=split_seed, heldout_fraction=heldout_fraction)

    by_key = {ep.key: ep for root in opened for ep in root.episodes}
    training = [by_key[k] for name in names for k in assignment[name]]
    standardisation = standardisation_stats(training, opened[0], state_key, action_key, names)
    state_mean, state_std = (np.asarray(standardisation["state"][k]) for k in ("mean", "std"))
    action_mean, action_std = (np.asarray(standardisation["action"][k]) for k in ("mean", "std"))

    built: dict[str, Silo] = {}
    sources: dict[str, np.ndarray] = {}
    for name in [*names, HELDOUT]:
        episodes = [by_key[k] for k in assignment[name]]
        built[name], sources[name] = build_silo(
            name,
            episodes,
            opened,
            horizon=horizon,
            image_size=image_size,
            state_norm=(state_mean, state_std),
            action_norm=(action_mean, action_std),
        )

    fingerprints = [r.fingerprint for r in opened]
    policy: dict[str, Any] = {
        "schema": SPLIT_SCHEMA,
        "mode": mode,
        "rule": rule,
        "roots": [
            {
                "spec": r.spec,
                "path": str(r.path),
                "repo_id": r.repo_id,
                "fingerprint": r.fingerprint,
                "episodes": len(r.episodes),
                "fps": r.info.get("fps"),
                "image_key": r.image_key,
                "image_is_video": r.is_video,
            }
            for r in opened
        ],
        "n_silos": n_silos,
        "split_seed": split_seed,
        "heldout_fraction": heldout_fraction,
        "horizon": horizon,
        "frame_stride": frame_stride,
        "max_frames_per_episode": max_frames_per_episode,
        "image_size": image_size,
        "state_key": state_key,
        "action_key": action_key,
        "excluded_episodes": [[ep.root, ep.index] for r in opened for ep in r.episodes if ep.n_chunks == 0],
        "assignment": {k: [list(key) for key in v] for k, v in assignment.items()},
        "chunks": {k: int(s.obs.shape[0]) for k, s in built.items()},
        "split_hash": compute_split_hash(fingerprints, assignment),
    }
    return LeRobotSplits(
        silos={n: built[n] for n in names},
        heldout=built[HELDOUT],
        split_policy=policy,
        standardisation=standardisation,
        data_roots=[str(r.path) for r in opened],
        chunk_sources=sources,
    )


# --- argument and root checks ----------------------------------------------------------------------
def _check_arguments(
    specs: list[Any],
    image_size: int,
    n_silos: int,
    horizon: int,
    frame_stride: int,
    max_frames: int | None,
    heldout_fraction: float,
    split: str,
) -> None:
    if not specs:
        raise ConfigError(
            "no dataset roots given", remediation="Pass at least one LeRobot dataset root.", field="roots"
        )
    for name, value, low in (
        ("image_size", image_size, 1),
        ("n_silos", n_silos, 1),
        ("horizon", horizon, 1),
        ("frame_stride", frame_stride, 1),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}", field=name)
    if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 2):
        raise ConfigError(
            f"max_frames_per_episode must be None or an integer >= 2, got {max_frames!r}",
            field="max_frames_per_episode",
        )
    if not 0.0 < float(heldout_fraction) < 1.0:
        raise ConfigError(f"heldout_fraction must be in (0, 1), got {heldout_fraction!r}", field="heldout_fraction")
    if split not in ("auto", "pooled", "by_root"):
        raise ConfigError(f"split must be 'auto', 'pooled' or 'by_root', got {split!r}", field="split")


__all__ = [
    "HELDOUT",
    "SPLIT_SCHEMA",
    "STD_FLOOR",
    "LeRobotSplits",
    "compute_split_hash",
    "load_lerobot_silos",
    "resolve_root",
]
