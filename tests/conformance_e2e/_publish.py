"""Publish a comparison the way a model card would: pin its final checkpoint files in a hub cache.

A local ``lensemble-spec headline`` run publishes nothing, so its ``results.json`` carries no pins
and the RFC-0010 §6 pin checks (ART-023/024/025) have nothing to check (skipped: the verdict can
then only be ``incomplete``). :func:`publish_comparison` does what a publisher does: every control's
final-round checkpoint files go into a Hugging Face cache with huggingface_hub's real layout
(``tests/pins/_hubcache.py``) as one commit of repository ``<org>/<control>``, and each row of
``results.json`` gets full-revision pins carrying the files' sha256. The table is rewritten
atomically; nothing else in the comparison changes.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from lensemble_spec.artifacts import atomic_write_json
from lensemble_spec.artifacts.pins import format_pin_uri

_PINS_DIR = Path(__file__).resolve().parents[1] / "pins"

#: The commit every published repository is given (any full 40-hex id works).
REVISION = "5e1f0c0ffee0ddba11c0ffee0ddba11c0ffee0dd"
ORG = "lensemble-e2e"


def add_snapshot(*args, **kwargs) -> Path:
    """``tests/pins/_hubcache.add_snapshot`` (a directory of test helpers, not a package)."""
    if str(_PINS_DIR) not in sys.path:
        sys.path.insert(0, str(_PINS_DIR))
    from _hubcache import add_snapshot as add

    return add(*args, **kwargs)


def final_files(run: Path) -> dict[str, bytes]:
    """In-repository path -> bytes of every file of the run's last-round checkpoints."""
    manifest = json.loads((run / "manifest.json").read_bytes())
    last = max(e["round_index"] for e in manifest["checkpoints"])
    files: dict[str, bytes] = {}
    for entry in manifest["checkpoints"]:
        if entry["round_index"] == last:
            for path in sorted((run / entry["path"]).iterdir()):
                files[f"{entry['path']}/{path.name}"] = path.read_bytes()
    return files


def publish_comparison(comparison: Path, hub: Path, *, revision: str = REVISION, org: str = ORG) -> list[dict]:
    """Pin every row's final checkpoint files in ``hub``; return the pins written (all rows)."""
    doc = json.loads((comparison / "results.json").read_bytes())
    written: list[dict] = []
    for row in doc["controls"]:
        files = final_files(comparison / row["control"])
        repo = f"{org}/{row['control']}"
        add_snapshot(hub, repo, revision, files)
        row["pins"] = [
            {"uri": format_pin_uri("model", repo, revision, rel), "sha256": hashlib.sha256(data).hexdigest()}
            for rel, data in sorted(files.items())
        ]
        written += row["pins"]
    atomic_write_json(comparison / "results.json", doc)
    return written
