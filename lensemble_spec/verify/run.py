"""Verify one run directory from its files alone (RFC-0010 §2–§8, RFC-0002 §4/§6/§8, RFC-0005 §4.1).

Checks, in order; every finding names the requirement it checks, and a check whose
prerequisite failed is reported as ``skip``:

0. a run a writer marked partial (no manifest, ``resume/state.json`` or a ``.partial`` name) is
   reported as incomplete, with its last committed round and the resume command (ART-015);
1. layout: the files a run may hold and nothing else (ART-015);
2. ``manifest.json``: bounded JSON (ART-027/028), ``config_hash`` re-hashes (ART-013), RunManifest
   schema with non-empty ``data_roots``, ``round_sketch_seeds``, ``split_policy``, ``versions``
   (ART-016, ART-029), control and seed agree with the config, the config holds every
   ``FederationConfig`` field (ART-017), ``hf://`` data roots are pins (ART-023–025);
3. each listed checkpoint: confined path (ART-026), only ``header.json`` and its weight files
   (ART-001), no pickle-capable file (ART-003), header schema (ART-004), content hash recomputed
   (ART-007), listed with that hash (ART-018), config hash (ART-014), round index and parent chain
   (ART-019); the manifest lists the round-0 global and every committed model (ART-018);
4. ``rounds.jsonl``: RoundRecord lines in order with the run's id (ART-020), one per round
   0…R with no gap and none missing beside a checkpoint (FED-009), the parent chain through the
   records (FED-013), the manifest's sketch seeds (FED-026), ``global_hash`` is the
   round's committed checkpoint (ART-021), held-out metrics left null (EVAL-008), rank reported
   with scale (EVAL-009), backstop flags (GAUGE-031), pairwise drift null below two participants
   (GAUGE-034), anchored-run bounds (GAUGE-040–042);
5. ``probe.safetensors``: points hash to the manifest's probe hash, targets are ``(k, d)`` (ART-022);
6. with an implementation's model part: the targets are the round-0 encoder on the points
   (GAUGE-024), and each record's collapse metrics (EVAL-007), drift to the reference (GAUGE-033),
   pairwise drift of local-only participants (GAUGE-034) and degenerate flags (GAUGE-035) are
   recomputed from the round's checkpoints within the RFC tolerances.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts.canonical import config_hash as compute_config_hash
from ..artifacts.checkpoint import PICKLE_LIKE_SUFFIXES, load_checkpoint
from ..artifacts.hashing import probe_hash
from ..artifacts.paths import confine
from ..artifacts.reading import is_directory
from ..errors import (
    ArtifactError,
    CheckpointIntegrityError,
    LensembleError,
    PathEscape,
    PinError,
    SchemaVersionMismatch,
)
from ..protocol import FederationConfig, OuterConfig
from ..schemas import CheckpointHeader, RoundRecord, RunManifest, load_document
from . import files
from .recompute import record_metrics
from .report import VerificationReport
from .tolerances import tolerances

HELDOUT_RECORD_KEYS = ("val_pred", "val_pred_identity", "skill_vs_identity", "state_probe_r2")
#: Manifest fields the RFCs give content to, so an empty list / object / null is not a record of
#: anything: the data provenance (RFC-0010 §5), the per-round sketch seeds (RFC-0003 §6, FED-026),
#: the split (RFC-0005 §3) and the software versions.
REQUIRED_NONEMPTY = ("data_roots", "round_sketch_seeds", "split_policy", "versions")
#: Controls whose every round commits a global model (the record chain runs through them).
WITH_GLOBAL = ("anchored", "naive-fedavg", "centralized")


@dataclass
class LoadedCheckpoint:
    round_index: int
    path: str
    participant: str | None
    listed_hash: str
    header: CheckpointHeader | None = None
    tensors: dict[str, np.ndarray] | None = None


@dataclass
class RunData:
    """What a verified run directory holds (fields are None where a check failed)."""

    root: Path
    raw_manifest: dict[str, Any] | None = None
    manifest: RunManifest | None = None
    checkpoints: list[LoadedCheckpoint] = field(default_factory=list)
    records: list[RoundRecord] | None = None
    probe: dict[str, np.ndarray] | None = None

    @property
    def control(self) -> str | None:
        return self.manifest.control if self.manifest else None

    def global_at(self, r: int) -> LoadedCheckpoint | None:
        for c in self.checkpoints:
            if c.participant is None and c.round_index == r and c.tensors is not None:
                return c
        return None

    def participants_at(self, r: int) -> dict[str, LoadedCheckpoint]:
        return {c.participant: c for c in self.checkpoints if c.participant is not None and c.round_index == r and c.tensors is not None}

    def models_at(self, r: int) -> tuple[dict[str, Mapping[str, Any]], bool] | None:
        """The round-``r`` model(s) and whether they are participants (local-only) — None if missing."""
        g = self.global_at(r)
        if g is not None and g.tensors is not None:
            return {"global": g.tensors}, False
        parts = self.participants_at(r)
        if parts:
            return {p: c.tensors for p, c in parts.items() if c.tensors is not None}, True
        return None

    @property
    def last_round(self) -> int | None:
        return self.records[-1].round_index if self.records else None

    @property
    def final_round(self) -> int | None:
        """The run's last round: its configured ``rounds`` (a missing last record is FED-009's
        failure, not the results table's), else the last record's round."""
        rounds = self.manifest.config.get("rounds") if self.manifest is not None else None
        return rounds if isinstance(rounds, int) and not isinstance(rounds, bool) and rounds >= 0 else self.last_round

    @property
    def latent_dim(self) -> int | None:
        t = (self.probe or {}).get("targets")
        return int(t.shape[1]) if t is not None and t.ndim == 2 else None


def _is_bounds(exc: LensembleError) -> bool:
    return "-byte limit" in exc.message or "levels deep" in exc.message


def _is_literal(exc: LensembleError) -> bool:
    return "non-finite number literal" in exc.message or "duplicate key" in exc.message


class RunVerifier:
    def __init__(self, root: Path, report: VerificationReport, model: Any = None, hub_cache: Path | None = None) -> None:
        self.root = root
        self.report = report
        self.model = model
        self.hub_cache = hub_cache
        self.tol = tolerances()
        self.data = RunData(root)
        self.prefix = ""

    # --- findings -----------------------------------------------------------------------------
    def _subject(self, subject: str) -> str:
        return f"{self.prefix}{subject}"

    def ok(self, req: str, check: str, subject: str, message: str = "ok") -> None:
        self.report.passed(req, check, self._subject(subject), message)

    def fail(self, req: str, check: str, subject: str, message: str) -> None:
        self.report.failed(req, check, self._subject(subject), message)

    def skip(self, req: str, check: str, subject: str, message: str) -> None:
        self.report.skipped(req, check, self._subject(subject), message)

    def fail_load(self, exc: LensembleError, req: str, check: str, subject: str) -> None:
        """File a reading error under the requirement its kind belongs to."""
        if isinstance(exc, PathEscape):
            self.fail("ART-026", "path-confinement", subject, exc.message)
        elif isinstance(exc, SchemaVersionMismatch):
            self.fail("ART-029", "schema-version", subject, exc.message)
        elif isinstance(exc, PinError):
            self.fail("ART-023", "pin-format", subject, exc.message)
        elif _is_bounds(exc):
            self.fail("ART-027", "json-bounds", subject, exc.message)
        elif _is_literal(exc):
            self.fail("ART-028", "json-literals", subject, exc.message)
        else:
            self.fail(req, check, subject, exc.message)

    # --- 1. layout ----------------------------------------------------------------------------
    def check_layout(self) -> None:
        missing = [n for n in (files.MANIFEST_FILE, files.ROUNDS_FILE, files.PROBE_FILE) if not files.exists(self.root, n)]
        listed = [c.path for c in self.data.checkpoints]
        extra = files.unexpected_entries(self.root, listed)
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if extra:
            problems.append(f"unexpected entries {', '.join(extra[:8])}" + (" …" if len(extra) > 8 else ""))
        if problems:
            self.fail("ART-015", "run-layout", ".", "; ".join(problems))
        else:
            self.ok("ART-015", "run-layout", ".", "manifest, rounds, probe and listed checkpoints only")

    # --- 2. manifest --------------------------------------------------------------------------
    def check_manifest(self) -> None:
        subject = files.MANIFEST_FILE
        try:
            raw = files.read_json(self.root, subject)
        except LensembleError as exc:
            self.fail_load(exc, "ART-016", "manifest-schema", subject)
            return
        if not isinstance(raw, dict):
            self.fail("ART-016", "manifest-schema", subject, "manifest is not a JSON object")
            return
        self.data.raw_manifest = raw
        doc = dict(raw)
        config = raw.get("config")
        if isinstance(config, dict):
            try:
                recomputed = compute_config_hash(config)
            except LensembleError as exc:
                self.fail("ART-013", "config-hash", subject, f"config cannot be hashed: {exc.message}")
            else:
                if recomputed == raw.get("config_hash"):
                    self.ok("ART-013", "config-hash", subject, f"config re-hashes to {recomputed[:12]}…")
                else:
                    from ..artifacts.canonical import legacy_config_hash

                    legacy = raw.get("config_hash") == legacy_config_hash(config)
                    why = " (the lensemble-spec 0.1 scheme: re-run the configuration for RFC 8785 hashes, RFC-0010 §4.3)" if legacy else ""
                    self.fail("ART-013", "config-hash", subject, f"config_hash {raw.get('config_hash')!r} != recomputed {recomputed}{why}")
                    doc["config_hash"] = recomputed  # keep validating the rest of the manifest
        roots = raw.get("data_roots")
        for i, entry in enumerate(roots if isinstance(roots, list) else []):
            if isinstance(entry, str) and entry.startswith("hf://"):
                self.check_pin(entry, f"{subject}:data_roots[{i}]")
        try:
            manifest = load_document(RunManifest, doc)
        except LensembleError as exc:
            self.fail_load(exc, "ART-016", "manifest-schema", subject)
            return
        self.data.manifest = manifest
        cfg = manifest.config
        mismatch = [
            f"{key} {getattr(manifest, attr)!r} vs config {cfg[key]!r}"
            for key, attr in (("control", "control"), ("seed", "root_seed"))
            if key in cfg and cfg[key] != getattr(manifest, attr)
        ]
        empty = [name for name in REQUIRED_NONEMPTY if not getattr(manifest, name)]
        if mismatch:
            self.fail("ART-016", "manifest-schema", subject, "manifest disagrees with its config: " + "; ".join(mismatch))
        elif empty:
            self.fail("ART-016", "manifest-schema", subject, f"RFC-required field(s) empty or null: {', '.join(empty)}")
        else:
            self.ok("ART-016", "manifest-schema", subject, f"RunManifest v{manifest.schema_version}, {len(manifest.checkpoints)} checkpoints")
        need = [f.name for f in dataclasses.fields(FederationConfig)]
        missing = [k for k in need if k not in cfg]
        outer = cfg.get("outer")
        if "outer" in cfg and not (isinstance(outer, dict) and all(f.name in outer for f in dataclasses.fields(OuterConfig))):
            missing.append("outer.{lr,momentum,nesterov} (as a nested object)")
        if missing:
            self.fail("ART-017", "manifest-config", subject, f"config lacks FederationConfig fields: {', '.join(missing)}")
        else:
            self.ok("ART-017", "manifest-config", subject, "config holds every FederationConfig field")

    # --- pins -----------------------------------------------------------------------------------
    def check_pin(self, value: Any, subject: str) -> None:
        check_pin(value, subject, hub_cache=self.hub_cache, ok=self.ok, fail=self.fail, skip=self.skip)

    # --- 3. checkpoints -----------------------------------------------------------------------
    def check_checkpoints(self) -> None:
        manifest = self.data.manifest
        assert manifest is not None
        for ref in manifest.checkpoints:
            ck = LoadedCheckpoint(ref.round_index, ref.path, ref.participant, ref.content_hash)
            self.data.checkpoints.append(ck)
            self._load_checkpoint(ck)
        self._check_chain()
        self._check_listing()

    def _load_checkpoint(self, ck: LoadedCheckpoint) -> None:
        subject = ck.path
        try:
            directory = confine(self.root, ck.path)
        except LensembleError as exc:
            self.fail_load(exc, "ART-018", "manifest-checkpoints", subject)
            return
        if not is_directory(directory):
            self.fail("ART-018", "manifest-checkpoints", subject, "listed checkpoint directory is missing")
            return
        try:
            entries = sorted(os.listdir(directory))
        except OSError as exc:
            self.fail("ART-001", "checkpoint-layout", subject, f"cannot list the checkpoint directory: {exc.strerror or exc}")
            return
        pickles = [e for e in entries if os.path.splitext(e)[1].lower() in PICKLE_LIKE_SUFFIXES]
        if pickles:
            self.fail("ART-003", "weights-format", subject, f"pickle-capable file(s) {pickles}: refused unread")
            return
        try:
            tensors, header = load_checkpoint(directory)
        except CheckpointIntegrityError as exc:
            if "expected" in exc.details:
                self.fail("ART-007", "content-hash", subject, exc.message)
            elif "unexpected entry" in exc.message:
                self.fail("ART-001", "checkpoint-layout", subject, exc.message)
            elif "manifest" in exc.message:
                self.fail("ART-004", "header-schema", subject, exc.message)
            else:
                self.fail("ART-003", "weights-format", subject, exc.message)
            return
        except LensembleError as exc:
            self.fail_load(exc, "ART-004", "header-schema", subject)
            return
        ck.header, ck.tensors = header, tensors
        self.ok("ART-001", "checkpoint-layout", subject, f"header.json + {len(header.weight_files)} safetensors file(s)")
        self.ok("ART-004", "header-schema", subject, f"CheckpointHeader v{header.schema_version}, {len(tensors)} tensors as listed")
        self.ok("ART-007", "content-hash", subject, f"recomputed {header.content_hash[:12]}… from the tensors")
        if header.content_hash != ck.listed_hash:
            self.fail("ART-018", "manifest-checkpoints", subject, f"manifest lists {ck.listed_hash}, the checkpoint is {header.content_hash}")
        claimed = self.data.raw_manifest.get("config_hash") if self.data.raw_manifest else None
        if header.config_hash != claimed:
            self.fail("ART-014", "checkpoint-config", subject, f"header config_hash {header.config_hash} != manifest's {claimed}")
        else:
            self.ok("ART-014", "checkpoint-config", subject, "carries the manifest's config_hash")

    def _check_chain(self) -> None:
        """ART-019: each model's checkpoints chain to its previous one; a participant's first to θ_0."""
        def identity(c: LoadedCheckpoint) -> str:
            # A checkpoint that failed to load is already a finding; chain to what the manifest lists.
            return c.header.content_hash if c.header is not None else c.listed_hash

        round0 = next((c for c in self.data.checkpoints if c.participant is None and c.round_index == 0), None)
        round0_hash = identity(round0) if round0 is not None else None
        groups: dict[str | None, list[LoadedCheckpoint]] = {}
        for c in self.data.checkpoints:
            groups.setdefault(c.participant, []).append(c)
        for participant, chain in sorted(groups.items(), key=lambda kv: kv[0] or ""):
            previous: LoadedCheckpoint | None = None
            for ck in sorted(chain, key=lambda c: c.round_index):
                if ck.header is None:
                    previous = ck
                    continue
                problems = []
                if ck.header.round_index != ck.round_index:
                    problems.append(f"header round_index {ck.header.round_index} != manifest's {ck.round_index}")
                if previous is not None:
                    want, what = identity(previous), f"its round-{previous.round_index} checkpoint"
                elif participant is not None:
                    want, what = round0_hash, "the round-0 global"
                elif ck.round_index == 0:
                    want, what = None, "null (round-0 global)"
                else:
                    want, what = "", f"the round-{ck.round_index - 1} global, which is not listed"
                if ck.header.parent_hash != want:
                    problems.append(f"parent_hash {ck.header.parent_hash} but the parent must be {what} ({want})")
                if problems:
                    self.fail("ART-019", "parent-chain", ck.path, "; ".join(problems))
                else:
                    self.ok("ART-019", "parent-chain", ck.path, f"parent is {what}")
                previous = ck

    def _check_listing(self) -> None:
        """The manifest lists the round-0 global (ART-018); per-round coverage is checked with the records."""
        has_round0 = any(c.participant is None and c.round_index == 0 for c in self.data.checkpoints)
        if has_round0:
            self.ok("ART-018", "manifest-checkpoints", files.MANIFEST_FILE, "lists the round-0 global θ_0")
        else:
            self.fail("ART-018", "manifest-checkpoints", files.MANIFEST_FILE, "does not list a round-0 global checkpoint")

    # --- 4. records ---------------------------------------------------------------------------
    def check_records(self) -> None:
        rel = files.ROUNDS_FILE
        if not files.exists(self.root, rel):
            self.fail("ART-020", "rounds", rel, "no rounds file")
            return
        try:
            lines = files.read_jsonl(self.root, rel)
        except LensembleError as exc:
            self.fail_load(exc, "ART-020", "rounds", rel)
            return
        records: list[RoundRecord] = []
        for i, line in enumerate(lines):
            try:
                if not isinstance(line, Mapping):
                    raise ArtifactError(f"line {i + 1} is not a JSON object")
                records.append(load_document(RoundRecord, line))
            except LensembleError as exc:
                self.fail_load(exc, "ART-020", "rounds", f"{rel}:{i + 1}")
                return
        if not records:
            self.fail("ART-020", "rounds", rel, "no round records")
            return
        manifest = self.data.manifest
        assert manifest is not None
        problems = []
        for i, rec in enumerate(records):
            if rec.run_id != manifest.run_id or rec.control != manifest.control:
                problems.append(f"line {i + 1} is {rec.run_id}/{rec.control}, the manifest's run is {manifest.run_id}/{manifest.control}")
            if i and rec.round_index <= records[i - 1].round_index:
                problems.append(f"line {i + 1}: round_index {rec.round_index} does not increase")
        # FED-009 and FED-013 are judged on the parsed records even when ART-020 fails (a swapped
        # pair breaks all three); the per-record checks below need an intact sequence.
        self._check_contiguous(rel, records, manifest)
        self._check_record_chain(rel, records, manifest.control)
        if problems:
            self.fail("ART-020", "rounds", rel, _first(problems))
            return
        self.data.records = records
        self.ok("ART-020", "rounds", rel, f"{len(records)} RoundRecord lines in order")
        configured = manifest.config.get("rounds")  # a missing record is FED-009's failure, not FED-026's
        last = configured if isinstance(configured, int) and not isinstance(configured, bool) and configured >= 0 else records[-1].round_index
        self._check_sketch_seeds(manifest, last)
        for rec in records:
            self._check_record(rec)

    def _check_contiguous(self, rel: str, records: list[RoundRecord], manifest: RunManifest) -> None:
        """FED-009: one record per round 0…R, no gaps, R the configured rounds; no checkpoint of a
        round without a record (a deleted line must not hide a round)."""
        problems = [f"line {i + 1} is round {rec.round_index}, expected {i}" for i, rec in enumerate(records) if rec.round_index != i]
        last = max(rec.round_index for rec in records)
        configured = manifest.config.get("rounds")
        if isinstance(configured, int) and not isinstance(configured, bool) and configured != last:
            problems.append(f"the last record is round {last}, the config says rounds = {configured}")
        beyond = sorted({c.round_index for c in self.data.checkpoints if c.round_index > last})
        if beyond:
            problems.append(f"the manifest lists checkpoints of round(s) {beyond[:5]} with no record")
        if problems:
            self.fail("FED-009", "rounds-contiguous", rel, _first(problems))
        else:
            self.ok("FED-009", "rounds-contiguous", rel, f"one record per round 0…{last}")

    def _check_record_chain(self, rel: str, records: list[RoundRecord], control: str) -> None:
        """FED-013: record 0 has no parent; a record of a round with a global names the previous
        round's global. A record without a global (local-only) names null or the last global."""
        problems = []
        last_global: str | None = None
        for i, rec in enumerate(records):
            line = f"line {i + 1}"
            if i == 0:
                if rec.parent_hash is not None:
                    problems.append(f"{line}: round 0 names parent {rec.parent_hash}; it has none")
            elif control == "local-only":  # no global, no chain; a global named here is ART-021's finding
                if rec.parent_hash is not None and rec.parent_hash != last_global:
                    problems.append(f"{line}: parent_hash {rec.parent_hash} is neither null nor the last global {last_global}")
            elif rec.global_hash is not None or control in WITH_GLOBAL:
                if rec.parent_hash is None or rec.parent_hash != records[i - 1].global_hash:
                    problems.append(f"{line}: parent_hash {rec.parent_hash} is not the previous record's global {records[i - 1].global_hash}")
            elif rec.parent_hash is not None and rec.parent_hash != last_global:
                problems.append(f"{line}: parent_hash {rec.parent_hash} is neither null nor the last global {last_global}")
            if rec.global_hash is not None:
                last_global = rec.global_hash
        if problems:
            self.fail("FED-013", "record-chain", rel, _first(problems))
        else:
            self.ok("FED-013", "record-chain", rel, "each record's parent_hash is the previous round's global")

    def _check_sketch_seeds(self, manifest: RunManifest, last_round: int) -> None:
        """FED-026: ``round_sketch_seeds[t] = derive_seed(root_seed, "sketch:t")`` for t = 0…R."""
        from ..metrics import derive_seed

        expected = [derive_seed(manifest.root_seed, f"sketch:{t}") for t in range(last_round + 1)]
        got = list(manifest.round_sketch_seeds)
        if got == expected:
            self.ok("FED-026", "sketch-seeds", files.MANIFEST_FILE, f"round_sketch_seeds are derive_seed(root_seed, 'sketch:t') for t = 0…{last_round}")
        else:
            bad = [t for t in range(max(len(got), len(expected))) if t >= len(got) or t >= len(expected) or got[t] != expected[t]]
            self.fail("FED-026", "sketch-seeds", files.MANIFEST_FILE, f"{len(got)} seed(s) for {last_round + 1} round(s); wrong or missing at t = {bad[:5]}")

    def _check_record(self, rec: RoundRecord) -> None:
        where = f"round-{rec.round_index:04d}"
        g = next((c for c in self.data.checkpoints if c.participant is None and c.round_index == rec.round_index), None)
        committed = (g.header.content_hash if g.header is not None else g.listed_hash) if g is not None else None
        if rec.global_hash is None and committed is None:
            self.ok("ART-021", "record-global", where, "no global model this round")
        elif rec.global_hash == committed:
            self.ok("ART-021", "record-global", where, "global_hash is the committed checkpoint")
        else:
            self.fail("ART-021", "record-global", where, f"global_hash {rec.global_hash} but the round's global checkpoint is {committed}")
            if committed is None and rec.global_hash is not None and self._unlisted_global(rec.round_index, rec.global_hash):
                self.fail("ART-018", "manifest-checkpoints", where, f"global {rec.global_hash} of round {rec.round_index} is committed on disk but not listed in the manifest")
        if rec.global_hash is None and rec.round_index > 0:
            listed = {c.participant for c in self.data.checkpoints if c.participant is not None and c.round_index == rec.round_index}
            missing = sorted(set(rec.participants) - listed)
            if missing or not rec.participants:
                self.fail("ART-018", "manifest-checkpoints", where, f"no global and no checkpoint for participant(s) {missing or '(none listed)'}")
            else:
                self.ok("ART-018", "manifest-checkpoints", where, f"{len(listed)} participant checkpoints listed")
        m = rec.metrics
        leaked = [k for k in HELDOUT_RECORD_KEYS if getattr(m, k) is not None]
        if leaked:
            self.fail("EVAL-008", "record-heldout", where, f"round record carries held-out metrics {leaked}; a run never sees the held-out split")
        else:
            self.ok("EVAL-008", "record-heldout", where, "held-out metrics left null")
        if (m.effective_rank is not None or m.effective_dim is not None) and (m.latent_std_mean is None or m.latent_rms is None):
            self.fail("EVAL-009", "rank-with-scale", where, "reports a rank without latent_std_mean and latent_rms")
        elif m.effective_rank is not None or m.effective_dim is not None:
            self.ok("EVAL-009", "rank-with-scale", where, "rank reported with both scale metrics")
        cfg = self.data.manifest.config if self.data.manifest else {}
        if cfg.get("backstop") is False:
            fired = sorted(p for p, f in rec.backstop_fired.items() if f)
            if fired:
                self.fail("GAUGE-031", "backstop-off", where, f"backstop disabled but fired for {fired}")
            else:
                self.ok("GAUGE-031", "backstop-off", where, "backstop disabled, never fired")
        if len(rec.participants) < 2 and (m.drift_pairwise_mean_deg is not None or m.drift_pairwise_max_deg is not None):
            self.fail("GAUGE-034", "pairwise-drift", where, f"pairwise drift reported with {len(rec.participants)} participant(s)")
        if self.data.control == "anchored":
            self._check_anchored_bounds(where, m)

    def _unlisted_global(self, round_index: int, content_hash: str) -> bool:
        """A checkpoint at the RFC-0010 §5 path of round ``t``'s global whose header names
        ``content_hash`` exists although the manifest does not list it."""
        try:
            header = files.read_json(self.root, f"checkpoints/round-{round_index:04d}/header.json")
        except (LensembleError, OSError):
            return False
        return isinstance(header, dict) and header.get("content_hash") == content_hash

    def _check_anchored_bounds(self, where: str, m: Any) -> None:
        t = self.tol
        if m.drift_to_reference_deg is None or m.drift_degenerate:
            self.fail("GAUGE-040", "anchored-drift", where, "anchored run records no (or a degenerate) drift to the reference")
        elif m.drift_to_reference_deg > t.max_drift_deg:
            self.fail("GAUGE-040", "anchored-drift", where, f"drift {m.drift_to_reference_deg:.3f}° > {t.max_drift_deg}°")
        else:
            self.ok("GAUGE-040", "anchored-drift", where, f"drift {m.drift_to_reference_deg:.3f}° <= {t.max_drift_deg}°")
        points, d = (self.data.probe or {}).get("points"), self.data.latent_dim
        if points is not None and d is not None:
            floor = t.min_rank_fraction * min(d, points.shape[0] - 1)
            if m.effective_rank is None or m.effective_rank < floor:
                self.fail("GAUGE-041", "anchored-rank", where, f"effective_rank {m.effective_rank} < {floor:.3g}")
            else:
                self.ok("GAUGE-041", "anchored-rank", where, f"effective_rank {m.effective_rank:.4g} >= {floor:.3g}")
        if m.latent_std_mean is None or m.latent_std_mean < t.min_latent_std:
            self.fail("GAUGE-042", "anchored-scale", where, f"latent_std_mean {m.latent_std_mean} < {t.min_latent_std}")
        else:
            self.ok("GAUGE-042", "anchored-scale", where, f"latent_std_mean {m.latent_std_mean:.4g} >= {t.min_latent_std}")

    # --- 5. probe -----------------------------------------------------------------------------
    def check_probe(self) -> None:
        subject = files.PROBE_FILE
        manifest = self.data.manifest
        assert manifest is not None
        try:
            tensors = files.read_tensors(self.root, subject)
        except LensembleError as exc:
            self.fail_load(exc, "ART-022", "probe", subject)
            return
        points, targets = tensors.get("points"), tensors.get("targets")
        if points is None or targets is None:
            self.fail("ART-022", "probe", subject, f"needs 'points' and 'targets' (has {sorted(tensors)[:8]})")
            return
        if points.ndim < 1 or points.shape[0] < 1 or targets.ndim != 2:
            self.fail("ART-022", "probe", subject, f"points {list(points.shape)} / targets {list(targets.shape)}: need (k, …) points and (k, d) targets")
            return
        try:
            got = probe_hash(points)
        except LensembleError as exc:
            self.fail("ART-022", "probe", subject, f"points cannot be hashed: {exc.message}")
            return
        if got != manifest.probe_hash:
            self.fail("ART-022", "probe", subject, f"probe_hash(points) = {got}, the manifest pins {manifest.probe_hash}")
            return
        if targets.ndim != 2 or targets.shape[0] != points.shape[0]:
            self.fail("ART-022", "probe", subject, f"targets {list(targets.shape)} are not (k={points.shape[0]}, d)")
            return
        self.data.probe = tensors
        self.ok("ART-022", "probe", subject, f"points {list(points.shape)} hash to the manifest's probe_hash; targets {list(targets.shape)}")

    # --- 6. recomputation ---------------------------------------------------------------------
    def check_recompute(self) -> None:
        data = self.data
        if data.probe is None or data.records is None:
            return
        if self.model is None:
            self.skip("EVAL-007", "record-recompute", "rounds", "no implementation given: recorded metrics not recomputed (pass --impl)")
            return
        points, targets = data.probe["points"], data.probe["targets"]
        self._check_targets(points, targets)
        for rec in data.records:
            where = f"round-{rec.round_index:04d}"
            found = data.models_at(rec.round_index)
            if found is None:
                self.skip("EVAL-007", "record-recompute", where, "no verified checkpoint for this round")
                continue
            models, are_participants = found
            try:
                got = record_metrics(self.model, models, points=points, targets=targets, pairwise=are_participants)
            except Exception as exc:  # noqa: BLE001 — the implementation's own failure is a finding
                self.fail("EVAL-007", "record-recompute", where, f"the implementation failed to encode: {type(exc).__name__}: {exc}")
                continue
            self._compare_record(where, rec, got, are_participants)

    def _compare_record(self, where: str, rec: RoundRecord, got: Mapping[str, Any], are_participants: bool) -> None:
        m = rec.metrics
        for key in ("effective_rank", "effective_dim", "latent_std_mean", "latent_rms"):
            self._compare("EVAL-007", "record-recompute", f"{where}.{key}", getattr(m, key), got.get(key), key)
        key = "drift_to_reference_deg"
        self._compare("GAUGE-033", "record-drift", f"{where}.{key}", m.drift_to_reference_deg, got.get(key), key)
        if are_participants:
            for key in ("drift_pairwise_mean_deg", "drift_pairwise_max_deg"):
                self._compare("GAUGE-034", "pairwise-drift", f"{where}.{key}", getattr(m, key), got.get(key), key)
        self._check_degenerate(where, m, got, are_participants)

    def _check_degenerate(self, where: str, m: Any, got: Mapping[str, Any], are_participants: bool) -> None:
        """GAUGE-035. ``drift_degenerate`` flags ANY degenerate drift of the record: the drift to the
        reference, a pair of participants, or (federated controls) a released model that the run
        does not commit. So: a degenerate drift to the reference must be null and flagged; a
        degenerate pair must be flagged (its aggregates are null, GAUGE-034); a flag the
        recomputation cannot confirm fails only where every model the record covers is committed
        (local-only participants), since released models of a federated round are not in the run."""
        reference_degenerate = bool(got.get("drift_degenerate")) and got.get("drift_to_reference_deg") is None
        if reference_degenerate:
            if m.drift_degenerate and m.drift_to_reference_deg is None:
                self.ok("GAUGE-035", "degenerate-drift", where, "degenerate frame recorded as null with the flag set")
            else:
                self.fail("GAUGE-035", "degenerate-drift", where, "the recomputed frame is degenerate but the record carries a drift or no flag")
        elif got.get("drift_degenerate"):
            if m.drift_degenerate:
                self.ok("GAUGE-035", "degenerate-drift", where, "a degenerate participant pair is flagged")
            else:
                self.fail("GAUGE-035", "degenerate-drift", where, "a participant pair is degenerate on recomputation but the record sets no flag")
        elif m.drift_degenerate and are_participants:
            self.fail("GAUGE-035", "degenerate-drift", where, "record flags a degenerate frame the recomputation of its committed models does not find")
        elif m.drift_degenerate:
            self.ok("GAUGE-035", "degenerate-drift", where, "flag concerns released models the run does not commit (not recomputable)")

    def _compare(self, req: str, check: str, subject: str, recorded: float | None, actual: float | None, key: str) -> None:
        tol = self.tol.for_metric(key)
        if recorded is None and actual is None:
            self.ok(req, check, subject, "null in the record and on recomputation")
        elif recorded is None or actual is None:
            self.fail(req, check, subject, f"recorded {recorded}, recomputed {actual}")
        elif tol.close(actual, recorded):
            self.ok(req, check, subject, f"recorded {recorded:.6g}, recomputed {actual:.6g}")
        else:
            self.fail(req, check, subject, f"recorded {recorded!r}, recomputed {actual!r} ({tol.describe()})")

    def _check_targets(self, points: np.ndarray, targets: np.ndarray) -> None:
        from .recompute import embed

        g0 = self.data.global_at(0)
        if g0 is None or g0.tensors is None:
            self.skip("GAUGE-024", "probe-targets", files.PROBE_FILE, "no verified round-0 global to re-encode the targets with")
            return
        try:
            z = embed(self.model, g0.tensors, points)
        except Exception as exc:  # noqa: BLE001
            self.fail("GAUGE-024", "probe-targets", files.PROBE_FILE, f"the implementation failed to encode the probe: {type(exc).__name__}: {exc}")
            return
        if z.shape == targets.shape and self.tol.equiv.allclose(z, targets):
            self.ok("GAUGE-024", "probe-targets", files.PROBE_FILE, f"targets = encode(θ_0, points) (max |Δ| {float(np.max(np.abs(z - targets))):.2e})")
        else:
            err = float(np.max(np.abs(z - targets))) if z.shape == targets.shape else float("nan")
            msg = f"targets differ from encode(θ_0, points): max |Δ| {err:.3g} ({self.tol.equiv.describe()})"
            self.fail("GAUGE-024", "probe-targets", files.PROBE_FILE, msg)

    # --- driver -------------------------------------------------------------------------------
    def check_incomplete(self) -> bool:
        """A run directory without a manifest that a writer marked partial: say so (ART-015) and
        how to resume it, instead of a list of knock-on findings."""
        if files.exists(self.root, files.MANIFEST_FILE) or not files.is_partial(self.root):
            return False
        state = files.resume_state(self.root) or {}
        t = state.get("round_index")
        command = "headline" if state.get("command") == "headline" else "train"
        run_dir = self.root.resolve() if command == "train" else self.root.resolve().parent  # headline: the comparison
        where = str(run_dir.parent / _unpartial(run_dir.name))
        if isinstance(t, int) and not isinstance(t, bool) and t >= 0:
            message = f"incomplete run: last committed round {t}; resume with `lensemble-spec {command} --resume {where}`"
        else:
            message = f"incomplete run: no round committed yet; resume (it starts over) with `lensemble-spec {command} --resume {where}`"
        self.fail("ART-015", "run-layout", ".", message)
        return True

    def run(self) -> RunData:
        if self.check_incomplete():
            return self.data
        self.check_manifest()
        if self.data.manifest is None:
            self.check_layout()
            self.skip("ART-007", "content-hash", "checkpoints", "manifest unusable: checkpoints not located")
            return self.data
        self.check_checkpoints()
        self.check_layout()
        self.check_probe()
        self.check_records()
        self.check_recompute()
        return self.data


def _first(problems: list[str], n: int = 3) -> str:
    return "; ".join(problems[:n]) + (f" (+{len(problems) - n} more)" if len(problems) > n else "")


def _unpartial(name: str) -> str:
    return name.removesuffix(files.PARTIAL_SUFFIX)


def check_pin(value: Any, subject: str, *, hub_cache: Path | None, ok: Any, fail: Any, skip: Any) -> None:
    """Pin findings: form (ART-023), sha256 for a file pin (ART-024), offline resolution (ART-025)."""
    from ..artifacts.pins import parse_pin, resolve_pin
    from ..errors import PinUnresolved

    try:
        pin = parse_pin(value)
    except PinError as exc:
        fail("ART-023", "pin-format", subject, exc.message)
        return
    ok("ART-023", "pin-format", subject, f"{pin.uri} names a full commit")
    if pin.path is not None:
        if pin.sha256 is None:
            fail("ART-024", "pin-sha256", subject, "a pin naming a file must carry the file's sha256")
        else:
            ok("ART-024", "pin-sha256", subject, "carries the file's sha256")
    if hub_cache is None:
        skip("ART-025", "pin-resolve", subject, "no hub cache given (pass --hub-cache to resolve pins offline)")
        return
    try:
        resolved = resolve_pin(pin, cache_dir=hub_cache)
    except (PinUnresolved, CheckpointIntegrityError, PathEscape, PinError) as exc:
        fail("ART-025", "pin-resolve", subject, exc.message)
        return
    detail = "sha256 verified" if resolved.verified else "found (no sha256 to compare)"
    ok("ART-025", "pin-resolve", subject, f"{len(resolved.files)} cached file(s), {detail}")


__all__ = ["LoadedCheckpoint", "RunData", "RunVerifier", "check_pin"]
