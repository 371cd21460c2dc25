"""The headline's comparison directory, written atomically and resumable (like a run directory).

``headline --out OUT`` writes into ``OUT.partial`` (claimed with one ``os.mkdir``) and renames it
to ``OUT`` once ``results.json`` and the reports are written. Each control's run is itself written
as ``OUT.partial/<control>.partial`` and renamed to ``OUT.partial/<control>`` when complete
(:mod:`lensemble_spec.artifacts.staging`). ``OUT.partial/resume/state.json`` records the comparison's
config and controls; ``resume/<control>.series.json`` keeps a finished control's run-side
diagnostic series (they are not part of a run directory but go into ``results.json``).

``headline --resume OUT`` reuses every finished control, resumes the one that was killed from its
last committed round, runs the rest, and writes the same ``results.json`` an uninterrupted run
writes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lensemble_spec.artifacts import atomic_write_json
from lensemble_spec.artifacts.safe_json import load_json_file
from lensemble_spec.artifacts.staging import claim, promote, reopen
from lensemble_spec.errors import ArtifactError, ConfigError, LensembleError
from lensemble_spec.verify.files import (
    MANIFEST_FILE,
    PARTIAL_SUFFIX,
    RESUME_DIR,
    RESUME_STATE,
    read_jsonl,
)

KIND = "comparison"


@dataclass
class FinishedRun:
    """What the headline needs of a control's run (a RunResult, or one read back from disk)."""

    run_dir: Path
    records: list[dict[str, Any]]
    series: dict[str, list[Any]] = field(default_factory=dict)


def open_comparison(out: Path, config: Mapping[str, Any], controls: tuple[str, ...], *, resume: bool) -> Path:
    """Claim ``OUT.partial`` (fresh) or reopen it (resume; the config and controls must match)."""
    if not resume:
        partial = claim(out)
        atomic_write_json(
            partial / RESUME_STATE,
            {"kind": KIND, "command": "headline", "config": dict(config), "controls": list(controls)},
        )
        return partial
    partial = reopen(out)
    doc = read_comparison_state(partial)
    if doc["config"] != dict(config) or tuple(doc["controls"]) != tuple(controls):
        raise ConfigError(
            f"{partial} was started with another configuration or set of controls",
            remediation="Resume with `headline --resume OUT` alone (the recorded config is used), or delete the "
                        "partial comparison.",
        )
    return partial


def read_comparison_state(partial: Path) -> dict[str, Any]:
    """The recorded config and controls of a partial comparison (typed error when unusable)."""
    try:
        doc = load_json_file(partial / RESUME_STATE, max_depth=16)
    except LensembleError as exc:
        raise ArtifactError(
            f"cannot resume {partial}: {exc.message}", remediation=f"Delete {partial} and start the headline again."
        ) from exc
    if (
        not isinstance(doc, dict)
        or doc.get("kind") != KIND
        or not isinstance(doc.get("config"), dict)
        or not isinstance(doc.get("controls"), list)
    ):
        raise ArtifactError(
            f"cannot resume {partial}: {RESUME_STATE} is not a comparison state",
            remediation=f"Delete {partial} and start again.",
        )
    return doc


def control_run(partial: Path, control: str, cfg: Any, inputs: Any, *, show_progress: bool) -> FinishedRun:
    """The control's run: reused when finished, resumed when killed, trained otherwise."""
    from .controls import run_control

    run_dir = partial / control
    series_file = partial / RESUME_DIR / f"{control}.series.json"
    if os.path.isfile(run_dir / MANIFEST_FILE) and os.path.isfile(series_file):
        records = read_jsonl(run_dir, "rounds.jsonl")
        return FinishedRun(run_dir, records, load_json_file(series_file, max_depth=16))
    resume = os.path.isdir(partial / (control + PARTIAL_SUFFIX))
    result = run_control(cfg, inputs, run_dir, show_progress=show_progress, resume=resume, command="headline")
    series = {k: list(v) for k, v in (getattr(result, "series", None) or {}).items()}
    atomic_write_json(series_file, series)
    return FinishedRun(Path(result.run_dir), list(result.records), series)


def close_comparison(partial: Path, out: Path) -> Path:
    """Rename the complete comparison into place (``resume/`` removed first)."""
    return promote(partial, out)


__all__ = ["FinishedRun", "close_comparison", "control_run", "open_comparison", "read_comparison_state"]
