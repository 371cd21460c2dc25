"""Atomic writes: readers see the old file (or none) or the complete new one, never a prefix.

Files are written to a temporary name in the destination directory (same filesystem), flushed
and fsynced, then moved into place with ``os.replace``. On any failure the temporary is removed,
so nothing half-written is left behind. :func:`atomic_directory` does the same for a whole
directory (e.g. a checkpoint), refusing to replace an existing target.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ArtifactError

_FILE_MODE = 0o644


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some filesystems cannot open directories; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parents created); return the path."""
    path = Path(path)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ArtifactError(f"atomic_write_bytes needs bytes, got {type(data).__name__}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ArtifactError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ArtifactError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """Human-readable, deterministic JSON text (sorted keys, 2-space indent, trailing newline).

    Pydantic models are dumped in JSON mode first. NaN/Infinity are refused.
    """
    if hasattr(obj, "model_dump") and callable(obj.model_dump):
        obj = obj.model_dump(mode="json")
    try:
        return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"value is not serialisable as strict JSON: {exc}") from exc


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as JSON (see :func:`dumps_json`) atomically."""
    return atomic_write_text(path, dumps_json(obj))


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary directory that becomes ``target`` when the block succeeds.

    Raises :class:`ArtifactError` if ``target`` already exists (before and at commit time). If
    the block raises, the temporary directory is deleted and ``target`` is never created.
    """
    target = Path(target)
    if target.exists() or target.is_symlink():
        raise ArtifactError(
            f"{target} already exists",
            remediation="Choose a new directory; artifacts are written once and never overwritten.",
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    except OSError as exc:
        raise ArtifactError(f"cannot create {target}: {exc.strerror or exc}") from exc
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        if target.exists() or target.is_symlink():  # appeared while we were writing
            raise ArtifactError(
                f"{target} appeared while it was being written",
                remediation="Choose a new directory; artifacts are written once and never overwritten.",
            )
        os.replace(tmp, target)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise ArtifactError(f"cannot create {target}: {exc.strerror or exc}") from exc
        raise
    _fsync_dir(target.parent)


__all__ = ["atomic_directory", "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "dumps_json"]
