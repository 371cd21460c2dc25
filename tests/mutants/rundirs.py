"""Mutant run directories: a pristine comparison written by the reference, and tampered copies.

Requirements on what a run *leaves behind* (RFC-0002 §6–§8 records, RFC-0003 records and seeds,
RFC-0005 comparisons and results tables, RFC-0010 run directories) are checked by the suite on any
directory given with ``--run``. A mutant here is an implementation that wrote a directory with one
defect: :func:`build_pristine` makes the comparison once (the reference's ``FederationPart.run`` for
each control on the harness world, plus a ``results.json`` evaluated on the harness world's held-out
split), and each entry of :data:`TAMPERS` edits a copy. Tampers that change a checkpoint re-hash and
re-chain everything downstream (:func:`rechain`) so that the directory stays consistent except for
the one defect.

The suite is run on these directories with ``--impl mutants.rundirs:model_only`` (the reference's
model part alone): run checks recompute through ``encode``, and nothing makes a new run. The tampers
that publish the final weights (``pin-cache-tampered``, ``pin-not-cached``) also write a Hugging
Face cache beside the comparison, passed to the session with ``--hub-cache`` (:func:`hub_cache_args`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.artifacts.canonical import legacy_config_hash
from lensemble_spec.protocol import CONTROLS, Implementation

from ._base import reference

# --- the implementation the suite uses to read the directories -------------------------------------


def model_only() -> Implementation:
    base = reference()
    return Implementation(name="mutant-rundirs:model-only", version=base.version, model=base.model)


# --- the pristine comparison -------------------------------------------------------------------------
ROUNDS = 2


def _config(control: str):
    from conformance._runs import base_config, control_config

    base = dataclasses.replace(base_config("quick"), rounds=ROUNDS, inner_steps=1, batch_size=4)
    return control_config(base, control)


def build_pristine(root: Path) -> tuple[Path, Path]:
    """(comparison directory, degenerate-probe run directory) under ``root``."""
    from conformance._comparison import heldout_file, write_results
    from conformance._runs import RUN_SPECS
    from conformance._world import HARNESS_SPLIT, world_for

    impl = reference()
    world = world_for(impl.model)
    comparison = root / "comparison"
    comparison.mkdir(parents=True)
    silos = {k: world.silos[k] for k in sorted(world.silos)[:2]}
    for control in CONTROLS:
        result = impl.federation.run(_config(control), silos, world.probe, comparison / control)
        assert Path(result.run_dir) == comparison / control
    # the same evaluation the suite writes for its own comparisons (held-out split outside the runs)
    write_results(
        comparison,
        impl.model,
        heldout_file(world.heldout, root / "heldout.safetensors"),
        split_name=HARNESS_SPLIT,
        seed=0,
    )
    spec = RUN_SPECS["degenerate-probe"]
    degenerate = root / "degenerate"
    impl.federation.run(
        spec.config("quick"), spec.silos(world), spec.probe(world, int(impl.model.latent_dim)), degenerate
    )
    return comparison, degenerate


# --- editing helpers ---------------------------------------------------------------------------------
def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def write_json(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, indent=1))


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "rounds.jsonl").read_bytes().splitlines() if line.strip()]


def write_records(run: Path, recs: list[dict]) -> None:
    (run / "rounds.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


def edit_records(run: Path, fn: Callable[[list[dict]], None]) -> None:
    recs = records(run)
    fn(recs)
    write_records(run, recs)


def edit_manifest(run: Path, fn: Callable[[dict], None], *, rehash_config: bool = False) -> None:
    from conformance import _bytes as byteio

    doc = read_json(run / "manifest.json")
    fn(doc)
    if rehash_config:
        doc["config_hash"] = byteio.config_hash(doc["config"])
    write_json(run / "manifest.json", doc)


def edit_results(comparison: Path, fn: Callable[[dict], None]) -> None:
    doc = read_json(comparison / "results.json")
    fn(doc)
    write_json(comparison / "results.json", doc)


def row(doc: dict, control: str) -> dict:
    return next(r for r in doc["controls"] if r["control"] == control)


def _tensors(ckpt: Path) -> dict:
    from conformance import _bytes as byteio

    header = read_json(ckpt / "header.json")
    out = {}
    for wf in header["weight_files"]:
        out.update(byteio.read_safetensors_raw((ckpt / wf).read_bytes()))
    return out


def edit_tensors(run: Path, rel: str, fn: Callable[[dict], None]) -> None:
    """Change a checkpoint's tensors (``{name: (dtype, shape, bytes)}``); call :func:`rechain` after."""
    from conformance import _bytes as byteio

    ckpt = run / rel
    tensors = _tensors(ckpt)
    fn(tensors)
    header = read_json(ckpt / "header.json")
    for wf in header["weight_files"]:
        (ckpt / wf).unlink()
    (ckpt / "weights.safetensors").write_bytes(byteio.write_safetensors_raw(tensors))
    header["weight_files"] = ["weights.safetensors"]
    header["tensor_manifest"] = [
        {"name": n, "dtype": tensors[n][0], "shape": list(tensors[n][1])} for n in sorted(tensors)
    ]
    write_json(ckpt / "header.json", header)


def edit_header(run: Path, rel: str, fn: Callable[[dict], None]) -> None:
    header = read_json(run / rel / "header.json")
    fn(header)
    write_json(run / rel / "header.json", header)


def rechain(run: Path, *, keep_parent: frozenset[str] = frozenset(), config_hash: str | None = None) -> None:
    """Recompute every checkpoint's content hash in round order, re-point parents (except for the
    paths in ``keep_parent``), and update the manifest entries and the records' hashes to match."""
    from conformance import _bytes as byteio

    manifest = read_json(run / "manifest.json")
    entries = sorted(manifest["checkpoints"], key=lambda e: (e["round_index"], e.get("participant") or ""))
    new_hash: dict[tuple[int, str | None], str] = {}
    old_to_new: dict[str, str] = {}
    for e in entries:
        ckpt = run / e["path"]
        header = read_json(ckpt / "header.json")
        t, p = e["round_index"], e.get("participant")
        if config_hash is not None:
            header["config_hash"] = config_hash
        if e["path"] not in keep_parent and not (t == 0 and p is None):
            prev = new_hash.get((t - 1, p)) or (new_hash.get((0, None)) if p is not None else None)
            header["parent_hash"] = prev
        old = header["content_hash"]
        header["content_hash"] = byteio.content_hash(
            _tensors(ckpt), schema_version=header["schema_version"], round_index=header["round_index"],
            parent_hash=header["parent_hash"], config_hash=header["config_hash"],
        )  # fmt: skip
        write_json(ckpt / "header.json", header)
        new_hash[(t, p)] = header["content_hash"]
        old_to_new[old] = header["content_hash"]
        e["content_hash"] = header["content_hash"]
    manifest["checkpoints"] = entries
    if config_hash is not None:
        manifest["config_hash"] = config_hash
    write_json(run / "manifest.json", manifest)

    def fix(recs: list[dict]) -> None:
        for r in recs:
            for key in ("global_hash", "parent_hash"):
                if r.get(key) in old_to_new:
                    r[key] = old_to_new[r[key]]

    edit_records(run, fix)


def global_path(run: Path, t: int) -> str:
    manifest = read_json(run / "manifest.json")
    return next(e["path"] for e in manifest["checkpoints"] if e["round_index"] == t and e.get("participant") is None)


def set_config(run: Path, key: str, value: Any) -> None:
    """Change a manifest config value, and every hash that depends on it."""
    from conformance import _bytes as byteio

    doc = read_json(run / "manifest.json")
    if value is _DELETE:
        doc["config"].pop(key, None)
    else:
        doc["config"][key] = value
    write_json(run / "manifest.json", doc)
    rechain(run, config_hash=byteio.config_hash(doc["config"]))


_DELETE = object()
OTHER_HASH = hashlib.sha256(b"mutant: some other artifact").hexdigest()


def _encode_final_targets(cmp: Path) -> None:
    """Refresh the anchored run's probe targets from its final global (re-snapshotted reference)."""
    from conformance import _bytes as byteio

    run = cmp / "anchored"
    params = {k: byteio.numpy_from_raw(*v) for k, v in _tensors(run / global_path(run, ROUNDS)).items()}
    raw = byteio.read_safetensors_raw((run / "probe.safetensors").read_bytes())
    targets = np.asarray(reference().model.encode(params, byteio.numpy_from_raw(*raw["points"])), dtype=np.float32)
    raw["targets"] = ("float32", targets.shape, targets.tobytes())
    (run / "probe.safetensors").write_bytes(byteio.write_safetensors_raw(raw))


def _add_foreign_tensor(cmp: Path) -> None:
    run = cmp / "anchored"
    edit_tensors(
        run,
        global_path(run, ROUNDS),
        lambda t: t.__setitem__("action_head.weight", ("float32", (2,), np.zeros(2, np.float32).tobytes())),
    )
    rechain(run)


def _flip_round0(cmp: Path) -> None:
    run = cmp / "naive-fedavg"

    def bump(t: dict) -> None:
        name = sorted(t)[0]
        dtype, shape, data = t[name]
        t[name] = (dtype, shape, bytes([data[0] ^ 0x40]) + data[1:])

    edit_tensors(run, global_path(run, 0), bump)
    rechain(run)


def _break_parent(cmp: Path) -> None:
    run = cmp / "anchored"
    rel = global_path(run, 2)
    edit_header(run, rel, lambda h: h.__setitem__("parent_hash", OTHER_HASH))
    rechain(run, keep_parent=frozenset({rel}))


def _checkpoint_config_hash(cmp: Path) -> None:
    run = cmp / "anchored"
    rel = global_path(run, 1)
    edit_header(run, rel, lambda h: h.__setitem__("config_hash", OTHER_HASH))
    rechain(run)


def _drop_manifest_entry(cmp: Path) -> None:
    run = cmp / "anchored"
    rel = global_path(run, 1)
    edit_manifest(run, lambda m: m.__setitem__("checkpoints", [e for e in m["checkpoints"] if e["path"] != rel]))


def _swap_records(recs: list[dict]) -> None:
    recs[1], recs[2] = recs[2], recs[1]


def _record(recs: list[dict], t: int) -> dict:
    return next(r for r in recs if r["round_index"] == t)


def _set_metric(t: int, key: str, value: Any) -> Callable[[list[dict]], None]:
    return lambda recs: _record(recs, t)["metrics"].__setitem__(key, value)


def _below_quorum(recs: list[dict]) -> None:
    r = _record(recs, 1)
    r["participants"] = r["participants"][:1]
    r["backstop_fired"] = {p: v for p, v in r["backstop_fired"].items() if p in r["participants"]}
    r["metrics"].update(drift_pairwise_mean_deg=None, drift_pairwise_max_deg=None)  # one participant: no pairs


def _results_metric(control: str, key: str, fn: Callable[[Any], Any]) -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        m = row(doc, control)["metrics"]
        m[key] = fn(m.get(key))

    return edit


def _results_series(control: str, key: str, fn: Callable[[list], list]) -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        s = row(doc, control)["series"]
        s[key] = fn(list(s[key]))

    return edit


def _other_verdict(doc: dict) -> None:
    r = row(doc, "anchored")
    r["verdict"] = "collapsed" if r["verdict"] != "collapsed" else "gauge-held"


def _nonfinite_text(cmp: Path) -> None:
    text = (cmp / "results.json").read_text()
    doc = json.loads(text)
    old = json.dumps(row(doc, "naive-fedavg")["metrics"]["val_pred_identity"])
    marker = '"val_pred_identity": ' + old
    assert marker in text
    (cmp / "results.json").write_text(text.replace(marker, '"val_pred_identity": 1e999', 1))


def _pin(uri_rev: str, sha: str | None) -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        row(doc, "anchored")["pins"] = [
            {"uri": f"hf://models/lensemble/mutant@{uri_rev}/weights.safetensors", "sha256": sha}
        ]

    return edit


A, N, L, C = "anchored", "naive-fedavg", "local-only", "centralized"
REV = "0123456789abcdef0123456789abcdef01234567"
#: Where a tamper that publishes pins puts its Hugging Face cache: ``<dest>/hub``, beside the
#: comparison (outside it, so the comparison's layout is untouched); see :func:`hub_cache_args`.
HUB = "hub"
PIN_REPO = "lensemble/mutant"


def _add_snapshot(*args: Any, **kwargs: Any) -> Path:
    """``tests/pins/_hubcache.add_snapshot``: a cache with huggingface_hub's real layout."""
    pins_dir = str(Path(__file__).resolve().parents[1] / "pins")
    if pins_dir not in sys.path:
        sys.path.insert(0, pins_dir)
    from _hubcache import add_snapshot

    return add_snapshot(*args, **kwargs)


def _publish_final_weights(cached: Callable[[str, bytes], dict[str, bytes]]) -> Callable[[Path], None]:
    """Pin the anchored run's final weights (true sha256) and cache ``cached(path, bytes)`` as
    snapshot ``REV`` of ``PIN_REPO``: the defect is in what the cache holds, not in the pin."""

    def edit(cmp: Path) -> None:
        run = cmp / A
        rel = global_path(run, ROUNDS)
        path = f"{rel}/weights.safetensors"
        data = (run / path).read_bytes()
        pin = {"uri": f"hf://models/{PIN_REPO}@{REV}/{path}", "sha256": hashlib.sha256(data).hexdigest()}
        edit_results(cmp, lambda d: row(d, A).__setitem__("pins", [pin]))
        _add_snapshot(cmp.parent / HUB, PIN_REPO, REV, cached(path, data))

    return edit


def _forged(path: str, data: bytes) -> dict[str, bytes]:
    return {path: data[:-1] + bytes([data[-1] ^ 0xFF])}  # stored under its own sha256: a sound cache, other bytes


def _without_the_file(path: str, data: bytes) -> dict[str, bytes]:
    return {path.rsplit("/", 1)[0] + "/header.json": b"{}"}  # the snapshot exists, the pinned file does not


def hub_cache_args(dest: Path) -> list[str]:
    """``--hub-cache <dest>/hub`` when the tamper materialised at ``dest`` published pins."""
    hub = dest / HUB
    return ["--hub-cache", str(hub)] if hub.is_dir() else []

#: name -> (what is wrong, edit of the comparison directory). Names are stable test ids.
TAMPERS: dict[str, tuple[str, Callable[[Path], None]]] = {
    # RFC-0002
    "targets-refreshed": ("probe targets re-encoded from the final global", _encode_final_targets),
    "backstop-fired-when-disabled": (
        "naive records claim the backstop fired",
        lambda c: edit_records(
            c / N, lambda r: _record(r, 1)["backstop_fired"].update({p: True for p in _record(r, 1)["participants"]})
        ),
    ),
    "backstop-flags-missing": (
        "anchored records omit backstop flags",
        lambda c: edit_records(c / A, lambda r: _record(r, 1).__setitem__("backstop_fired", {})),
    ),
    "drift-misrecorded": (
        "a recorded drift 5° off its recomputation",
        lambda c: edit_records(
            c / A,
            lambda r: _record(r, 1)["metrics"].__setitem__(
                "drift_to_reference_deg", _record(r, 1)["metrics"]["drift_to_reference_deg"] + 5.0
            ),
        ),
    ),
    "pairwise-without-pairs": (
        "pairwise drift recorded for round 0 (no participants)",
        lambda c: edit_records(
            c / A, lambda r: _record(r, 0)["metrics"].update(drift_pairwise_mean_deg=1.0, drift_pairwise_max_deg=2.0)
        ),
    ),
    "degenerate-as-zero": ("a degenerate frame recorded as 0° drift", None),  # applied to the degenerate run
    "anchored-drift-large": (
        "an anchored round records 45° drift",
        lambda c: edit_records(c / A, _set_metric(2, "drift_to_reference_deg", 45.0)),
    ),
    "rank-collapsed": (
        "an anchored round records effective rank 1",
        lambda c: edit_records(c / A, _set_metric(1, "effective_rank", 1.0)),
    ),
    "scale-collapsed": (
        "an anchored round records latent_std_mean 1e-5",
        lambda c: edit_records(c / A, _set_metric(1, "latent_std_mean", 1e-5)),
    ),
    # RFC-0003
    "foreign-tensor": ("the final global carries an action_head tensor", _add_foreign_tensor),
    "raw-data-file": (
        "the run keeps a copy of the observations",
        lambda c: (c / A / "cache").mkdir() or np.save(c / A / "cache" / "silo0.npy", np.zeros(4)),
    ),
    "round-missing": ("the last round's record is missing", lambda c: edit_records(c / A, lambda r: r.pop())),
    "below-quorum": (
        "a committed round lists fewer participants than the quorum",
        lambda c: edit_records(c / A, _below_quorum),
    ),
    "record-chain-broken": (
        "a record's parent_hash skips a round",
        lambda c: edit_records(c / A, lambda r: _record(r, 2).__setitem__("parent_hash", _record(r, 0)["global_hash"])),
    ),
    "record-wrong-control": (
        "a record names another control",
        lambda c: edit_records(c / A, lambda r: _record(r, 1).__setitem__("control", C)),
    ),
    "sketch-seeds-wrong": (
        "a sketch seed that is not derive_seed(root, 'sketch:t')",
        lambda c: edit_manifest(c / A, lambda m: m["round_sketch_seeds"].__setitem__(1, 12345)),
    ),
    # RFC-0010
    "config-hash-not-canonical": (
        "config_hash of non-canonical JSON",
        lambda c: edit_manifest(
            c / A,
            lambda m: m.__setitem__(
                "config_hash", hashlib.sha256(json.dumps(m["config"], indent=2).encode()).hexdigest()
            ),
        ),
    ),
    "config-hash-legacy": (
        "config_hash of the lensemble-spec 0.1 scheme (Python json.dumps, not RFC 8785)",
        lambda c: edit_manifest(c / A, lambda m: m.__setitem__("config_hash", legacy_config_hash(m["config"]))),
    ),
    "checkpoint-config-hash": ("a checkpoint carries another config_hash", _checkpoint_config_hash),
    "stray-file": ("an unexpected file in the run directory", lambda c: (c / A / "notes.md").write_text("hello")),
    "manifest-extra-field": (
        "manifest.json has an unknown field",
        lambda c: edit_manifest(c / A, lambda m: m.__setitem__("extra", 1)),
    ),
    "config-field-missing": ("the manifest config lacks inner_lr", lambda c: set_config(c / A, "inner_lr", _DELETE)),
    "manifest-entry-missing": ("the manifest omits a committed global", _drop_manifest_entry),
    "checkpoint-parent-broken": ("a checkpoint's parent_hash is not the previous global", _break_parent),
    "records-out-of-order": ("rounds.jsonl lines out of order", lambda c: edit_records(c / A, _swap_records)),
    "record-global-hash-wrong": (
        "a record names another checkpoint as its global",
        lambda c: edit_records(
            c / A,
            lambda r: (
                _record(r, 1).__setitem__("global_hash", OTHER_HASH),
                _record(r, 2).__setitem__("parent_hash", OTHER_HASH),
            ),
        ),
    ),
    "probe-hash-wrong": (
        "the manifest's probe_hash is not the probe file's",
        lambda c: edit_manifest(c / A, lambda m: m.__setitem__("probe_hash", OTHER_HASH)),
    ),
    "pin-branch": ("a results pin names the branch `main`", lambda c: edit_results(c, _pin("main", OTHER_HASH))),
    "pin-without-sha": ("a file pin without its sha256", lambda c: edit_results(c, _pin(REV, None))),
    "pin-cache-tampered": ("the hub cache holds other bytes under the pinned file", _publish_final_weights(_forged)),
    "pin-not-cached": (
        "the pinned file is absent from the hub cache's snapshot",
        _publish_final_weights(_without_the_file),
    ),
    # RFC-0005
    "control-missing": ("the comparison has no local-only run", lambda c: shutil.rmtree(c / L)),
    "round0-differs": ("naive-fedavg starts from another θ_0", _flip_round0),
    "budget-differs": ("naive-fedavg trains more inner steps", lambda c: set_config(c / N, "inner_steps", 3)),
    "naive-changes-more": ("naive-fedavg also changes weight_decay", lambda c: set_config(c / N, "weight_decay", 0.5)),
    "local-only-aggregates": (
        "a local-only round names a global",
        lambda c: edit_records(c / L, lambda r: _record(r, 1).__setitem__("global_hash", OTHER_HASH)),
    ),
    "centralized-partial": (
        "a centralized round lists one silo",
        lambda c: edit_records(c / C, lambda r: _record(r, 1).__setitem__("participants", ["silo0"])),
    ),
    "effective-dim-misrecorded": (
        "a recorded effective_dim off its recomputation",
        lambda c: edit_records(c / A, _set_metric(1, "effective_dim", 1.5)),
    ),
    "heldout-in-record": (
        "a round record carries val_pred",
        lambda c: edit_records(c / A, _set_metric(1, "val_pred", 0.5)),
    ),
    "rank-without-scale": (
        "a record reports rank without latent_rms",
        lambda c: edit_records(c / A, lambda r: _record(r, 1)["metrics"].pop("latent_rms")),
    ),
    "results-metric-wrong": (
        "a results row's val_pred is doubled",
        lambda c: edit_results(c, _results_metric(N, "val_pred", lambda v: 2 * v)),
    ),
    "results-series-wrong": (
        "a results series entry is off",
        lambda c: edit_results(c, _results_series(A, "effective_rank", lambda s: s[:1] + [s[1] * 0.5] + s[2:])),
    ),
    "results-non-finite": ("a results value written as 1e999 (infinity)", _nonfinite_text),
    "verdict-asserted": ("a verdict that is not the RFC-0005 §5 rule's", lambda c: edit_results(c, _other_verdict)),
    "results-schema-version": (
        "results.json schema_version 2",
        lambda c: edit_results(c, lambda d: d.__setitem__("schema_version", 2)),
    ),
    "results-key-missing": (
        "a row's metrics lack latent_dim",
        lambda c: edit_results(c, lambda d: row(d, C)["metrics"].pop("latent_dim")),
    ),
    "results-series-short": (
        "a series with one entry too few",
        lambda c: edit_results(c, _results_series(L, "drift_to_reference_deg", lambda s: s[:-1])),
    ),
}

from .planning import PLANNING_TAMPERS  # noqa: E402 — the planning record's tampers (RFC-0005 §6.2)

TAMPERS.update(PLANNING_TAMPERS)


def _degenerate_as_zero(run: Path) -> None:
    def edit(recs: list[dict]) -> None:
        for r in recs:
            r["metrics"]["drift_to_reference_deg"] = 0.0  # the flag stays: a value beside it is the defect

    edit_records(run, edit)


def materialise(name: str, pristine: tuple[Path, Path], dest: Path) -> list[Path]:
    """Copy the pristine directories to ``dest`` and apply tamper ``name``; return the --run dirs."""
    comparison, degenerate = pristine
    if name == "degenerate-as-zero":
        target = dest / "degenerate"
        shutil.copytree(degenerate, target, symlinks=True)
        _degenerate_as_zero(target)
        return [target]
    if name == "pristine-degenerate":
        target = dest / "degenerate"
        shutil.copytree(degenerate, target, symlinks=True)
        return [target]
    target = dest / "comparison"
    shutil.copytree(comparison, target, symlinks=True)
    if name != "pristine":
        TAMPERS[name][1](target)
    return [target]
