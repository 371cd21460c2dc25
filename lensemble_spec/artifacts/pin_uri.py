"""The pin URI grammar: split a pin URI into its pieces, say why a piece is refused, format one.

Below the schemas (``schemas.pin`` validates with it); resolution against a cache is
:mod:`lensemble_spec.artifacts.pins`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..constants import PIN_URI_FORM, PIN_URI_RE, REPO_KINDS, REPO_PART_RE, REVISION40_RE
from ..errors import PinError

_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")


# --- parsing ------------------------------------------------------------------------------------
def revision_problem(revision: str) -> str | None:
    """Why ``revision`` is not an immutable commit id, or ``None`` when it is one.

    The reasons are stable phrases reports can show: ``"empty"``, ``"abbreviated commit id
    (N hex characters; a pin needs all 40)"``, ``"uppercase hex"``, ``"symbolic reference (a
    branch or tag moves)"``.
    """
    if not isinstance(revision, str) or not revision:
        return "empty"
    if REVISION40_RE.fullmatch(revision):
        return None
    if _HEX_RE.fullmatch(revision):
        if len(revision) == 40:
            return "uppercase hex (commit ids are written in lowercase)"
        if len(revision) < 40:
            return f"abbreviated commit id ({len(revision)} hex characters; a pin needs all 40)"
        return f"not a commit id ({len(revision)} hex characters; a commit id has 40)"
    return "symbolic reference (a branch or tag moves; pin the 40-hex commit id)"


def path_problem(path: str) -> str | None:
    """Why ``path`` is not a safe in-repository file path, or ``None`` when it is one."""
    if path == "":
        return "empty path after the revision (drop the trailing '/')"
    if "\\" in path or any(ord(c) < 32 or c == "\x7f" for c in path):
        return "backslash or control character in path"
    if path.startswith("/"):
        return "absolute path"
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            return f"path segment {segment!r} is not allowed"
    return None


@dataclass(frozen=True)
class PinParts:
    """The pieces of a pin URI, already validated."""

    repo_type: str  # "model" | "dataset" (huggingface_hub spelling)
    repo_id: str  # "<org>/<name>"
    revision: str  # 40 lowercase hex
    path: str | None

    @property
    def uri(self) -> str:
        return format_pin_uri(self.repo_type, self.repo_id, self.revision, self.path)


def format_pin_uri(repo_type: str, repo_id: str, revision: str, path: str | None = None) -> str:
    """Inverse of :func:`split_pin_uri` (``repo_type`` in huggingface_hub spelling or plural)."""
    kind = repo_type if repo_type in REPO_KINDS else f"{repo_type}s"
    tail = f"/{path}" if path else ""
    return f"hf://{kind}/{repo_id}@{revision}{tail}"


def split_pin_uri(uri: str) -> PinParts:
    """Validate a pin URI and split it; raise :class:`PinError` naming the first problem."""
    if not isinstance(uri, str):
        raise PinError(f"a pin URI must be a string, got {type(uri).__name__}")
    match = PIN_URI_RE.fullmatch(uri)
    if match is None:
        raise PinError(
            f"{uri!r} is not a pin URI of the form {PIN_URI_FORM}",
            uri=uri,
            reason="malformed",
        )
    kind = match["kind"]
    if kind not in REPO_KINDS:
        raise PinError(
            f"{uri!r}: repository kind {kind!r} is not pinnable (use 'models' or 'datasets')",
            uri=uri,
            reason="repo_type",
        )
    for part in (match["org"], match["name"]):
        if not REPO_PART_RE.fullmatch(part):
            raise PinError(f"{uri!r}: {part!r} is not a valid Hub repository name component", uri=uri, reason="repo_id")
    reason = revision_problem(match["rev"])
    if reason is not None:
        raise PinError(
            f"{uri!r}: revision {match['rev']!r} is not a pin: {reason}",
            uri=uri,
            revision=match["rev"],
            reason=reason,
        )
    path = match["path"]
    if path is not None:
        reason = path_problem(path)
        if reason is not None:
            raise PinError(f"{uri!r}: {reason}", uri=uri, reason="path")
    return PinParts(REPO_KINDS[kind], f"{match['org']}/{match['name']}", match["rev"], path)


__all__ = ["PinParts", "format_pin_uri", "path_problem", "revision_problem", "split_pin_uri"]
