"""Read the per-round records of a run directory (for the compliance report's plots).

Layouts read, first match wins:

1. ``DIR/rounds.jsonl`` — one RoundRecord JSON document per line, the name RFC-0010 (ART-015,
   ART-020) gives it; ``DIR/records.jsonl`` is read the same way when ``rounds.jsonl`` is absent;
2. ``DIR/records/*.json`` — one RoundRecord per file, in file-name order.

``DIR/manifest.json`` (a RunManifest), when present, supplies the control name. Every record is
validated against :class:`lensemble_spec.schemas.RoundRecord`; an invalid line or file is left
out and named in ``problems`` (the plots are a view, the conformance tests judge the artifacts).
Records are sorted by ``round_index``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ArtifactError
from ..schemas.compliance import RunRecords

JSONL_NAMES = ("rounds.jsonl", "records.jsonl")
RECORDS_DIR = "records"
MANIFEST = "manifest.json"
_MAX_PROBLEMS = 20


def _short(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return " ".join(text.split())[:300]


def load_run_records(run_dir: str | Path) -> RunRecords:
    """Load and validate ``run_dir``'s round records; raise ArtifactError if it is not a directory."""
    from ..schemas import RoundRecord, load_document

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ArtifactError(
            f"run directory {run_dir} does not exist",
            remediation="Pass the directory a trainer wrote (it holds manifest.json and rounds.jsonl).",
        )
    problems: list[str] = []
    raw: list[tuple[str, object]] = []  # (where, parsed JSON)
    source: str | None = None
    jsonl = next((run_dir / n for n in JSONL_NAMES if (run_dir / n).is_file()), None)
    if jsonl is not None:
        source = jsonl.name
        for lineno, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw.append((f"{jsonl.name}:{lineno}", json.loads(line)))
            except json.JSONDecodeError as exc:
                problems.append(f"{jsonl.name}:{lineno}: not JSON ({exc.msg})")
    elif (run_dir / RECORDS_DIR).is_dir():
        source = f"{RECORDS_DIR}/*.json"
        for path in sorted((run_dir / RECORDS_DIR).glob("*.json")):
            try:
                raw.append((f"{RECORDS_DIR}/{path.name}", json.loads(path.read_text(encoding="utf-8"))))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                problems.append(f"{RECORDS_DIR}/{path.name}: not JSON ({exc})")
    else:
        problems.append(f"no {' / '.join(JSONL_NAMES)} or {RECORDS_DIR}/*.json in the run directory")

    records = []
    for where, doc in raw:
        try:
            records.append(load_document(RoundRecord, doc) if isinstance(doc, dict) else _not_object())
        except (ArtifactError, ValueError) as exc:
            problems.append(f"{where}: {_short(exc)}")
    records.sort(key=lambda r: (r.round_index, r.run_id))

    control = None
    manifest = run_dir / MANIFEST
    if manifest.is_file():
        try:
            control = json.loads(manifest.read_text(encoding="utf-8")).get("control")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
            problems.append(f"{MANIFEST}: unreadable ({exc})")
            control = None
    controls = sorted({r.control for r in records})
    if control is None and len(controls) == 1:
        control = controls[0]
    elif control is not None and controls and controls != [control]:
        problems.append(f"records name control(s) {controls} but {MANIFEST} says {control!r}")
    if not isinstance(control, str):
        control = None
    if len(problems) > _MAX_PROBLEMS:
        problems = problems[:_MAX_PROBLEMS] + [f"... and {len(problems) - _MAX_PROBLEMS} more"]
    return RunRecords(
        run_dir=str(run_dir.resolve()),
        control=control,
        source=source,
        records=records,
        problems=problems,
    )


def _not_object() -> None:
    raise ValueError("a round record must be a JSON object")
