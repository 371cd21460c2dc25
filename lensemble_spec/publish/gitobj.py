"""Git object ids for a Hub commit computed offline: blob ids, LFS pointers, trees and a commit.

A Hugging Face repository is a git repository whose large files are stored through git-LFS: the
tree holds a small *pointer* file for them, and the Hub's ``ETag`` of a file (the name of its blob
in the local cache) is the sha256 of the bytes for an LFS file and the git blob id for any other.
This module computes, from the files alone and without git or the network:

* :func:`git_blob_id` — ``sha1(b"blob <size>\\0" + bytes)``, git's id of a regular file;
* :func:`lfs_pointer` — the pointer file git-LFS commits in place of a large file;
* :func:`tree_id` — the id of the (nested) tree those entries form, with git's entry order;
* :func:`commit_id` — the id of a root commit of that tree with a fixed author, date and message.

The commit id is what :mod:`lensemble_spec.publish` uses as the revision of an offline publish:
the same files, date and message give the same 40-hex revision on every machine, and
``git commit-tree`` on the same tree reproduces it (``tests/publish/test_gitobj.py`` checks that
against git itself).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

#: git-LFS pointer format version line.
LFS_SPEC = "https://git-lfs.github.com/spec/v1"
#: Author and committer of offline commits (an address that cannot be mailed: RFC 2606 ``.invalid``).
AUTHOR = "lensemble-spec publish <publish@lensemble-spec.invalid>"


def git_blob_id(data: bytes) -> str:
    """git's blob id of ``data`` (also the Hub's ETag of a non-LFS file)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    """The git-LFS pointer file that a repository's tree holds for a large file ``data``."""
    oid = hashlib.sha256(data).hexdigest()
    return f"version {LFS_SPEC}\noid sha256:{oid}\nsize {len(data)}\n".encode("ascii")


def _object_id(kind: bytes, body: bytes) -> str:
    return hashlib.sha1(kind + b" %d\0" % len(body) + body).hexdigest()


def tree_id(files: Mapping[str, bytes]) -> str:
    """Id of the tree holding ``files`` (in-repository ``/`` path -> bytes committed for it).

    The bytes are what git stores: pass :func:`lfs_pointer` of an LFS file. Every file gets mode
    ``100644``; sub-directories become sub-trees (mode ``40000``); entries are ordered as git
    orders them (by name, a directory compared as if its name ended in ``/``).
    """
    root: dict[str, object] = {}
    for path, data in files.items():
        parts = path.split("/")
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"{path!r}: {part!r} is both a file and a directory")
            node = child
        if parts[-1] in node:
            raise ValueError(f"{path!r} is listed twice or is also a directory")
        node[parts[-1]] = data
    return _tree(root)


def _tree(node: Mapping[str, object]) -> str:
    entries: list[tuple[bytes, bytes]] = []
    for name, value in node.items():
        raw = name.encode("utf-8")
        if isinstance(value, dict):
            entries.append((raw + b"/", b"40000 " + raw + b"\0" + bytes.fromhex(_tree(value))))
        else:
            assert isinstance(value, bytes)
            entries.append((raw, b"100644 " + raw + b"\0" + bytes.fromhex(git_blob_id(value))))
    return _object_id(b"tree", b"".join(entry for _, entry in sorted(entries)))


def commit_id(tree: str, *, timestamp: int, message: str, author: str = AUTHOR) -> str:
    """Id of a parentless commit of ``tree`` by ``author`` at ``timestamp`` (seconds, UTC)."""
    if not message.endswith("\n"):
        message += "\n"
    body = (
        f"tree {tree}\n"
        f"author {author} {int(timestamp)} +0000\n"
        f"committer {author} {int(timestamp)} +0000\n"
        f"\n{message}"
    ).encode()
    return _object_id(b"commit", body)


__all__ = ["AUTHOR", "LFS_SPEC", "commit_id", "git_blob_id", "lfs_pointer", "tree_id"]
