"""Artifact pins: read them into ``ArtifactPin``, resolve them through the local Hugging Face cache only.

The URI grammar itself (split, format, refusal reasons) is :mod:`lensemble_spec.artifacts.pin_uri`,
below the schemas; this module is above them.

A pin names one immutable thing on the Hub (RFC-0010):

    hf://{models|datasets}/<org>/<name>@<revision>[/<path>]

* ``revision`` MUST be a full 40-character lowercase hex commit id. A branch or tag (``main``,
  ``v1``) moves; an abbreviated commit (``3c2258ce``) is ambiguous and cannot be looked up in a
  cache, whose snapshot folders are named by full commit ids. Both are refused with
  :class:`~lensemble_spec.errors.PinError` and a reason saying which of the two it is.
* ``path`` (optional) is a file inside the repository: relative, ``/``-separated, no ``.``/``..``
  segments, no backslashes. Without a path the pin names the whole snapshot.
* ``sha256`` (optional in the schema) is the SHA-256 of the file's bytes. For a whole-snapshot pin
  it is the :func:`snapshot_digest` of the snapshot's files.

Resolution (:func:`resolve_pin`) never touches the network: it calls huggingface_hub's own cache
lookups (``try_to_load_from_cache`` for a file, ``snapshot_download(local_files_only=True)`` for a
snapshot) against an explicitly given cache directory, then

1. checks the hit is exactly ``<repo cache>/snapshots/<revision>/<path>`` (a ``refs/`` file cannot
   redirect a commit id to another snapshot),
2. checks the file's real path stays inside the repository's cache folder (a snapshot symlink that
   points elsewhere raises :class:`~lensemble_spec.errors.PathEscape`),
3. hashes the bytes and compares with the pin (mismatch →
   :class:`~lensemble_spec.errors.CheckpointIntegrityError`), and checks a blob named by a 64-hex
   SHA-256 (how the Hub names LFS blobs) really has that digest.

Missing repositories, snapshots or files raise :class:`~lensemble_spec.errors.PinUnresolved`
listing the revisions that *are* cached.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..constants import HASH64_RE
from ..errors import CheckpointIntegrityError, PathEscape, PinError, PinUnresolved
from ..schemas import ArtifactPin
from .hashing import sha256_file
from .pin_uri import PinParts, split_pin_uri


def parse_pin(value: Any) -> ArtifactPin:
    """Turn a URI string, a mapping (the pin's JSON form) or an ArtifactPin into an ArtifactPin.

    The JSON form is ``{"uri": "...", "sha256": "<64-hex>"|null}`` (the schema also accepts the
    exploded ``repo_type``/``repo_id``/``revision``/``path`` form). Every failure is a
    :class:`PinError` whose message says what is wrong (a symbolic ``main``, an abbreviated
    ``3c2258ce``, a bad sha256 …) — never a raw pydantic error.
    """
    if isinstance(value, ArtifactPin):
        return value
    if not isinstance(value, (str, Mapping)):
        raise PinError(f"cannot read a pin from {type(value).__name__}", reason="malformed")
    try:
        return ArtifactPin.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first.get("loc", ()))) or "<pin>"
        uri = value if isinstance(value, str) else value.get("uri")
        raise PinError(f"pin {uri!r} does not validate: {where}: {first.get('msg')}", reason="schema") from None


def pin_parts(pin: Any) -> PinParts:
    """Parts of an ArtifactPin (re-validated from its URI, the single source of truth)."""
    return split_pin_uri(pin.uri)


# --- hashing ------------------------------------------------------------------------------------
def snapshot_digest(files: Mapping[str, str]) -> str:
    """Digest of a whole snapshot: SHA-256 over ``"<sha256>  <path>\\n"`` lines sorted by path.

    ``files`` maps in-repository paths to their sha256. The lines are what ``sha256sum`` prints
    for paths given relative to the snapshot root, sorted by code point (= UTF-8 byte order,
    ``LC_ALL=C sort``), so the digest can be reproduced outside Python.
    """
    lines = "".join(f"{files[p]}  {p}\n" for p in sorted(files))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


# --- resolution ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResolvedFile:
    path_in_repo: str
    local_path: Path  # the snapshot entry (usually a symlink into blobs/)
    sha256: str
    size: int


@dataclass(frozen=True)
class ResolvedPin:
    """A pin found in the cache.

    ``digest`` is the file's sha256 (file pin) or :func:`snapshot_digest` (snapshot pin), empty
    when resolved with ``verify=False``; ``verified`` is True when the pin carried a sha256 and
    it matched.
    """

    uri: str
    snapshot_dir: Path
    files: tuple[ResolvedFile, ...]
    digest: str
    verified: bool


def repo_cache_dir(cache_dir: str | os.PathLike[str], parts: PinParts) -> Path:
    """``<cache>/<models|datasets>--<org>--<name>``, named by huggingface_hub itself."""
    from huggingface_hub.file_download import repo_folder_name

    return Path(cache_dir) / repo_folder_name(repo_id=parts.repo_id, repo_type=parts.repo_type)


def cached_revisions(cache_dir: str | os.PathLike[str], parts: PinParts) -> list[str]:
    """Commit ids of the snapshots cached for the pin's repository (via ``scan_cache_dir``)."""
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir(cache_dir)
    except Exception:  # CacheNotFound or an unreadable cache: nothing is cached
        return []
    for repo in info.repos:
        if repo.repo_id == parts.repo_id and repo.repo_type == parts.repo_type:
            return sorted(rev.commit_hash for rev in repo.revisions)
    return []


def resolve_pin(pin: Any, *, cache_dir: str | os.PathLike[str], verify: bool = True) -> ResolvedPin:
    """Find a pinned file or snapshot in the local Hugging Face cache ``cache_dir`` (no network).

    ``pin`` is anything :func:`parse_pin` accepts. With ``verify=True`` (default) every file is
    hashed: a pin's sha256 must match, and LFS blobs must match their own names. Raises
    :class:`PinError` (malformed), :class:`PinUnresolved` (not cached),
    :class:`PathEscape` (snapshot entry resolving outside the repository cache) or
    :class:`CheckpointIntegrityError` (bytes differ from the pin or from their blob name).
    """
    pin = parse_pin(pin)
    parts = pin_parts(pin)
    cache_dir = Path(cache_dir)
    if not cache_dir.is_dir():
        raise PinUnresolved(f"hub cache directory {str(cache_dir)!r} does not exist", uri=pin.uri)
    repo_dir = repo_cache_dir(cache_dir, parts)
    snapshot_dir = repo_dir / "snapshots" / parts.revision
    if parts.path is not None:
        entries = [_resolve_file(pin.uri, parts, cache_dir, repo_dir, snapshot_dir)]
    else:
        entries = _resolve_snapshot(pin.uri, parts, cache_dir, repo_dir, snapshot_dir)

    files: list[ResolvedFile] = []
    for rel, local in entries:
        blob = _confined_target(pin.uri, repo_dir, local)
        digest = sha256_file(blob) if verify else ""
        if verify and HASH64_RE.fullmatch(blob.name) and blob.parent.name == "blobs" and blob.name != digest:
            raise CheckpointIntegrityError(
                f"{pin.uri}: cached blob {blob.name} of {rel!r} has sha256 {digest}; the cache entry is corrupt",
                uri=pin.uri,
                path=rel,
                expected=blob.name,
                actual=digest,
            )
        files.append(ResolvedFile(rel, local, digest, blob.stat().st_size))

    digest = ""
    if verify:
        digest = (
            files[0].sha256 if parts.path is not None else snapshot_digest({f.path_in_repo: f.sha256 for f in files})
        )
    verified = False
    if verify and pin.sha256 is not None:
        if digest != pin.sha256:
            raise CheckpointIntegrityError(
                f"{pin.uri}: sha256 of the cached bytes is {digest}, the pin says {pin.sha256}",
                uri=pin.uri,
                expected=pin.sha256,
                actual=digest,
            )
        verified = True
    return ResolvedPin(pin.uri, snapshot_dir, tuple(files), digest, verified)


def _unresolved(uri: str, parts: PinParts, cache_dir: Path, repo_dir: Path, what: str) -> PinUnresolved:
    cached = cached_revisions(cache_dir, parts) if repo_dir.is_dir() else []
    if not repo_dir.is_dir():
        detail = f"repository {parts.repo_type} {parts.repo_id!r} is not in the cache {str(cache_dir)!r}"
    elif parts.revision not in cached:
        detail = f"revision {parts.revision} is not cached (cached: {', '.join(cached) or 'none'})"
    else:
        detail = what
    return PinUnresolved(f"{uri}: {detail}", uri=uri, cached_revisions=cached)


def _resolve_file(uri: str, parts: PinParts, cache_dir: Path, repo_dir: Path, snapshot_dir: Path) -> tuple[str, Path]:
    from huggingface_hub import _CACHED_NO_EXIST, try_to_load_from_cache

    assert parts.path is not None
    hit = try_to_load_from_cache(
        parts.repo_id, parts.path, cache_dir=str(cache_dir), revision=parts.revision, repo_type=parts.repo_type
    )
    if hit is _CACHED_NO_EXIST:
        raise _unresolved(
            uri, parts, cache_dir, repo_dir, f"the cache records that {parts.path!r} does not exist at this revision"
        )
    if not isinstance(hit, str):
        raise _unresolved(uri, parts, cache_dir, repo_dir, f"file {parts.path!r} is not in the cached snapshot")
    expected = snapshot_dir / parts.path
    if os.path.normpath(hit) != os.path.normpath(expected):
        # try_to_load_from_cache follows refs/<name>; a commit id must not be redirected.
        raise PinUnresolved(f"{uri}: the cache redirected the pinned commit to {hit!r}", uri=uri)
    return parts.path, Path(hit)


def _resolve_snapshot(
    uri: str, parts: PinParts, cache_dir: Path, repo_dir: Path, snapshot_dir: Path
) -> list[tuple[str, Path]]:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = snapshot_download(
            parts.repo_id,
            repo_type=parts.repo_type,
            revision=parts.revision,
            cache_dir=str(cache_dir),
            local_files_only=True,
        )
    except LocalEntryNotFoundError:
        raise _unresolved(uri, parts, cache_dir, repo_dir, "snapshot folder missing") from None
    if os.path.normpath(folder) != os.path.normpath(snapshot_dir):
        raise PinUnresolved(f"{uri}: the cache returned {folder!r} instead of the pinned snapshot", uri=uri)
    entries: list[tuple[str, Path]] = []
    for root, dirs, names in os.walk(folder):  # os.walk does not follow directory symlinks
        dirs.sort()
        for name in sorted(names):
            local = Path(root) / name
            entries.append((local.relative_to(folder).as_posix(), local))
    if not entries:
        raise PinUnresolved(f"{uri}: the cached snapshot is empty", uri=uri)
    return sorted(entries)  # by in-repository path (code point order, as snapshot_digest)


def _confined_target(uri: str, repo_dir: Path, local: Path) -> Path:
    """Real path of a snapshot entry, which must be a regular file inside ``repo_dir``."""
    real = Path(os.path.realpath(local))
    root = Path(os.path.realpath(repo_dir))
    if root != real and root not in real.parents:
        raise PathEscape(
            f"{uri}: cache entry {str(local)!r} resolves outside the repository cache to {str(real)!r}", uri=uri
        )
    if not real.is_file():
        raise PinUnresolved(f"{uri}: cache entry {str(local)!r} is not a regular file (dangling symlink?)", uri=uri)
    return real


__all__ = [
    "ResolvedFile",
    "ResolvedPin",
    "cached_revisions",
    "parse_pin",
    "pin_parts",
    "repo_cache_dir",
    "resolve_pin",
    "snapshot_digest",
]
