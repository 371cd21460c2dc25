"""Publish a comparison directory as one Hugging Face model repository, and pin it.

:func:`publish_comparison` takes a comparison directory (``results.json`` + one run directory per
control, as ``lensemble-spec headline`` writes it) and

1. builds the repository's files: for every control the checkpoints of its final round
   (``<control>/<checkpoint path>/header.json`` and the weights, with safetensors
   ``__metadata__`` added and tensor bytes unchanged) and its ``probe.safetensors``; a root
   ``config.json``, ``train_config.json`` (the config to re-run, for the reference trainer) and
   ``README.md`` (the model card, :mod:`.card`). Every checkpoint is loaded and its content hash
   re-checked first, so a damaged run is never published;
2. commits them: offline (default) the revision is the git commit id of that tree
   (:mod:`.gitobj`, reproducible from the files); with ``push=True`` huggingface_hub uploads
   them and the Hub's commit id is the revision. Either way the files go into the local hub
   cache (:mod:`.hubcache`) under that revision, so ``hf_hub_download(..., revision=REV,
   local_files_only=True)`` finds them;
3. resolves every pin through the library's offline resolver (the one the conformance suite's
   ART-025 check uses) and only then writes the pins — full 40-hex revision and per-file
   sha256 — into each row of ``results.json``, atomically. Existing pins of a row are replaced.

Bad input is a typed error before anything is written (no results.json, a row without its run
directory, a checkpoint that does not verify, a compliance JSON about another directory, a push
without a token).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..artifacts.atomic import atomic_write_json, dumps_json
from ..artifacts.pin_uri import format_pin_uri
from ..artifacts.pins import resolve_pin
from ..constants import REPO_PART_RE
from ..errors import ArtifactError, ConfigError, LensembleError
from . import card as cards
from .gitobj import commit_id, lfs_pointer, tree_id
from .hubcache import commit_to_cache
from .stmeta import with_metadata

RESULTS = "results.json"
PROBE = "probe.safetensors"
LICENSE = "apache-2.0"


@dataclass
class Published:
    """What one publish did: the repository, its revision and the pins written per control."""

    repo_id: str
    revision: str
    snapshot: Path
    files: dict[str, str]  # in-repository path -> sha256
    pins: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    pushed: bool = False


def check_repo_id(repo_id: str) -> str:
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if len(parts) != 2 or not all(REPO_PART_RE.fullmatch(p) for p in parts):
        raise ConfigError(
            f"{repo_id!r} is not a Hub repository id",
            remediation="Pass --repo-id ORG/NAME (letters, digits, '-', '_', '.'; no '--' or '..').",
        )
    return repo_id


def _load_table(comparison: Path) -> Any:
    from ..schemas import ResultsTable, load_document

    if not (comparison / RESULTS).is_file():
        raise ArtifactError(
            f"{comparison} holds no {RESULTS}",
            remediation="Publish a comparison directory written by `lensemble-spec headline --out DIR`.",
        )
    return load_document(ResultsTable, comparison / RESULTS)


def _final_checkpoints(run_dir: Path, manifest: Any) -> tuple[int, list[Any]]:
    if not manifest.checkpoints:
        raise ArtifactError(f"{run_dir}: the manifest lists no checkpoints", remediation="Publish a finished run.")
    last = max(c.round_index for c in manifest.checkpoints)
    return last, [c for c in manifest.checkpoints if c.round_index == last]


def _control_files(comparison: Path, control: str) -> tuple[Any, cards.ControlFiles, dict[str, bytes]]:
    """The manifest, the listing and the in-repository files of one control."""
    from ..artifacts.checkpoint import load_checkpoint
    from ..artifacts.paths import confine
    from ..schemas import RunManifest, load_document

    run_dir = comparison / control
    if not (run_dir / "manifest.json").is_file():
        raise ArtifactError(
            f"{run_dir} is not a run directory (no manifest.json) but {RESULTS} has a row for {control!r}",
            remediation="Publish the comparison directory exactly as `lensemble-spec headline` wrote it.",
        )
    manifest = load_document(RunManifest, run_dir / "manifest.json")
    round_index, refs = _final_checkpoints(run_dir, manifest)
    files: dict[str, bytes] = {}
    folders, hashes = [], []
    for ref in refs:
        folder = confine(run_dir, ref.path)
        _, header = load_checkpoint(folder)  # re-checks the content hash; raises if damaged
        if header.content_hash != ref.content_hash:
            raise ArtifactError(
                f"{folder}: content hash {header.content_hash} is not the manifest's {ref.content_hash}"
            )
        prefix = f"{control}/{ref.path}"
        folders.append(prefix)
        hashes.append(header.content_hash)
        files[f"{prefix}/header.json"] = (folder / "header.json").read_bytes()
        for rel in header.weight_files:
            meta = {
                "format": "pt",
                "lensemble_spec.control": control,
                "lensemble_spec.participant": ref.participant or "global",
                "lensemble_spec.round_index": str(header.round_index),
                "lensemble_spec.content_hash": header.content_hash,
                "lensemble_spec.config_hash": header.config_hash,
                "lensemble_spec.run_id": manifest.run_id,
                "lensemble_spec.producer": f"{header.producer.name} {header.producer.version}",
            }
            files[f"{prefix}/{rel}"] = with_metadata(confine(folder, rel).read_bytes(), meta)
    if (run_dir / PROBE).is_file():
        files[f"{control}/{PROBE}"] = (run_dir / PROBE).read_bytes()
    listing = cards.ControlFiles(control, tuple(folders), tuple(sorted(files)), tuple(hashes), round_index)
    return manifest, listing, files


def _load_compliance(path: Path, comparison: Path) -> Any:
    from ..schemas import load_document
    from ..schemas.compliance import ComplianceReport

    if not path.is_file():
        raise ArtifactError(
            f"no compliance results at {path}",
            remediation="Run the conformance suite with --run on this directory first.",
        )
    report = load_document(ComplianceReport, path)
    mine = os.path.realpath(comparison)
    if not any(os.path.realpath(d) == mine for d in report.run_info.run_dirs):
        raise ArtifactError(
            f"{path} is the result of a conformance run on {report.run_info.run_dirs or 'no run directory'}, not on "
            f"{comparison}",
            remediation=f"Run `pytest conformance/ --impl MODULE --run {comparison} --hub-cache CACHE` and pass its "
                        f"results.",
        )
    return report


def _timestamp(manifests: dict[str, Any]) -> int:
    """The commit date: the latest manifest ``created_at`` (so the same comparison gives the same id)."""
    stamps = [datetime.fromisoformat(m.created_at.replace("Z", "+00:00")).timestamp() for m in manifests.values()]
    return int(max(stamps))


def build_repository(
    comparison: Path,
    repo_id: str,
    *,
    license: str = LICENSE,
    datasets: Sequence[str] = (),
    compliance: Any | None = None,
) -> tuple[Any, dict[str, bytes], dict[str, cards.ControlFiles], int]:
    """``(table, files, per-control listing, timestamp)`` of the repository to commit."""
    from .. import __version__

    table = _load_table(comparison)
    if not table.controls:
        raise ArtifactError(f"{comparison / RESULTS} has no rows", remediation="Publish a finished comparison.")
    manifests: dict[str, Any] = {}
    listings: dict[str, cards.ControlFiles] = {}
    files: dict[str, bytes] = {}
    for row in table.controls:
        manifests[row.control], listings[row.control], own = _control_files(comparison, row.control)
        files.update(own)
    roots = sorted({r for m in manifests.values() for r in m.data_roots})
    data_name = cards.public_root(roots[0]).split("?")[0] if len(roots) == 1 else "multiple data roots"
    first = manifests[table.controls[0].control]
    reference = "lensemble_reference" in first.versions
    synthetic = all(r.startswith("synthetic:") for r in roots)
    reproduce = None
    if reference and "anchored" in manifests:
        # The headline applies each control's overrides to one base config; anchored's own config
        # is that base (anchored is the default control), so it rebuilds every row bit for bit.
        files["train_config.json"] = dumps_json(dict(manifests["anchored"].config)).encode("utf-8")
        names = [row.control for row in table.controls]
        reproduce = cards.reproduce_section(
            repo_id=repo_id, controls=list(listings.values()), synthetic=synthetic, version=__version__,
            controls_flag="" if len(names) == 4 else f" --controls {','.join(names)}",
        )
    files["config.json"] = dumps_json(
        cards.config_document(
            repo_id=repo_id, table=table, manifests=manifests, controls=list(listings.values()), version=__version__
        )
    ).encode("utf-8")
    metadata = cards.card_metadata(
        repo_id=repo_id, table=table, data_name=data_name, license=license, datasets=datasets
    )
    files["README.md"] = cards.render_card(
        repo_id=repo_id,
        table=table,
        controls=list(listings.values()),
        metadata=metadata,
        data_roots=[cards.public_root(r) for r in roots],
        compliance=compliance,
        reproduce=reproduce,
    ).encode("utf-8")
    return table, files, listings, _timestamp(manifests)


def is_lfs(path: str) -> bool:
    """Stored through git-LFS on the Hub (its default ``.gitattributes`` tracks ``*.safetensors``)."""
    return path.endswith(".safetensors")


def offline_revision(files: dict[str, bytes], *, timestamp: int, message: str) -> str:
    git_files = {p: lfs_pointer(d) if is_lfs(p) else d for p, d in files.items()}
    return commit_id(tree_id(git_files), timestamp=timestamp, message=message)


def _push(repo_id: str, files: dict[str, bytes], *, token: str, message: str, private: bool) -> str:
    """Upload with huggingface_hub; the Hub's commit id."""
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", exist_ok=True, private=private)
    info = api.create_commit(
        repo_id,
        operations=[CommitOperationAdd(path_in_repo=p, path_or_fileobj=d) for p, d in sorted(files.items())],
        commit_message=message,
        repo_type="model",
    )
    return info.oid


def publish_comparison(
    comparison: str | os.PathLike[str],
    repo_id: str,
    *,
    hub_cache: str | os.PathLike[str],
    license: str = LICENSE,
    datasets: Sequence[str] = (),
    compliance: str | os.PathLike[str] | None = None,
    push: bool = False,
    token: str | None = None,
    private: bool = False,
) -> Published:
    """Publish ``comparison`` as ``repo_id`` (see the module docstring); return what was done."""
    comparison = Path(comparison)
    check_repo_id(repo_id)
    if push and not token:
        raise ConfigError(
            "--push needs a Hugging Face token",
            remediation="Set HF_TOKEN (or pass --token) to a write token; without --push nothing leaves this machine.",
        )
    report = _load_compliance(Path(compliance), comparison) if compliance is not None else None
    table, files, listings, stamp = build_repository(
        comparison, repo_id, license=license, datasets=datasets, compliance=report
    )
    message = f"lensemble-spec publish: {table.title}"
    revision = _push(repo_id, files, token=token or "", message=message, private=private) if push else \
        offline_revision(files, timestamp=stamp, message=message)
    snapshot = commit_to_cache(hub_cache, repo_id, revision, files, lfs={p for p in files if is_lfs(p)})
    sha = {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}
    pins = {
        c: [{"uri": format_pin_uri("model", repo_id, revision, p), "sha256": sha[p]} for p in listing.files]
        for c, listing in listings.items()
    }
    for plist in pins.values():  # the same resolver as ART-025: a pin written is a pin that resolves
        for pin in plist:
            try:
                resolve_pin(pin, cache_dir=hub_cache)
            except LensembleError as exc:
                raise ArtifactError(f"published pin does not resolve: {exc.message}") from exc
    doc = table.model_dump(mode="json")
    for row in doc["controls"]:
        row["pins"] = pins[row["control"]]
    atomic_write_json(comparison / RESULTS, doc)
    return Published(repo_id, revision, snapshot, sha, pins, pushed=push)


__all__ = ["Published", "build_repository", "check_repo_id", "offline_revision", "publish_comparison"]
