"""Replay of the seed model card: the same comparison with upstream's pre-fix outer step.

``lensemble-spec replay-seed-card --out DIR`` trains the four controls with the reference's outer
step (``θ ← θ + lr·mean Δ``, Δ = local − global) and, for the two federated controls, once more
with the step the seed card's numbers were measured with before its authors fixed it
(``θ ← θ − lr·mean Δ``: the global moves AWAY from its participants; see
``shared/reference/upstream-facts.md`` §3). Everything else — seed, data, θ_0, participants,
anchor, backstop, coordinator alignment — is identical. It then evaluates the card's claims C1–C6
(RFC-0005 §7) on both tables and prints them side by side with the numbers they rest on.

The defective step exists only here, as the round engine :class:`PreFixRounds` passed to
``run_federated``; no configuration key or ``train`` option reaches it.

Layout::

    DIR/correct/<control>/        the correct comparison (a verifiable comparison directory)
    DIR/correct/results.json
    DIR/pre-fix/<control>/        naive-fedavg and anchored with the pre-fix step (run directories)
    DIR/replay.json               both tables (pre-fix rows + the correct local-only/centralized
                                  rows, which have no outer step), claims, the printed text
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.protocol import CONTROLS

from .federation import InProcessRounds, Setup
from .outer import OuterState

#: Controls whose runs have an outer step (the only ones the defect can change).
FEDERATED = ("naive-fedavg", "anchored")
CLAIMS = ("C1", "C2", "C3", "C4", "C5", "C6")


class PreFixRounds(InProcessRounds):
    """In-process rounds whose outer step SUBTRACTS the mean delta (upstream's pre-fix sign)."""

    def aggregate(
        self, setup: Setup, theta: dict[str, np.ndarray], state: OuterState, deltas: dict[str, dict[str, np.ndarray]]
    ) -> tuple[dict[str, np.ndarray], OuterState]:
        flipped = {p: {k: -v for k, v in delta.items()} for p, delta in deltas.items()}
        return super().aggregate(setup, theta, state, flipped)


def pre_fix_engine() -> PreFixRounds:
    """Module-level factory (picklable for worker processes)."""
    return PreFixRounds()


def _failed_row(control: str, d: int, why: str) -> dict[str, Any]:
    """A row for a run the defect made fail outright (non-finite global): every metric null."""
    keys = ("effective_rank", "effective_dim", "latent_std_mean", "latent_rms", "state_probe_r2", "val_pred",
            "val_pred_identity", "skill_vs_identity", "drift_to_reference_deg")
    return {
        "control": control,
        "metrics": {"latent_dim": float(d), **{k: None for k in keys}},
        "series": {},
        "verdict": "diverged",
        "error": why,
    }


def run_replay(cfg: Any, out_dir: Path, *, workers: int | None = None, show_progress: bool = True) -> dict[str, Any]:
    from lensemble_spec.artifacts import atomic_write_json, atomic_write_text
    from lensemble_spec.errors import ArtifactError

    from .multiseed import Job, default_workers, run_jobs
    from .multiseed_report import SPLIT, _v1, evaluate_claims

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ArtifactError(
            f"{out_dir} exists and is not empty",
            remediation="Choose a new --out directory; runs are written once and never overwritten.",
        )
    started = time.perf_counter()
    jobs = [Job(cfg.seed, c, None, cfg.for_control(c).to_dict(), str(out_dir / "correct" / c)) for c in CONTROLS]
    jobs += [
        Job(cfg.seed, c, "pre-fix", cfg.for_control(c).to_dict(), str(out_dir / "pre-fix" / c), engine=pre_fix_engine)
        for c in FEDERATED
    ]
    results = run_jobs(
        jobs, workers=workers or default_workers(), threads=cfg.threads, show_progress=show_progress, tolerate=True
    )
    correct = {r.job.control: r.row for r in results if r.job.variant is None}
    pre_fix = {c: dict(correct[c]) for c in CONTROLS if c not in FEDERATED}
    for r in results:
        if r.job.variant == "pre-fix":
            row = r.row if r.error is None else _failed_row(r.job.control, cfg.model.latent_dim, r.error)
            row.pop("variant", None)
            pre_fix[r.job.control] = row
    title = f"seed-card replay (seed {cfg.seed})"
    correct_doc = _v1(f"{title}: reference outer step θ + lr·mean Δ", SPLIT, cfg.seed, [correct[c] for c in CONTROLS])
    prefix_rows = [{k: v for k, v in pre_fix[c].items() if k != "error"} for c in CONTROLS]
    prefix_doc = _v1(f"{title}: pre-fix outer step θ − lr·mean Δ", SPLIT, cfg.seed, prefix_rows)
    atomic_write_json(out_dir / "correct" / "results.json", correct_doc)
    claims = {"correct": evaluate_claims(correct_doc), "pre-fix": evaluate_claims(prefix_doc)}
    text = render_replay(correct, pre_fix, claims)
    wall = time.perf_counter() - started
    text += f"\n\n{len(jobs)} runs in {wall:.0f}s; claims are RFC-0005 §7 evaluated on each table's numbers"
    doc = {
        "seed": cfg.seed,
        "correct": correct_doc,
        "pre_fix": prefix_doc,
        "claims": claims,
        "wall_time_s": wall,
        "text": text,
        "errors": {c: pre_fix[c].get("error") for c in FEDERATED if pre_fix[c].get("error")},
    }
    atomic_write_json(out_dir / "replay.json", doc)
    atomic_write_text(out_dir / "replay.md", "```\n" + text + "\n```\n")
    return doc


def _f(x: Any, fmt: str) -> str:
    return "—" if x is None else fmt.format(x)


def render_replay(correct: dict[str, Any], pre_fix: dict[str, Any], claims: dict[str, Any]) -> str:
    lines = [
        "numbers (held-out): control, outer step → effective rank, latent std, val_pred, final drift→ref°, max "
        "drift→ref° over rounds, verdict"
    ]
    rows = []
    for c in FEDERATED:
        for label, table in (("reference", correct), ("pre-fix", pre_fix)):
            m = table[c]["metrics"]
            series = [x for x in table[c].get("series", {}).get("drift_to_reference_deg", []) if x is not None]
            rows.append(
                [
                    c,
                    label,
                    _f(m.get("effective_rank"), "{:.2f}"),
                    _f(m.get("latent_std_mean"), "{:.3g}"),
                    _f(m.get("val_pred"), "{:.4g}"),
                    _f(m.get("drift_to_reference_deg"), "{:.1f}"),
                    _f(max(series) if series else None, "{:.1f}"),
                    table[c]["verdict"],
                ]
            )
    from .multiseed_report import _grid

    lines += _grid(
        ["control", "outer step", "eff.rank", "lat.std", "val_pred", "drift→ref°", "max drift°", "verdict"], rows
    )
    lines += ["", "seed-card claims C1–C6 (RFC-0005 §7): reference outer step vs pre-fix outer step"]
    body = [[cid, claims["correct"][cid]["state"], claims["pre-fix"][cid]["state"]] for cid in CLAIMS]
    lines += _grid(["claim", "reference step", "pre-fix step"], body)
    lines += ["", *[f"{cid} pre-fix: {claims['pre-fix'][cid]['detail']}" for cid in CLAIMS]]
    return "\n".join(lines)
