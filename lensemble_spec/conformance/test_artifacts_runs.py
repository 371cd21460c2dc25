"""RFC-0010 §4–§6 on run directories: configuration hash, layout, manifest, checkpoint chain,
round records, probe file, and the pins of results tables (their form, and with ``--hub-cache``
their offline resolution in a local Hugging Face cache).

Every check reads the files the way a third party would: bounded JSON, a hand-written
safetensors parser, the hashes of RFC-0010 §3/§4 recomputed from bytes (``conformance._oracle``).
The defects: a configuration hash that depends on key order or on where output went, checkpoints
that drift from the manifest, a broken parent chain, records or probes that do not match what
was committed, stray files, "pins" that name a moving branch, and pins whose file is missing
from the cache or holds other bytes.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from lensemble_spec.artifacts import config_hash as library_config_hash
from lensemble_spec.protocol import FederationConfig
from lensemble_spec.schemas import RoundRecord, RunManifest

from . import _oracle as oracle
from ._harness import assert_no_problems

REQUIRED_FILES = ("manifest.json", "rounds.jsonl", "probe.safetensors")
FEDERATION_FIELDS = tuple(f.name for f in dataclasses.fields(FederationConfig))
PIN_URI = re.compile(r"^hf://(models|datasets)/[^/@\s]+/[^/@\s]+@(?P<rev>[^/\s]+)(?P<path>/\S+)?$")


@pytest.mark.requirement("ART-013")
def test_manifest_config_hash_is_the_canonical_hash(runs_under_test):
    problems = []
    for view in runs_under_test:
        m = view.manifest()
        if m.get("config_hash") != oracle.config_hash(view.config()):
            problems.append(f"{view.label}: config_hash {m.get('config_hash')} != sha256(canonical config without sink paths)")
    assert_no_problems(problems, "manifest config_hash")


@pytest.mark.requirement("ART-014")
def test_every_checkpoint_carries_the_manifest_config_hash(runs_under_test):
    problems = []
    for view in runs_under_test:
        want = view.manifest().get("config_hash")
        for entry in view.checkpoint_entries():
            got = view.checkpoint(str(entry.get("path"))).header.get("config_hash")
            if got != want:
                problems.append(f"{view.label}: {entry.get('path')} has config_hash {got}, manifest {want}")
    assert_no_problems(problems, "checkpoint config_hash")


@pytest.mark.requirement("ART-015")
def test_run_directory_layout(runs_under_test):
    problems = []
    for view in runs_under_test:
        root = Path(view.root)
        for name in REQUIRED_FILES:
            if not (root / name).is_file():
                problems.append(f"{view.label}: missing {name}")
        allowed_dirs: set[str] = set()
        allowed_files = set(REQUIRED_FILES)
        for entry in view.checkpoint_entries():
            rel = str(entry.get("path"))
            if not (root / rel).is_dir():
                problems.append(f"{view.label}: listed checkpoint {rel} is not a directory")
                continue
            allowed_dirs.add(rel)
            allowed_files.update(f"{rel}/{p.name}" for p in (root / rel).iterdir())
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.is_dir():
                if rel == "logs" or any(a == rel or a.startswith(rel + "/") for a in allowed_dirs):
                    continue
                problems.append(f"{view.label}: unexpected directory {rel}")
            elif rel not in allowed_files and not (rel.startswith("logs/") and rel.endswith((".log", ".txt"))):
                problems.append(f"{view.label}: unexpected file {rel}")
    assert_no_problems(problems, "run directory layout")


@pytest.mark.requirement("ART-016")
def test_manifest_validates_and_names_the_run(runs_under_test):
    problems = []
    for view in runs_under_test:
        doc = dict(view.manifest())
        try:
            # the config hash is ART-013's business: validate the document with it corrected
            doc["config_hash"] = library_config_hash(doc.get("config", {}))
            manifest = RunManifest.model_validate(doc)
        except Exception as exc:
            problems.append(f"{view.label}: manifest.json is not a RunManifest: {exc}")
            continue
        cfg = view.config()
        if manifest.control != cfg.get("control") or manifest.root_seed != cfg.get("seed"):
            problems.append(f"{view.label}: manifest control/root_seed {manifest.control}/{manifest.root_seed} != config {cfg.get('control')}/{cfg.get('seed')}")
        if view.harness is not None and (manifest.control, manifest.root_seed) != (view.harness.config.control, view.harness.config.seed):
            problems.append(f"{view.label}: manifest names {manifest.control}/{manifest.root_seed}, the run was {view.harness.config.control}/{view.harness.config.seed}")
    assert_no_problems(problems, "manifest")


@pytest.mark.requirement("ART-017")
def test_manifest_config_holds_the_run_configuration(runs_under_test):
    problems = []
    for view in runs_under_test:
        cfg = view.config()
        missing = [f for f in FEDERATION_FIELDS if f not in cfg]
        if missing:
            problems.append(f"{view.label}: manifest config lacks {missing}")
            continue
        if not isinstance(cfg["outer"], dict) or not {"lr", "momentum", "nesterov"} <= set(cfg["outer"]):
            problems.append(f"{view.label}: manifest config `outer` is not an object with lr, momentum, nesterov")
            continue
        if view.harness is not None:
            given = dataclasses.asdict(view.harness.config)
            wrong = {k: (cfg[k], v) for k, v in given.items() if k != "outer" and cfg[k] != v}
            wrong.update({f"outer.{k}": (cfg["outer"].get(k), v) for k, v in given["outer"].items() if cfg["outer"].get(k) != v})
            if wrong:
                problems.append(f"{view.label}: manifest config differs from the run's configuration (recorded, given): {wrong}")
    assert_no_problems(problems, "manifest config")


def _expected_entries(view) -> list[tuple[int, str | None]]:
    rounds = view.rounds()
    if view.control == "local-only":
        participants = sorted(view.harness.silos) if view.harness is not None else sorted(
            {str(e.get("participant")) for e in view.checkpoint_entries() if e.get("participant") is not None}
        )
        return [(0, None)] + [(t, p) for t in range(1, rounds + 1) for p in participants]
    return [(t, None) for t in range(rounds + 1)]


@pytest.mark.requirement("ART-018")
def test_manifest_lists_every_committed_checkpoint(runs_under_test):
    problems = []
    for view in runs_under_test:
        listed = {(e.get("round_index"), e.get("participant")): e for e in view.checkpoint_entries()}
        for key in _expected_entries(view):
            entry = listed.get(key)
            who = "global" if key[1] is None else key[1]
            if entry is None:
                problems.append(f"{view.label}: no checkpoint listed for round {key[0]} ({who})")
                continue
            path = str(entry.get("path"))
            if path.startswith("/") or ".." in path.split("/"):
                problems.append(f"{view.label}: checkpoint path {path!r} is not relative")
                continue
            if view.checkpoint(path).header.get("content_hash") != entry.get("content_hash"):
                problems.append(f"{view.label}: {path}: manifest content_hash differs from the header's")
    assert_no_problems(problems, "manifest checkpoints")


@pytest.mark.requirement("ART-019")
def test_checkpoint_round_and_parent_chain(runs_under_test):
    problems = []
    for view in runs_under_test:
        entries = view.checkpoint_entries()
        by_key = {(e.get("round_index"), e.get("participant")): e for e in entries}
        root0 = by_key.get((0, None))
        for e in entries:
            header = view.checkpoint(str(e.get("path"))).header
            t, p = e.get("round_index"), e.get("participant")
            if header.get("round_index") != t:
                problems.append(f"{view.label}: {e.get('path')} header round_index {header.get('round_index')} != manifest {t}")
            if t == 0 and p is None:
                expected = None
            else:
                prev = by_key.get((t - 1, p)) if t >= 1 else None
                if prev is None and p is not None:
                    prev = root0
                expected = None if prev is None else view.checkpoint(str(prev.get("path"))).header.get("content_hash")
                if prev is None:
                    problems.append(f"{view.label}: {e.get('path')} has no previous checkpoint to chain to")
                    continue
            if header.get("parent_hash") != expected:
                problems.append(f"{view.label}: {e.get('path')} parent_hash {header.get('parent_hash')} != {expected}")
    assert_no_problems(problems, "checkpoint chain")


@pytest.mark.requirement("ART-020")
def test_rounds_file_holds_valid_records_in_order(runs_under_test):
    problems = []
    for view in runs_under_test:
        run_id = view.manifest().get("run_id")
        previous = -1
        for i, rec in enumerate(view.records()):
            try:
                RoundRecord.model_validate(rec)
            except Exception as exc:
                problems.append(f"{view.label}: rounds.jsonl line {i + 1} is not a RoundRecord: {exc}")
                continue
            if rec.get("round_index", -1) <= previous:
                problems.append(f"{view.label}: rounds.jsonl line {i + 1} is out of order")
            previous = rec.get("round_index", previous)
            if rec.get("run_id") != run_id:
                problems.append(f"{view.label}: rounds.jsonl line {i + 1} run_id {rec.get('run_id')!r} != manifest {run_id!r}")
    assert_no_problems(problems, "rounds.jsonl")


@pytest.mark.requirement("ART-021")
def test_record_global_hash_is_the_committed_checkpoint(runs_under_test):
    problems = []
    for view in runs_under_test:
        for rec in view.records():
            t = rec.get("round_index")
            entry = view.global_entry(t)
            expected = None if entry is None else view.checkpoint(str(entry.get("path"))).header.get("content_hash")
            if rec.get("global_hash") != expected:
                problems.append(f"{view.label}: round {t} global_hash {rec.get('global_hash')} != checkpoint {expected}")
    assert_no_problems(problems, "record global_hash")


@pytest.mark.requirement("ART-022")
def test_probe_file_matches_the_manifest(runs_under_test):
    problems = []
    for view in runs_under_test:
        points, targets = view.probe_points(), view.probe_targets()
        if oracle.probe_hash(view.probe()["points"]) != view.manifest().get("probe_hash"):
            problems.append(f"{view.label}: probe_hash(points) != manifest probe_hash")
        if targets.ndim != 2 or targets.shape[0] != points.shape[0]:
            problems.append(f"{view.label}: targets have shape {targets.shape}, expected ({points.shape[0]}, d)")
        if view.harness is not None and not oracle.bitwise_equal(view.probe()["points"], view.harness.probe.points):
            problems.append(f"{view.label}: probe points are not the probe the run was given")
    assert_no_problems(problems, "probe file")


# --- §6 pins (in results tables of comparison directories given with --run) ---------------------------
def _pins(results_tables) -> list[tuple[str, dict]]:
    out = []
    for path, _members in results_tables:
        doc = oracle_json(Path(path) / "results.json")
        for row in doc.get("controls", []) if isinstance(doc, dict) else []:
            out.extend((f"{path}:{row.get('control')}", pin) for pin in row.get("pins", []) or [])
    return out


def oracle_json(path: Path):
    from lensemble_spec.artifacts import load_json_file

    return load_json_file(path)


@pytest.mark.requirement("ART-023")
def test_pins_name_full_commits(results_tables):
    pins = _pins(results_tables)
    if not pins:
        pytest.skip("no pins in the results tables given")
    problems = []
    for where, pin in pins:
        m = PIN_URI.match(str(pin.get("uri", "")))
        if not m or not re.fullmatch(r"[0-9a-f]{40}", m.group("rev")):
            problems.append(f"{where}: pin {pin.get('uri')!r} does not name a full 40-hex commit")
    assert_no_problems(problems, "pins")


@pytest.mark.requirement("ART-024")
def test_file_pins_carry_a_sha256(results_tables):
    pins = _pins(results_tables)
    if not pins:
        pytest.skip("no pins in the results tables given")
    problems = []
    for where, pin in pins:
        m = PIN_URI.match(str(pin.get("uri", "")))
        if m and m.group("path") and not re.fullmatch(r"[0-9a-f]{64}", str(pin.get("sha256") or "")):
            problems.append(f"{where}: pin {pin.get('uri')!r} names a file but carries no sha256")
    assert_no_problems(problems, "pins")


class _NetworkAttempt:
    """Socket entry points that record the call and refuse it (installed only while resolving)."""

    def __init__(self) -> None:
        self.current = ""
        self.attempts: list[str] = []

    def refuse(self, what: str, address_at: int):
        """A replacement for ``what`` whose positional argument ``address_at`` is the address."""

        def blocked(*args, **kwargs):
            address = args[address_at] if len(args) > address_at else kwargs
            self.attempts.append(f"{self.current}: {what}({address!r})")
            raise OSError(f"network access during pin verification ({what}) is blocked by the conformance suite")

        return blocked


@pytest.mark.requirement("ART-025")
def test_pins_resolve_from_the_local_cache_alone(results_tables, hub_cache_dir, monkeypatch):
    """Every pin resolves in the ``--hub-cache`` directory alone, offline, to the pinned bytes.

    Resolution is the library's (``lensemble_spec.artifacts.pins.resolve_pin``, the one
    ``lensemble-spec verify`` uses): the file must sit at ``snapshots/<revision>/<path>`` of the
    pinned repository, inside that repository's cache, and its sha256 must equal the pin's (the
    bytes are hashed again here with ``hashlib``). Sockets are blocked while resolving: a connect,
    ``create_connection`` or name lookup fails the test. Pins that do not parse are ART-023's
    failure and are not resolved; a file pin without a sha256 is still resolved, its missing
    hash being ART-024's failure.

    Defects: a pinned file absent from the cache (``PinUnresolved``), cached bytes that differ
    from the pin (``CheckpointIntegrityError``), a snapshot entry resolving outside the
    repository cache (``PathEscape``), and verification that reaches for the network.
    """
    import hashlib
    import os
    import socket

    from lensemble_spec.artifacts.pins import parse_pin, resolve_pin
    from lensemble_spec.errors import LensembleError, PinError

    pins = _pins(results_tables)
    if not pins:
        pytest.skip("no pins in the results tables given")
    if hub_cache_dir is None:
        pytest.skip("no hub cache given: pass --hub-cache DIR to resolve the results tables' pins offline")
    parsed = []
    for where, raw in pins:
        try:
            parsed.append((where, parse_pin(raw)))
        except PinError:
            continue  # malformed: ART-023 / ART-024 report it
    if not parsed:
        pytest.skip("no well-formed pin to resolve (the malformed ones fail ART-023/ART-024)")

    net = _NetworkAttempt()
    problems = []
    with monkeypatch.context() as mp:
        mp.setattr(socket.socket, "connect", net.refuse("socket.connect", 1))  # (self, address)
        mp.setattr(socket.socket, "connect_ex", net.refuse("socket.connect_ex", 1))
        mp.setattr(socket, "create_connection", net.refuse("socket.create_connection", 0))
        mp.setattr(socket, "getaddrinfo", net.refuse("socket.getaddrinfo", 0))  # (host, port, ...)
        for where, pin in parsed:
            net.current = f"{where}: {pin.uri}"
            try:
                resolved = resolve_pin(pin, cache_dir=hub_cache_dir)
            except LensembleError as exc:
                problems.append(f"{where}: pin {pin.uri} [{exc.code.value}] {exc.message}")
                continue
            except Exception as exc:  # noqa: BLE001 - anything else is a failed resolution too
                problems.append(f"{where}: pin {pin.uri}: {type(exc).__name__}: {exc}")
                continue
            if pin.sha256 is not None and pin.path is not None:
                (entry,) = resolved.files
                with open(os.path.realpath(entry.local_path), "rb") as fh:
                    digest = hashlib.file_digest(fh, "sha256").hexdigest()
                if digest != pin.sha256:
                    problems.append(f"{where}: pin {pin.uri}: cached bytes have sha256 {digest}, the pin says {pin.sha256}")
    problems += [f"network access attempted while resolving {a}" for a in net.attempts]
    assert_no_problems(problems, f"pins resolved in {hub_cache_dir}")
