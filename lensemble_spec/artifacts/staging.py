"""Staged output directories: written into ``OUT.partial``, claimed with one ``os.mkdir``, renamed when complete.

The lifecycle (used by :class:`lensemble_spec.artifacts.rundir.RunDirWriter` with ``staged=True``,
and by any writer of a directory that must appear complete or not at all, such as a comparison):

1. :func:`check_out` refuses an unusable ``OUT`` before anything is built (typed errors);
2. :func:`claim` creates ``OUT.partial`` with one ``os.mkdir`` — of several concurrent writers
   exactly one wins, the others get an :class:`~lensemble_spec.errors.ArtifactError` before they
   write anything;
3. the writer fills ``OUT.partial``; it may keep what it needs to resume in ``OUT.partial/resume/``
   (:data:`RESUME_DIR`), which nothing here reads;
4. on an exception the partial directory is deleted (:func:`discard_on_error`); a killed process
   (SIGKILL, Ctrl-C) leaves it, so :func:`reopen` can continue it and :func:`prune` can delete
   what an uncommitted step left;
5. :func:`promote` removes ``resume/`` and renames ``OUT.partial`` to ``OUT``.

Error remediations name the ``lensemble-spec`` command-line flags (``--out``, ``--resume``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

from ..errors import ArtifactError

#: Suffix of the sibling directory a run or comparison is written into until it is complete.
PARTIAL_SUFFIX = ".partial"
#: Where a writer keeps what it needs to resume a killed run (never part of a complete run).
RESUME_DIR = "resume"


# --- the output directory ----------------------------------------------------------------------------
def partial_dir(out: Path) -> Path:
    """``OUT.partial``: where a run for ``OUT`` is written until it is complete."""
    out = Path(out)
    return out.parent / (out.name + PARTIAL_SUFFIX)


def _is_empty_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode) and not any(os.scandir(path))
    except OSError:
        return False


def check_out(out: Path) -> None:
    """Typed errors for an unusable ``--out`` before anything is built or written.

    ``OUT`` must not exist (or be an empty directory, not a symlink), its parent must be (or be
    creatable as) a directory, and no ``OUT.partial`` may exist (a run in progress or killed).
    """
    out = Path(out)
    if not out.name or out.name in (".", ".."):
        raise ArtifactError(
            f"--out {out} does not name a new directory", remediation="Pass a path such as runs/anchored."
        )
    try:
        if os.path.islink(out):
            raise ArtifactError(
                f"--out {out} is a symlink",
                remediation="Pass a plain new directory path; runs are not written through links.",
            )
        if os.path.lexists(out) and not _is_empty_dir(out):
            raise ArtifactError(
                f"{out} exists and is not empty",
                remediation="Choose a new --out directory; runs are written once and never overwritten.",
            )
        partial = partial_dir(out)
        if os.path.lexists(partial):
            raise ArtifactError(
                f"{partial} exists: a run into {out} is in progress or was killed",
                remediation=f"Resume it with --resume {out}, or delete {partial} to start over.",
            )
        parent = out.parent
        probe = parent
        while not os.path.lexists(probe) and probe != probe.parent:
            probe = probe.parent
        if not stat.S_ISDIR(os.stat(probe).st_mode):
            raise ArtifactError(
                f"--out {out}: {probe} is not a directory", remediation="Pass an --out whose parent is a directory."
            )
        if os.path.lexists(parent) and not os.access(parent, os.W_OK | os.X_OK):
            raise ArtifactError(
                f"--out {out}: cannot write in {parent}", remediation="Pass an --out in a directory you can write to."
            )
    except OSError as exc:
        raise ArtifactError(
            f"--out {out} is unusable: {exc.strerror or exc}", remediation="Pass a writable path for a new directory."
        ) from exc


def claim(out: Path) -> Path:
    """Create ``OUT.partial`` atomically (``os.mkdir``: one concurrent writer wins) and return it."""
    check_out(out)
    partial = partial_dir(out)
    try:
        partial.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(partial)
    except FileExistsError as exc:
        raise ArtifactError(
            f"{partial} was created by another writer: a run into {out} is already in progress",
            remediation=f"Wait for it, or choose another --out (if it was killed: --resume {out}).",
        ) from exc
    except OSError as exc:
        raise ArtifactError(
            f"cannot create {partial}: {exc.strerror or exc}", remediation="Pass a writable path for a new directory."
        ) from exc
    return partial


def reopen(out: Path) -> Path:
    """The existing ``OUT.partial`` of a killed run (typed error if there is none)."""
    out = Path(out)
    if out.name.endswith(PARTIAL_SUFFIX):
        out = out.parent / out.name[: -len(PARTIAL_SUFFIX)]
    partial = partial_dir(out)
    if not os.path.isdir(partial) or os.path.islink(partial):
        hint = f"{out} is already complete" if os.path.isdir(out) else f"no {partial} to resume"
        raise ArtifactError(f"nothing to resume: {hint}", remediation=f"Start the run without --resume (--out {out}).")
    return partial


def promote(partial: Path, out: Path) -> Path:
    """Remove ``resume/`` and rename ``OUT.partial`` to ``OUT`` (onto nothing or an empty directory)."""
    shutil.rmtree(partial / RESUME_DIR, ignore_errors=True)
    try:
        os.rename(partial, out)
    except OSError as exc:
        raise ArtifactError(
            f"the complete run is in {partial} but cannot become {out}: {exc.strerror or exc}",
            remediation=f"Move {partial} to a new name yourself; {out} appeared while the run was written.",
        ) from exc
    return Path(out)


def discard(partial: Path) -> None:
    """Delete a partial run after a failure (nothing half-written stays)."""
    shutil.rmtree(partial, ignore_errors=True)


@contextlib.contextmanager
def discard_on_error(partial: Path):  # type: ignore[no-untyped-def]
    """Delete ``partial`` if the block raises an Exception; keep it on KeyboardInterrupt (resumable)."""
    try:
        yield
    except Exception:
        discard(partial)
        raise


def prune(run_dir: Path, keep_files: set[str], keep_dirs: set[str]) -> None:
    """Delete everything under ``run_dir`` except the listed files and directories (relative
    POSIX paths) and ``resume/``: what a step after the last committed one left behind. Symlinks
    are removed, never followed."""
    run_dir = Path(run_dir)
    for dirpath, dirnames, filenames in os.walk(run_dir):
        rel_dir = Path(dirpath).relative_to(run_dir).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        kept = []
        for d in dirnames:
            rel = f"{rel_dir}/{d}" if rel_dir else d
            full = Path(dirpath) / d
            if rel in keep_dirs or rel == RESUME_DIR:
                continue  # kept whole, not walked
            if not full.is_symlink() and any(k.startswith(rel + "/") for k in keep_dirs):
                kept.append(d)
            else:
                shutil.rmtree(full, ignore_errors=True) if not full.is_symlink() else full.unlink()
        dirnames[:] = kept
        for f in filenames:
            rel = f"{rel_dir}/{f}" if rel_dir else f
            if rel not in keep_files:
                with contextlib.suppress(OSError):
                    (Path(dirpath) / f).unlink()


__all__ = [
    "PARTIAL_SUFFIX",
    "RESUME_DIR",
    "check_out",
    "claim",
    "discard",
    "discard_on_error",
    "partial_dir",
    "promote",
    "prune",
    "reopen",
]
