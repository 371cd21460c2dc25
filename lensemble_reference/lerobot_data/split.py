"""Assigning episodes to silos and the held-out split, and the hash that names the assignment."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

from lensemble_spec.errors import DataError

from .roots import OpenedRoot

#: Identifies the layout of ``split_policy`` and enters the split hash.
SPLIT_SCHEMA = "lensemble-spec/lerobot-split/v1"

#: Name of the held-out split (as in ``lensemble_spec.worlds``).
HELDOUT = "heldout"


def compute_split_hash(fingerprints: Sequence[str], assignment: Mapping[str, Sequence[Sequence[int]]]) -> str:
    """SHA-256 hex of the canonical JSON of the root fingerprints and the episode assignment."""
    from lensemble_spec.artifacts import canonical_json

    document = {
        "schema": SPLIT_SCHEMA,
        "roots": list(fingerprints),
        "assignment": {k: [[int(r), int(e)] for r, e in v] for k, v in assignment.items()},
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


# --- split ----------------------------------------------------------------------------------------
def assign_episodes(
    roots: list[OpenedRoot], names: list[str], mode: str, *, split_seed: int, heldout_fraction: float
) -> tuple[dict[str, list[tuple[int, int]]], str]:
    """``({split: [(root, episode)…]}, rule)`` by ``mode`` ``"by_root"`` or ``"pooled"`` (see
    :mod:`lensemble_reference.lerobot_data`); episodes without one chunk are never assigned."""
    n_silos = len(names)
    eligible = [[ep.key for ep in root.episodes if ep.n_chunks > 0] for root in roots]
    short_hint = "lower horizon/frame_stride or raise max_frames_per_episode so episodes yield at least one chunk"
    if mode == "by_root":
        if len(roots) < n_silos + 1:
            raise DataError(
                f"split='by_root' needs at least {n_silos + 1} roots ({n_silos} silos + held-out), got {len(roots)}",
                remediation="Pass more roots, fewer silos, or use split='pooled'.",
            )
        for root, keys in zip(roots, eligible):
            if not keys:
                raise DataError(
                    f"root {root.path} has no episode long enough for one chunk",
                    remediation=f"Drop that root, or {short_hint}.",
                )
        groups = np.array_split(np.arange(len(roots) - 1), n_silos)
        assignment = {name: [k for r in group for k in eligible[int(r)]] for name, group in zip(names, groups)}
        assignment[HELDOUT] = list(eligible[-1])
        rule = (
            "by_root: the last root is the held-out split; the other roots, in the order given, are "
            "dealt to the silos in contiguous blocks (numpy.array_split)"
        )
        return assignment, rule

    pool = [k for keys in eligible for k in keys]  # sorted by (root position, episode_index)
    n_heldout = max(1, int(np.floor(heldout_fraction * len(pool) + 0.5)))
    if len(pool) - n_heldout < n_silos:
        raise DataError(
            f"{len(pool)} usable episode(s) cannot fill {n_silos} silos plus a held-out split "
            f"({n_heldout} held out); each split needs at least one episode",
            remediation=f"Add episodes or roots, lower n_silos, or {short_hint}.",
        )
    perm = np.random.default_rng(split_seed).permutation(len(pool))
    held = {int(i) for i in perm[:n_heldout]}
    train = [k for i, k in enumerate(pool) if i not in held]
    blocks = np.array_split(np.arange(len(train)), n_silos)
    assignment = {name: [train[int(i)] for i in block] for name, block in zip(names, blocks)}
    assignment[HELDOUT] = [k for i, k in enumerate(pool) if i in held]
    rule = (
        "pooled: episodes sorted by (root position, episode_index); numpy.random.default_rng(split_seed)"
        ".permutation picks round_half_up(heldout_fraction * N) >= 1 held-out episodes; the rest, in "
        "sorted order, form n_silos contiguous blocks (numpy.array_split)"
    )
    return assignment, rule


__all__ = ["HELDOUT", "SPLIT_SCHEMA", "assign_episodes", "compute_split_hash"]
