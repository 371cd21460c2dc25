"""Commit files into a local Hugging Face hub cache with huggingface_hub's own layout (offline).

The layout (``huggingface_hub`` >= 0.8, the one ``hf_hub_download``, ``snapshot_download``,
``try_to_load_from_cache`` and ``scan_cache_dir`` read)::

    <cache>/models--<org>--<name>/
        blobs/<etag>                  one file per distinct content; the name is the Hub's ETag:
                                      sha256 of the bytes for an LFS file, git blob id otherwise
        snapshots/<revision>/<path>   relative symlinks to ../../blobs/<etag>
        refs/main                     the revision the branch points at (no trailing newline)

:func:`commit_to_cache` writes one commit: new blobs first (each through a temporary file and a
rename, so a blob is never half-written), then the snapshot folder built aside and renamed into
place, then ``refs/main``. A snapshot that already exists with exactly the same entries is left
as it is (publishing the same files twice is a no-op); one that differs is an error, since a
commit id names one tree forever. Whatever this call created is removed again if it fails.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..artifacts.atomic import atomic_write_text
from ..artifacts.pin_uri import path_problem
from ..constants import is_revision40
from ..errors import ArtifactError, PinError
from .gitobj import git_blob_id


def etag(data: bytes, *, lfs: bool) -> str:
    """The Hub's ETag of a file: its sha256 for an LFS file, its git blob id otherwise."""
    return hashlib.sha256(data).hexdigest() if lfs else git_blob_id(data)


def repo_folder(cache_dir: str | os.PathLike[str], repo_id: str, repo_type: str = "model") -> Path:
    from huggingface_hub.file_download import repo_folder_name

    return Path(cache_dir) / repo_folder_name(repo_id=repo_id, repo_type=repo_type)


def _link_target(blob: Path, entry: Path) -> str:
    return os.path.relpath(blob, entry.parent)


def _snapshot_entries(snapshot: Path) -> dict[str, str]:
    """In-repository path -> symlink target of every entry of an existing snapshot folder."""
    out: dict[str, str] = {}
    for root, _dirs, names in os.walk(snapshot):
        for name in names:
            entry = Path(root) / name
            out[entry.relative_to(snapshot).as_posix()] = os.readlink(entry) if entry.is_symlink() else "<file>"
    return out


def commit_to_cache(
    cache_dir: str | os.PathLike[str],
    repo_id: str,
    revision: str,
    files: Mapping[str, bytes],
    *,
    lfs: set[str],
    repo_type: str = "model",
    ref: str | None = "main",
) -> Path:
    """Write ``files`` (in-repository path -> bytes) as snapshot ``revision``; return its folder.

    ``lfs`` names the paths stored through git-LFS (blob named by sha256). Raises
    :class:`PinError` for a revision that is not 40 lowercase hex characters or a bad path, and
    :class:`ArtifactError` when the snapshot exists with other content or the cache cannot be written.
    """
    if not is_revision40(revision):
        raise PinError(f"revision {revision!r} is not a full 40-hex commit id")
    for rel in files:
        problem = path_problem(rel)
        if problem:
            raise PinError(f"cannot publish {rel!r}: {problem}")
    repo_dir = repo_folder(cache_dir, repo_id, repo_type)
    blobs, snapshot = repo_dir / "blobs", repo_dir / "snapshots" / revision
    created: list[Path] = []
    try:
        for d in (Path(cache_dir), repo_dir, blobs, repo_dir / "snapshots"):
            if not d.exists():
                d.mkdir(parents=True)
                created.append(d)
        targets: dict[str, str] = {}
        for rel, data in sorted(files.items()):
            blob = blobs / etag(data, lfs=rel in lfs)
            if not blob.exists():
                fd, tmp = tempfile.mkstemp(dir=blobs, prefix=f".{blob.name}.", suffix=".incomplete")
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.chmod(tmp, 0o644)  # mkstemp makes 0600; the Hub client leaves blobs world-readable
                os.replace(tmp, blob)
                created.append(blob)
            elif blob.read_bytes() != data:
                raise ArtifactError(f"cache blob {blob} exists with other bytes than {rel!r}; the cache is corrupt",
                                    remediation="Delete that repository's folder from the cache and publish again.")
            targets[rel] = _link_target(blob, snapshot / rel)
        if snapshot.exists():
            if _snapshot_entries(snapshot) != targets:
                raise ArtifactError(
                    f"snapshot {revision} of {repo_id} is already cached with other files",
                    remediation="A commit id names one tree: delete the stale snapshot folder or publish to another "
                                "repository.",
                )
        else:
            staging = Path(tempfile.mkdtemp(dir=repo_dir / "snapshots", prefix=f".{revision}.", suffix=".tmp"))
            try:
                for rel, target in targets.items():
                    entry = staging / rel
                    entry.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(target, entry)
                os.replace(staging, snapshot)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            created.append(snapshot)
        if ref is not None:
            (repo_dir / "refs").mkdir(exist_ok=True)
            atomic_write_text(repo_dir / "refs" / ref, revision)
    except OSError as exc:
        _remove(created)
        raise ArtifactError(f"cannot write the hub cache {cache_dir}: {exc.strerror or exc}",
                            remediation="Pass a writable --hub-cache directory.") from exc
    except BaseException:
        _remove(created)
        raise
    return snapshot


def _remove(paths: list[Path]) -> None:
    for path in reversed(paths):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


__all__ = ["commit_to_cache", "etag", "repo_folder"]
