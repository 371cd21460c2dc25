"""Opening LeRobot v3.0 roots offline: resolve a path or cached hub id, check its files, read its episodes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.errors import DataError, LensembleError

from .._video import DEFAULT_TOLERANCE_S, import_lerobot

_HUB_ID = re.compile(r"(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<rev>[\w./-]+))?")
_FETCH_HINT = (
    "Pass a local LeRobot v3.0 dataset directory (it holds meta/info.json); hub ids are only read "
    "from the local cache, so fetch once on a connected machine with `huggingface-cli download "
    "<org/name> --repo-type dataset --local-dir DIR` and pass DIR."
)


@dataclass
class Episode:
    """One episode of an opened root: its rows, state/action arrays and the frames that enter chunks."""

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
class OpenedRoot:
    """A root opened through lerobot (:func:`open_root`): its dataset, chosen camera, fingerprint, episodes."""

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
    episodes: list[Episode]


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


def open_root(
    spec: Path | str,
    position: int,
    *,
    image_key: str | None,
    state_key: str,
    action_key: str,
    horizon: int,
    frame_stride: int,
    max_frames: int | None,
) -> OpenedRoot:
    """Open one root at list position ``position`` through lerobot, offline, and read its episodes.

    The root's files are checked (:func:`check_files`) before lerobot sees them, so nothing is
    downloaded; a missing feature, non-finite state/action or data rows that disagree with
    ``meta/episodes`` raise :class:`DataError`.
    """
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
            check_files(meta, path, key if is_video else None)
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
    return OpenedRoot(
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


def check_files(meta: Any, path: Path, video_key: str | None) -> None:
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
) -> list[Episode]:
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
    episodes: list[Episode] = []
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
            Episode(
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


def check_compatible(roots: list[OpenedRoot], state_key: str, action_key: str) -> None:
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


__all__ = ["Episode", "OpenedRoot", "check_compatible", "check_files", "open_root", "resolve_root"]
