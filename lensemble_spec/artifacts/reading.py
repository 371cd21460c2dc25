"""Reading untrusted files: regular files only, never blocking, never more than a byte cap.

``stat().st_size`` cannot bound a read: it is 0 for a character device (``/dev/zero`` reads
forever) and a FIFO blocks ``open()`` until a writer appears. :func:`read_regular_file` opens with
``O_NONBLOCK`` (so a FIFO opens at once), checks the *opened* descriptor is a regular file
(``fstat``, so there is no check-then-open gap), and enforces the cap on the bytes actually read.
Every failure — a missing file, a symlink loop, a name too long, a directory, a device — is an
:class:`ArtifactError` naming the file, never an ``OSError`` or a hang.
"""

from __future__ import annotations

import os
import stat

from ..errors import ArtifactError

_CHUNK = 1 << 20


def read_regular_file(path: str | os.PathLike[str], max_bytes: int, *, label: str | None = None) -> bytes:
    """The bytes of the regular file ``path``, refusing anything else or more than ``max_bytes``."""
    name = label or str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(os.fspath(path), flags)
    except OSError as exc:
        raise ArtifactError(f"cannot read {name}: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactError(
                f"{name} is not a regular file ({_kind(st.st_mode)})",
                remediation="Replace it with a regular file; devices, pipes, sockets and directories are refused "
                            "unread.",
            )
        if st.st_size > max_bytes:
            raise ArtifactError(
                f"{name} is {st.st_size} bytes, over the {max_bytes}-byte limit",
                remediation="Check the file is the intended one; files this large are refused unread.",
            )
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # the file grew after fstat: still never read past the cap
                raise ArtifactError(
                    f"{name} is over the {max_bytes}-byte limit",
                    remediation="Check the file is the intended one; files this large are refused unread.",
                )
        return b"".join(chunks)
    except OSError as exc:
        raise ArtifactError(f"cannot read {name}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, what in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return what
    return "not a regular file"


def is_regular_file(path: str | os.PathLike[str]) -> bool:
    """True for a regular file (symlinks followed); False for anything else or on any error."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def is_directory(path: str | os.PathLike[str]) -> bool:
    """``Path.is_dir`` that never raises (symlink loops, names too long)."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


__all__ = ["is_directory", "is_regular_file", "read_regular_file"]
