"""Confine document-supplied relative paths to a root directory.

A path named inside an artifact (a weight file, a checkpoint in a manifest) must be a plain
relative POSIX path: non-empty ``/``-separated segments, none of them ``.`` or ``..``, no
backslash, no NUL or control character, not absolute. After joining it to the root, the fully
resolved path (all symlinks followed) must still lie inside the resolved root. Anything else is
a :class:`PathEscape`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ArtifactError, PathEscape


def check_relative(rel: object) -> str:
    """Validate the *syntax* of a relative artifact path and return it unchanged."""
    if not isinstance(rel, str) or not rel:
        raise PathEscape(f"artifact path must be a non-empty string, got {rel!r}")
    if any(ord(c) < 32 or c == "\x7f" for c in rel) or "\\" in rel:
        raise PathEscape(f"artifact path {rel!r} contains a backslash or control character")
    if rel.startswith("/") or (len(rel) >= 2 and rel[1] == ":"):
        raise PathEscape(f"artifact path {rel!r} is absolute")
    for segment in rel.split("/"):
        if segment in ("", ".", ".."):
            raise PathEscape(f"artifact path {rel!r} has an empty, '.' or '..' segment")
    return rel


def confine(root: str | os.PathLike[str], rel: object) -> Path:
    """Return the resolved ``root / rel``, raising :class:`PathEscape` if it leaves ``root``.

    Symlinks are followed (also for a target that does not exist yet), so a link pointing out
    of the root is refused even though its name looks harmless. A path that cannot be resolved
    at all (a symlink loop, a name too long for the filesystem) is an :class:`ArtifactError`.
    """
    check_relative(rel)
    try:
        real_root = Path(root).resolve()
        resolved = (real_root / str(rel)).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a name too long
        raise ArtifactError(
            f"artifact path {rel!r} cannot be resolved: {getattr(exc, 'strerror', None) or exc}"
        ) from exc
    if resolved != real_root and real_root not in resolved.parents:
        raise PathEscape(f"artifact path {rel!r} resolves to {resolved}, outside {real_root}")
    return resolved


def relative_to_root(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> str:
    """The POSIX relative path of ``path`` under ``root`` (for writers); PathEscape if outside."""
    real_root = Path(root).resolve()
    resolved = Path(path).resolve()
    try:
        rel = resolved.relative_to(real_root).as_posix()
    except ValueError as exc:
        raise PathEscape(f"{path} is not inside {root}") from exc
    return check_relative(rel)


__all__ = ["check_relative", "confine", "relative_to_root"]
