"""Build a Hugging Face hub cache on disk with huggingface_hub's real layout (test helper).

    <cache>/<models|datasets>--<org>--<name>/
        blobs/<sha256>                 LFS files are named by the sha256 of their bytes,
        blobs/<git blob sha1>          regular files by their git blob id (the Hub's ETag),
        snapshots/<revision>/<path>    relative symlinks to ../../blobs/<name>,
        refs/main                      the revision (no trailing newline)

Tests prove the layout is the real one by reading it back with huggingface_hub's own
``scan_cache_dir``, ``try_to_load_from_cache`` and ``hf_hub_download(local_files_only=True)``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: Two full commit ids and a repository used by the pin tests.
REV_A = "1f0e5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5"
REV_B = "2a2b2c2d2e2f30313233343536373839404142ab"
REPO = "acme/tiny-world-model"


def git_blob_id(data: bytes) -> str:
    """The id git (and the Hub, as ETag of a non-LFS file) gives a blob: sha1("blob <n>\\0" + data)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def add_snapshot(
    cache_dir: Path,
    repo_id: str,
    revision: str,
    files: dict[str, bytes],
    *,
    repo_type: str = "model",
    lfs: set[str] | None = None,
    ref: str | None = "main",
) -> Path:
    """Write ``files`` as snapshot ``revision`` of ``repo_id``; return the snapshot directory.

    Paths in ``lfs`` (default: every ``*.safetensors`` file) become sha256-named blobs, the
    others git-blob-id-named blobs, exactly as ``hf_hub_download`` stores them.
    """
    lfs = {p for p in files if p.endswith(".safetensors")} if lfs is None else lfs
    repo_dir = Path(cache_dir) / f"{repo_type}s--{repo_id.replace('/', '--')}"
    blobs = repo_dir / "blobs"
    snapshot = repo_dir / "snapshots" / revision
    blobs.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        name = sha256(data) if rel in lfs else git_blob_id(data)
        blob = blobs / name
        if not blob.exists():
            blob.write_bytes(data)
        entry = snapshot / rel
        entry.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, entry.parent), entry)
    if ref is not None:
        (repo_dir / "refs").mkdir(exist_ok=True)
        (repo_dir / "refs" / ref).write_text(revision)
    return snapshot


def blob_of(snapshot_entry: Path) -> Path:
    """The blob file a snapshot entry links to."""
    return Path(os.path.realpath(snapshot_entry))
