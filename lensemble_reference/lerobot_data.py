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

import contextlib
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.errors import ConfigError, DataError, LensembleError
from lensemble_spec.protocol import Silo

from ._video import DECODE_BATCH, DEFAULT_TOLERANCE_S, decode_frames_at, import_lerobot

#: Identifies the layout of ``split_policy`` and enters the split hash.
SPLIT_SCHEMA = "lensemble-spec/lerobot-split/v1"

#: Standard deviations below this are replaced by 1 (constant dimensions).
STD_FLOOR = 1e-6

#: Name of the held-out split (as in ``lensemble_spec.worlds``).
HELDOUT = "heldout"

_HUB_ID = re.compile(r"(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<rev>[\w./-]+))?")
_FETCH_HINT = (
    "Pass a local LeRobot v3.0 dataset directory (it holds meta/info.json); hub ids are only read "
    "from the local cache, so fetch once on a connected machine with `huggingface-cli download "
    "<org/name> --repo-type dataset --local-dir DIR` and pass DIR."
)


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


@dataclass
class _Episode:
    root: int
    index: int
    rows: np.ndarray  # positions in the root's hf_dataset, in frame order
    timestamps: np.ndarray  # (L,) seconds from the episode start
    states: np.ndarray  # (L, S)
    actions: np.ndarray  # (L, A)
    video_from_s: float | None  # start of this episode inside its mp4
    video_file: Path | None
    kept: np.ndarray  # source frame indices that enter chunks
    n_chunks: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.root, self.index)


@dataclass
class _Root:
    spec: str
    path: Path
    repo_id: str
    dataset: Any
    info: dict[str, Any]
    image_key: str
    is_video: bool
    fingerprint: str
    state_names: Any
    action_names: Any
    episodes: list[_Episode]


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
    opened: list[_Root] = []
    for position, spec in enumerate(specs):
        root = _open_root(
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
    _check_compatible(opened, state_key, action_key)

    mode = split if split != "auto" else ("by_root" if len(opened) >= n_silos + 1 else "pooled")
    names = [f"silo{i}" for i in range(n_silos)]
    assignment, rule = _assign(opened, names, mode, split_seed=split_seed, heldout_fraction=heldout_fraction)

    by_key = {ep.key: ep for root in opened for ep in root.episodes}
    training = [by_key[k] for name in names for k in assignment[name]]
    standardisation = _standardisation(training, opened[0], state_key, action_key, names)
    state_mean, state_std = (np.asarray(standardisation["state"][k]) for k in ("mean", "std"))
    action_mean, action_std = (np.asarray(standardisation["action"][k]) for k in ("mean", "std"))

    built: dict[str, Silo] = {}
    sources: dict[str, np.ndarray] = {}
    for name in [*names, HELDOUT]:
        episodes = [by_key[k] for k in assignment[name]]
        built[name], sources[name] = _build_silo(
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


def compute_split_hash(fingerprints: Sequence[str], assignment: Mapping[str, Sequence[Sequence[int]]]) -> str:
    """SHA-256 hex of the canonical JSON of the root fingerprints and the episode assignment."""
    from lensemble_spec.artifacts import canonical_json

    document = {
        "schema": SPLIT_SCHEMA,
        "roots": list(fingerprints),
        "assignment": {k: [[int(r), int(e)] for r, e in v] for k, v in assignment.items()},
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


def resolve_root(spec: Path | str) -> tuple[Path, str]:
    """``(directory, repo_id)`` for a local path or a locally cached hub id; never downloads.

    A hub id ``org/name[@revision]`` is looked up in ``$HF_LEROBOT_HOME/org/name`` (lerobot's
    cache; only without ``@revision``) and then in the huggingface_hub snapshot cache
    (``local_files_only=True``). Raises :class:`DataError` when neither exists.
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise DataError(f"dataset root {text!r} is a file, not a directory", remediation=_FETCH_HINT)
        return path.resolve(), f"local/{path.resolve().name}"
    match = _HUB_ID.fullmatch(text) if isinstance(spec, str) else None
    if match:
        repo_id, revision = match["repo"], match["rev"]
        if revision is None:
            home = _lerobot_home() / repo_id
            if (home / "meta" / "info.json").is_file():
                return home.resolve(), repo_id
        snapshot = _hub_snapshot(repo_id, revision)
        if snapshot is not None:
            return snapshot, repo_id
        raise DataError(
            f"dataset {text!r} is neither a local directory nor in the local Hugging Face cache "
            "(nothing is downloaded)",
            remediation=_FETCH_HINT,
        )
    raise DataError(f"dataset root {text!r} does not exist", remediation=_FETCH_HINT)


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


def _lerobot_home() -> Path:
    if os.environ.get("HF_LEROBOT_HOME"):
        return Path(os.environ["HF_LEROBOT_HOME"]).expanduser()
    hf_home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(hf_home).expanduser() / "lerobot"


def _hub_snapshot(repo_id: str, revision: str | None) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        with _hub_offline():
            found = Path(snapshot_download(repo_id, repo_type="dataset", revision=revision, local_files_only=True))
    except Exception:  # noqa: BLE001 -- not cached (LocalEntryNotFoundError and friends): caller raises DataError
        return None
    return found if (found / "meta" / "info.json").is_file() else None


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """Force Hugging Face offline mode (env and the already-imported constants) for the block."""
    env_keys = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    saved_env = {k: os.environ.get(k) for k in env_keys}
    saved_attr = []
    for module_name in ("huggingface_hub.constants", "datasets.config"):
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, "HF_HUB_OFFLINE"):
            saved_attr.append((module, module.HF_HUB_OFFLINE))
            module.HF_HUB_OFFLINE = True
    os.environ.update({k: "1" for k in env_keys})
    try:
        yield
    finally:
        for module, value in saved_attr:
            module.HF_HUB_OFFLINE = value
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _read_info(path: Path) -> dict[str, Any]:
    info_file = path / "meta" / "info.json"
    if not info_file.is_file():
        raise DataError(f"{path} is not a LeRobot dataset root: meta/info.json is missing", remediation=_FETCH_HINT)
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{info_file} is not readable JSON: {exc}", remediation=_FETCH_HINT) from exc
    version = str(info.get("codebase_version", ""))
    if not version.startswith("v3."):
        raise DataError(
            f"{path} is LeRobot format {version or '<unknown>'}; this loader reads v3.x",
            remediation="Convert it with `python -m lerobot.datasets.v30.convert_dataset_v21_to_v30` (lerobot 0.4.x).",
        )
    for sub in ("meta/episodes", "data"):
        if not any((path / sub).glob("*/*.parquet")):
            raise DataError(f"{path} has no parquet files under {sub}/", remediation=_FETCH_HINT)
    return info


def _feature_names(feature: Mapping[str, Any]) -> Any:
    names = feature.get("names")
    if isinstance(names, Mapping) and len(names) == 1:
        names = next(iter(names.values()))
    if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
        return list(names)
    return None


def _vector_feature(features: Mapping[str, Any], key: str, path: Path) -> Any:
    feature = features.get(key)
    if feature is None:
        raise DataError(
            f"{path} has no {key!r} feature (features: {', '.join(sorted(features))})",
            remediation="Pass state_key/action_key naming the dataset's state and action features.",
        )
    if not str(feature.get("dtype", "")).startswith("float") or len(feature.get("shape", ())) != 1:
        raise DataError(
            f"{path}: feature {key!r} must be a 1-D float vector, got dtype {feature.get('dtype')} shape "
            f"{feature.get('shape')}",
            remediation="Pass state_key/action_key naming 1-D float features.",
        )
    return _feature_names(feature)


def _open_root(
    spec: Path | str,
    position: int,
    *,
    image_key: str | None,
    state_key: str,
    action_key: str,
    horizon: int,
    frame_stride: int,
    max_frames: int | None,
) -> _Root:
    path, repo_id = resolve_root(spec)
    info = _read_info(path)
    features = info.get("features", {})
    cameras = [k for k, f in features.items() if f.get("dtype") in ("image", "video")]
    if not cameras:
        raise DataError(
            f"{path} has no image or video feature; a world model needs pixels",
            remediation="Use a dataset recorded with at least one camera (a feature of dtype image or video).",
        )
    key = image_key if image_key is not None else cameras[0]
    if key not in cameras:
        raise DataError(
            f"{path} has no image/video feature {key!r} (available: {', '.join(cameras)})",
            remediation="Pass image_key naming one of the available camera features.",
        )
    state_names = _vector_feature(features, state_key, path)
    action_names = _vector_feature(features, action_key, path)
    is_video = features[key]["dtype"] == "video"

    lerobot_dataset, lerobot_metadata = import_lerobot()
    with _hub_offline():
        try:
            meta = lerobot_metadata(repo_id, root=path)
            _check_files(meta, path, key if is_video else None)
            dataset = lerobot_dataset(repo_id, root=path, video_backend="pyav", tolerance_s=DEFAULT_TOLERANCE_S)
            columns = ["index", "episode_index", "frame_index", "timestamp", state_key, action_key]
            table = dataset.hf_dataset.with_format("numpy", columns=columns)[:]
            episode_rows = meta.episodes.with_format("python")[:]
        except LensembleError:
            raise
        except Exception as exc:  # lerobot/datasets/pyarrow errors: report them at this boundary, typed
            raise DataError(
                f"lerobot cannot read {path}: {type(exc).__name__}: {exc}", remediation=_FETCH_HINT
            ) from exc

    episodes = _episodes(
        table,
        episode_rows,
        meta=meta,
        path=path,
        position=position,
        video_key=key if is_video else None,
        state_key=state_key,
        action_key=action_key,
        horizon=horizon,
        frame_stride=frame_stride,
        max_frames=max_frames,
    )
    from lensemble_spec.artifacts import canonical_json

    lengths = [[ep.index, int(ep.rows.size)] for ep in episodes]
    fingerprint = hashlib.sha256(canonical_json({"info": info, "episodes": lengths})).hexdigest()
    return _Root(
        spec=str(spec),
        path=path,
        repo_id=repo_id,
        dataset=dataset,
        info=info,
        image_key=key,
        is_video=is_video,
        fingerprint=fingerprint,
        state_names=state_names,
        action_names=action_names,
        episodes=episodes,
    )


def _check_files(meta: Any, path: Path, video_key: str | None) -> None:
    """Every data (and video) file an episode points at must exist: lerobot would download it."""
    missing: set[str] = set()
    for ep in range(meta.total_episodes):
        relative = [meta.get_data_file_path(ep)]
        if video_key is not None:
            relative.append(meta.get_video_file_path(ep, video_key))
        missing.update(str(p) for p in relative if not (path / p).is_file())
    if missing:
        raise DataError(
            f"{path} is incomplete: {len(missing)} file(s) named in meta/episodes are missing "
            f"(e.g. {min(missing)})",
            remediation=_FETCH_HINT,
        )


def _episodes(
    table: Mapping[str, np.ndarray],
    episode_rows: Mapping[str, list[Any]],
    *,
    meta: Any,
    path: Path,
    position: int,
    video_key: str | None,
    state_key: str,
    action_key: str,
    horizon: int,
    frame_stride: int,
    max_frames: int | None,
) -> list[_Episode]:
    ep_col = np.asarray(table["episode_index"], dtype=np.int64)
    fi_col = np.asarray(table["frame_index"], dtype=np.int64)
    states = np.asarray(table[state_key], dtype=np.float64)
    actions = np.asarray(table[action_key], dtype=np.float64)
    if not (np.isfinite(states).all() and np.isfinite(actions).all()):
        raise DataError(
            f"{path}: {state_key!r} or {action_key!r} contains NaN/Inf",
            remediation="Repair or drop the episodes with non-finite state/action values.",
        )
    order = np.lexsort((fi_col, ep_col))
    present, starts, counts = np.unique(ep_col[order], return_index=True, return_counts=True)
    where = {int(e): (int(s), int(c)) for e, s, c in zip(present, starts, counts)}
    episodes: list[_Episode] = []
    for i, index in enumerate(episode_rows["episode_index"]):
        index = int(index)
        length = int(episode_rows["length"][i])
        start, count = where.get(index, (0, 0))
        rows = order[start : start + count]
        if count != length or not np.array_equal(fi_col[rows], np.arange(length)):
            raise DataError(
                f"{path}: episode {index} has {count} data rows with frame indices that are not 0..{length - 1}",
                remediation="The data parquet files do not match meta/episodes; re-create or re-download the dataset.",
            )
        usable = length if max_frames is None else min(length, max_frames)
        kept = np.arange(0, usable, frame_stride)
        n_chunks = max(0, (kept.size - 1) // horizon)
        video_from_s = video_file = None
        if video_key is not None:
            video_from_s = float(episode_rows[f"videos/{video_key}/from_timestamp"][i])
            video_file = path / meta.get_video_file_path(index, video_key)
        episodes.append(
            _Episode(
                root=position,
                index=index,
                rows=rows,
                timestamps=np.asarray(table["timestamp"], dtype=np.float64)[rows],
                states=states[rows],
                actions=actions[rows],
                video_from_s=video_from_s,
                video_file=video_file,
                kept=kept[: n_chunks * horizon + 1] if n_chunks else kept[:0],
                n_chunks=n_chunks,
            )
        )
    return sorted(episodes, key=lambda ep: ep.index)


def _check_compatible(roots: list[_Root], state_key: str, action_key: str) -> None:
    """Roots combine only when a transition means the same thing: same fps, state and action sizes."""
    first = roots[0]
    for root in roots[1:]:
        if root.info.get("fps") != first.info.get("fps"):
            raise DataError(
                f"{root.path} is recorded at {root.info.get('fps')} fps but {first.path} at {first.info.get('fps')} "
                f"fps",
                remediation="Combine only datasets recorded at the same frame rate (resample one of them first).",
            )
        for key in (state_key, action_key):
            a, b = first.info["features"][key]["shape"], root.info["features"][key]["shape"]
            if list(a) != list(b):
                raise DataError(
                    f"{key!r} has shape {list(b)} in {root.path} but {list(a)} in {first.path}",
                    remediation="Combine only datasets of the same robot (same state and action dimensions).",
                )


# --- split ----------------------------------------------------------------------------------------
def _assign(
    roots: list[_Root], names: list[str], mode: str, *, split_seed: int, heldout_fraction: float
) -> tuple[dict[str, list[tuple[int, int]]], str]:
    n_silos = len(names)
    eligible = [[ep.key for ep in root.episodes if ep.n_chunks > 0] for root in roots]
    short_hint = "lower horizon/frame_stride or raise max_frames_per_episode so episodes yield at least one chunk"
    if mode == "by_root":
        if len(roots) < n_silos + 1:
            raise DataError(
                f"split='by_root' needs at least {n_silos + 1} roots ({n_silos} silos + held-out), got {len(roots)}",
                remediation="Pass more roots, fewer silos, or use split='pooled'.",
            )
        for root, keys in zip(roots, eligible):
            if not keys:
                raise DataError(
                    f"root {root.path} has no episode long enough for one chunk",
                    remediation=f"Drop that root, or {short_hint}.",
                )
        groups = np.array_split(np.arange(len(roots) - 1), n_silos)
        assignment = {name: [k for r in group for k in eligible[int(r)]] for name, group in zip(names, groups)}
        assignment[HELDOUT] = list(eligible[-1])
        rule = (
            "by_root: the last root is the held-out split; the other roots, in the order given, are "
            "dealt to the silos in contiguous blocks (numpy.array_split)"
        )
        return assignment, rule

    pool = [k for keys in eligible for k in keys]  # sorted by (root position, episode_index)
    n_heldout = max(1, int(np.floor(heldout_fraction * len(pool) + 0.5)))
    if len(pool) - n_heldout < n_silos:
        raise DataError(
            f"{len(pool)} usable episode(s) cannot fill {n_silos} silos plus a held-out split "
            f"({n_heldout} held out); each split needs at least one episode",
            remediation=f"Add episodes or roots, lower n_silos, or {short_hint}.",
        )
    perm = np.random.default_rng(split_seed).permutation(len(pool))
    held = {int(i) for i in perm[:n_heldout]}
    train = [k for i, k in enumerate(pool) if i not in held]
    blocks = np.array_split(np.arange(len(train)), n_silos)
    assignment = {name: [train[int(i)] for i in block] for name, block in zip(names, blocks)}
    assignment[HELDOUT] = [k for i, k in enumerate(pool) if i in held]
    rule = (
        "pooled: episodes sorted by (root position, episode_index); numpy.random.default_rng(split_seed)"
        ".permutation picks round_half_up(heldout_fraction * N) >= 1 held-out episodes; the rest, in "
        "sorted order, form n_silos contiguous blocks (numpy.array_split)"
    )
    return assignment, rule


# --- standardisation and silo assembly ------------------------------------------------------------
def _standardisation(
    training: list[_Episode], first: _Root, state_key: str, action_key: str, names: list[str]
) -> dict[str, Any]:
    states = np.concatenate([ep.states[ep.kept] for ep in training])
    actions = np.concatenate([ep.actions[ep.kept[:-1]] for ep in training])

    def stats(x: np.ndarray, key: str, feature_names: Any) -> dict[str, Any]:
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        floored = np.flatnonzero(std < STD_FLOOR)
        std[floored] = 1.0
        return {
            "key": key,
            "names": feature_names,
            "mean": [float(v) for v in mean],
            "std": [float(v) for v in std],
            "floored_dims": [int(i) for i in floored],
        }

    return {
        "formula": f"x_standardised = (x - mean) / std; population std; std < {STD_FLOOR} replaced by 1",
        "computed_on": list(names),
        "n_frames": int(states.shape[0]),
        "n_transitions": int(actions.shape[0]),
        "state": stats(states, state_key, first.state_names),
        "action": stats(actions, action_key, first.action_names),
    }


def _to_model_frames(batch: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``(n, H, W, 3)`` → float32 ``(n, 3, size, size)`` in [0, 1] (bilinear, antialiased)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    if tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp_(0.0, 1.0)
    return x.contiguous().numpy()


def _episode_frames(root: _Root, ep: _Episode, size: int) -> np.ndarray:
    """The kept frames of one episode at model resolution, float32 ``(len(kept), 3, size, size)``."""
    if root.is_video:
        timestamps = ep.video_from_s + ep.timestamps[ep.kept]
        return decode_frames_at(
            ep.video_file, timestamps, tolerance_s=DEFAULT_TOLERANCE_S, convert=lambda b: _to_model_frames(b, size)
        )
    column = root.dataset.hf_dataset.with_format(None).select_columns([root.image_key])
    rows = ep.rows[ep.kept]
    out = []
    for start in range(0, rows.size, DECODE_BATCH):
        images = column[[int(r) for r in rows[start : start + DECODE_BATCH]]][root.image_key]
        out.append(_to_model_frames(np.stack([np.asarray(img.convert("RGB")) for img in images]), size))
    return np.concatenate(out)


def _build_silo(
    name: str,
    episodes: list[_Episode],
    roots: list[_Root],
    *,
    horizon: int,
    image_size: int,
    state_norm: tuple[np.ndarray, np.ndarray],
    action_norm: tuple[np.ndarray, np.ndarray],
) -> tuple[Silo, np.ndarray]:
    t = horizon
    rows = sum(ep.n_chunks for ep in episodes)
    s_dim, a_dim = episodes[0].states.shape[1], episodes[0].actions.shape[1]
    obs = np.empty((rows, t + 1, 3, image_size, image_size), dtype=np.float32)
    states = np.empty((rows, t + 1, s_dim), dtype=np.float32)
    actions = np.empty((rows, t, a_dim), dtype=np.float32)
    sources = np.empty((rows, 3), dtype=np.int64)
    row = 0
    for ep in episodes:
        frames = _episode_frames(roots[ep.root], ep, image_size)
        st = (ep.states[ep.kept] - state_norm[0]) / state_norm[1]
        ac = (ep.actions[ep.kept[:-1]] - action_norm[0]) / action_norm[1]
        for k in range(ep.n_chunks):
            lo = k * t
            obs[row] = frames[lo : lo + t + 1]
            states[row] = st[lo : lo + t + 1]
            actions[row] = ac[lo : lo + t]
            sources[row] = (ep.root, ep.index, int(ep.kept[lo]))
            row += 1
    return Silo(name=name, obs=obs, actions=actions, states=states), sources
