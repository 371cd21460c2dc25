"""Run verification, part 4: ``rounds.jsonl`` (see :mod:`lensemble_spec.verify.run`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ArtifactError, LensembleError
from ..schemas import RoundRecord, RunManifest, load_document
from . import files
from .checks import Checker

HELDOUT_RECORD_KEYS = ("val_pred", "val_pred_identity", "skill_vs_identity", "state_probe_r2")
#: Controls whose every round commits a global model (the record chain runs through them).
WITH_GLOBAL = ("anchored", "naive-fedavg", "centralized")


def _first(problems: list[str], n: int = 3) -> str:
    return "; ".join(problems[:n]) + (f" (+{len(problems) - n} more)" if len(problems) > n else "")


class RecordChecks(Checker):
    """The ``rounds.jsonl`` checks of :class:`~lensemble_spec.verify.run.RunVerifier` (uses its
    ``root``, ``data`` and ``fail_load``)."""

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
                problems.append(
                    f"line {i + 1} is {rec.run_id}/{rec.control}, the manifest's run is "
                    f"{manifest.run_id}/{manifest.control}"
                )
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
        last = (
            configured
            if isinstance(configured, int) and not isinstance(configured, bool) and configured >= 0
            else records[-1].round_index
        )
        self._check_sketch_seeds(manifest, last)
        for rec in records:
            self._check_record(rec)

    def _check_contiguous(self, rel: str, records: list[RoundRecord], manifest: RunManifest) -> None:
        """FED-009: one record per round 0…R, no gaps, R the configured rounds; no checkpoint of a
        round without a record (a deleted line must not hide a round)."""
        problems = [
            f"line {i + 1} is round {rec.round_index}, expected {i}"
            for i, rec in enumerate(records)
            if rec.round_index != i
        ]
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
                    problems.append(
                        f"{line}: parent_hash {rec.parent_hash} is neither null nor the last global {last_global}"
                    )
            elif rec.global_hash is not None or control in WITH_GLOBAL:
                if rec.parent_hash is None or rec.parent_hash != records[i - 1].global_hash:
                    problems.append(
                        f"{line}: parent_hash {rec.parent_hash} is not the previous record's global "
                        f"{records[i - 1].global_hash}"
                    )
            elif rec.parent_hash is not None and rec.parent_hash != last_global:
                problems.append(
                    f"{line}: parent_hash {rec.parent_hash} is neither null nor the last global {last_global}"
                )
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
            self.ok(
                "FED-026",
                "sketch-seeds",
                files.MANIFEST_FILE,
                f"round_sketch_seeds are derive_seed(root_seed, 'sketch:t') for t = 0…{last_round}",
            )
        else:
            bad = [
                t
                for t in range(max(len(got), len(expected)))
                if t >= len(got) or t >= len(expected) or got[t] != expected[t]
            ]
            self.fail(
                "FED-026",
                "sketch-seeds",
                files.MANIFEST_FILE,
                f"{len(got)} seed(s) for {last_round + 1} round(s); wrong or missing at t = {bad[:5]}",
            )

    def _check_record(self, rec: RoundRecord) -> None:
        where = f"round-{rec.round_index:04d}"
        g = next((c for c in self.data.checkpoints if c.participant is None and c.round_index == rec.round_index), None)
        committed = (g.header.content_hash if g.header is not None else g.listed_hash) if g is not None else None
        if rec.global_hash is None and committed is None:
            self.ok("ART-021", "record-global", where, "no global model this round")
        elif rec.global_hash == committed:
            self.ok("ART-021", "record-global", where, "global_hash is the committed checkpoint")
        else:
            self.fail(
                "ART-021",
                "record-global",
                where,
                f"global_hash {rec.global_hash} but the round's global checkpoint is {committed}",
            )
            if (
                committed is None
                and rec.global_hash is not None
                and self._unlisted_global(rec.round_index, rec.global_hash)
            ):
                self.fail(
                    "ART-018",
                    "manifest-checkpoints",
                    where,
                    f"global {rec.global_hash} of round {rec.round_index} is committed on disk but not listed in the "
                    f"manifest",
                )
        if rec.global_hash is None and rec.round_index > 0:
            listed = {
                c.participant
                for c in self.data.checkpoints
                if c.participant is not None and c.round_index == rec.round_index
            }
            missing = sorted(set(rec.participants) - listed)
            if missing or not rec.participants:
                self.fail(
                    "ART-018",
                    "manifest-checkpoints",
                    where,
                    f"no global and no checkpoint for participant(s) {missing or '(none listed)'}",
                )
            else:
                self.ok("ART-018", "manifest-checkpoints", where, f"{len(listed)} participant checkpoints listed")
        m = rec.metrics
        leaked = [k for k in HELDOUT_RECORD_KEYS if getattr(m, k) is not None]
        if leaked:
            self.fail(
                "EVAL-008",
                "record-heldout",
                where,
                f"round record carries held-out metrics {leaked}; a run never sees the held-out split",
            )
        else:
            self.ok("EVAL-008", "record-heldout", where, "held-out metrics left null")
        if (m.effective_rank is not None or m.effective_dim is not None) and (
            m.latent_std_mean is None or m.latent_rms is None
        ):
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
        if len(rec.participants) < 2 and (
            m.drift_pairwise_mean_deg is not None or m.drift_pairwise_max_deg is not None
        ):
            self.fail(
                "GAUGE-034",
                "pairwise-drift",
                where,
                f"pairwise drift reported with {len(rec.participants)} participant(s)",
            )
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
            self.fail(
                "GAUGE-040", "anchored-drift", where, "anchored run records no (or a degenerate) drift to the reference"
            )
        elif m.drift_to_reference_deg > t.max_drift_deg:
            self.fail(
                "GAUGE-040", "anchored-drift", where, f"drift {m.drift_to_reference_deg:.3f}° > {t.max_drift_deg}°"
            )
        else:
            self.ok(
                "GAUGE-040", "anchored-drift", where, f"drift {m.drift_to_reference_deg:.3f}° <= {t.max_drift_deg}°"
            )
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
            self.ok(
                "GAUGE-042", "anchored-scale", where, f"latent_std_mean {m.latent_std_mean:.4g} >= {t.min_latent_std}"
            )
