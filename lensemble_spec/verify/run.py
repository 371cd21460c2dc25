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

Steps 4 and 6 live in :mod:`.run_records` and :mod:`.run_recompute`; what the checks read is
:class:`~lensemble_spec.verify.rundata.RunData`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from ..artifacts.canonical import config_hash as compute_config_hash
from ..artifacts.checkpoint import PICKLE_LIKE_SUFFIXES, load_checkpoint
from ..artifacts.hashing import probe_hash
from ..artifacts.paths import confine
from ..artifacts.reading import is_directory
from ..errors import (
    CheckpointIntegrityError,
    LensembleError,
    PathEscape,
    PinError,
    SchemaVersionMismatch,
)
from ..protocol import FederationConfig, OuterConfig
from ..schemas import RunManifest, load_document
from . import files
from .report import VerificationReport
from .run_recompute import RecomputeChecks
from .run_records import RecordChecks
from .rundata import LoadedCheckpoint, RunData
from .tolerances import tolerances

#: Manifest fields the RFCs give content to, so an empty list / object / null is not a record of
#: anything: the data provenance (RFC-0010 §5), the per-round sketch seeds (RFC-0003 §6, FED-026),
#: the split (RFC-0005 §3) and the software versions.
REQUIRED_NONEMPTY = ("data_roots", "round_sketch_seeds", "split_policy", "versions")


def _is_bounds(exc: LensembleError) -> bool:
    return "-byte limit" in exc.message or "levels deep" in exc.message


def _is_literal(exc: LensembleError) -> bool:
    return "non-finite number literal" in exc.message or "duplicate key" in exc.message


class RunVerifier(RecordChecks, RecomputeChecks):
    def __init__(
        self, root: Path, report: VerificationReport, model: Any = None, hub_cache: Path | None = None
    ) -> None:
        self.root = root
        self.report = report
        self.model = model
        self.hub_cache = hub_cache
        self.tol = tolerances()
        self.data = RunData(root)
        self.prefix = ""

    # --- findings -----------------------------------------------------------------------------
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
        missing = [
            n for n in (files.MANIFEST_FILE, files.ROUNDS_FILE, files.PROBE_FILE) if not files.exists(self.root, n)
        ]
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
                    why = (
                        " (the lensemble-spec 0.1 scheme: re-run the configuration for RFC 8785 hashes, RFC-0010 §4.3)"
                        if legacy
                        else ""
                    )
                    self.fail(
                        "ART-013",
                        "config-hash",
                        subject,
                        f"config_hash {raw.get('config_hash')!r} != recomputed {recomputed}{why}",
                    )
                    doc["config_hash"] = recomputed  # keep validating the rest of the manifest
        roots = raw.get("data_roots")
        for i, entry in enumerate(roots if isinstance(roots, list) else []):
            if isinstance(entry, str) and entry.startswith("hf://"):
                self.pin(entry, f"{subject}:data_roots[{i}]")
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
            self.fail(
                "ART-016", "manifest-schema", subject, "manifest disagrees with its config: " + "; ".join(mismatch)
            )
        elif empty:
            self.fail("ART-016", "manifest-schema", subject, f"RFC-required field(s) empty or null: {', '.join(empty)}")
        else:
            self.ok(
                "ART-016",
                "manifest-schema",
                subject,
                f"RunManifest v{manifest.schema_version}, {len(manifest.checkpoints)} checkpoints",
            )
        need = [f.name for f in dataclasses.fields(FederationConfig)]
        missing = [k for k in need if k not in cfg]
        outer = cfg.get("outer")
        if "outer" in cfg and not (
            isinstance(outer, dict) and all(f.name in outer for f in dataclasses.fields(OuterConfig))
        ):
            missing.append("outer.{lr,momentum,nesterov} (as a nested object)")
        if missing:
            self.fail(
                "ART-017", "manifest-config", subject, f"config lacks FederationConfig fields: {', '.join(missing)}"
            )
        else:
            self.ok("ART-017", "manifest-config", subject, "config holds every FederationConfig field")

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
            self.fail(
                "ART-001", "checkpoint-layout", subject, f"cannot list the checkpoint directory: {exc.strerror or exc}"
            )
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
        self.ok(
            "ART-001", "checkpoint-layout", subject, f"header.json + {len(header.weight_files)} safetensors file(s)"
        )
        self.ok(
            "ART-004",
            "header-schema",
            subject,
            f"CheckpointHeader v{header.schema_version}, {len(tensors)} tensors as listed",
        )
        self.ok("ART-007", "content-hash", subject, f"recomputed {header.content_hash[:12]}… from the tensors")
        if header.content_hash != ck.listed_hash:
            self.fail(
                "ART-018",
                "manifest-checkpoints",
                subject,
                f"manifest lists {ck.listed_hash}, the checkpoint is {header.content_hash}",
            )
        claimed = self.data.raw_manifest.get("config_hash") if self.data.raw_manifest else None
        if header.config_hash != claimed:
            self.fail(
                "ART-014",
                "checkpoint-config",
                subject,
                f"header config_hash {header.config_hash} != manifest's {claimed}",
            )
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
        self.judge(
            has_round0,
            "ART-018",
            "manifest-checkpoints",
            files.MANIFEST_FILE,
            "lists the round-0 global θ_0",
            "does not list a round-0 global checkpoint",
        )

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
            self.fail(
                "ART-022",
                "probe",
                subject,
                f"points {list(points.shape)} / targets {list(targets.shape)}: need (k, …) points and (k, d) targets",
            )
            return
        try:
            got = probe_hash(points)
        except LensembleError as exc:
            self.fail("ART-022", "probe", subject, f"points cannot be hashed: {exc.message}")
            return
        if got != manifest.probe_hash:
            self.fail(
                "ART-022", "probe", subject, f"probe_hash(points) = {got}, the manifest pins {manifest.probe_hash}"
            )
            return
        if targets.ndim != 2 or targets.shape[0] != points.shape[0]:
            self.fail("ART-022", "probe", subject, f"targets {list(targets.shape)} are not (k={points.shape[0]}, d)")
            return
        self.data.probe = tensors
        self.ok(
            "ART-022",
            "probe",
            subject,
            f"points {list(points.shape)} hash to the manifest's probe_hash; targets {list(targets.shape)}",
        )

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
            message = (
                f"incomplete run: last committed round {t}; resume with `lensemble-spec {command} --resume {where}`"
            )
        else:
            message = (
                "incomplete run: no round committed yet; resume (it starts over) with "
                f"`lensemble-spec {command} --resume {where}`"
            )
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


def _unpartial(name: str) -> str:
    return name.removesuffix(files.PARTIAL_SUFFIX)


__all__ = ["RunVerifier"]
