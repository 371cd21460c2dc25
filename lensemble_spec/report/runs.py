"""Read the per-round records of a run directory (for the compliance report's plots).

Layouts read, first match wins:

1. ``DIR/rounds.jsonl`` — one RoundRecord JSON document per line, the name RFC-0010 (ART-015,
   ART-020) gives it;
2. ``DIR/records/*.json`` — one RoundRecord per file, in file-name order.

``DIR/manifest.json`` (a RunManifest), when present, supplies the control name, and
``DIR/probe.safetensors`` the latent dimension d (the shape ``(k, d)`` of its ``targets``, read
from the safetensors header alone) that the rank threshold line of the plots needs.

:func:`load_runs` also takes a comparison directory (``results.json`` beside one run directory
per control, as ``lensemble-spec headline`` writes it) and returns one entry per control. Every record is
validated against :class:`lensemble_spec.schemas.RoundRecord`; an invalid line or file is left
out and named in ``problems`` (the plots are a view, the conformance tests judge the artifacts).
Records are sorted by ``round_index``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ArtifactError
from ..schemas.compliance import RunRecords

ROUNDS_JSONL = "rounds.jsonl"
RECORDS_DIR = "records"
MANIFEST = "manifest.json"
PROBE = "probe.safetensors"
RESULTS = "results.json"
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
    jsonl = run_dir / ROUNDS_JSONL
    if jsonl.is_file():
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
        problems.append(f"no {ROUNDS_JSONL} or {RECORDS_DIR}/*.json in the run directory")

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
    latent_dim = _probe_latent_dim(run_dir / PROBE)
    if len(problems) > _MAX_PROBLEMS:
        problems = problems[:_MAX_PROBLEMS] + [f"... and {len(problems) - _MAX_PROBLEMS} more"]
    return RunRecords(
        run_dir=str(run_dir.resolve()),
        control=control,
        source=source,
        latent_dim=latent_dim,
        records=records,
        problems=problems,
    )


def _probe_latent_dim(path: Path) -> int | None:
    """d of the probe's ``targets`` tensor (shape ``(k, d)``), from the safetensors header; None if unreadable."""
    try:
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if not 0 < n <= 10_000_000:
                return None
            header = json.loads(fh.read(n))
        shape = header["targets"]["shape"]
        return int(shape[1]) if len(shape) == 2 and int(shape[1]) > 0 else None
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def is_comparison(directory: str | Path) -> bool:
    """A comparison directory: ``results.json`` and no round records of its own."""
    d = Path(directory)
    return (d / RESULTS).is_file() and not (d / ROUNDS_JSONL).is_file() and not (d / RECORDS_DIR).is_dir()


def load_runs(directory: str | Path) -> list[RunRecords]:
    """The run records of a run directory (one entry) or of every control of a comparison.

    A comparison's controls are the sub-directories named by the rows of its ``results.json``
    (falling back to every sub-directory holding a ``manifest.json``), in that order.
    """
    d = Path(directory)
    if not is_comparison(d):
        return [load_run_records(d)]
    controls: list[str] = []
    try:
        doc = json.loads((d / RESULTS).read_text(encoding="utf-8"))
        controls = [
            r["control"] for r in doc.get("controls", []) if isinstance(r, dict) and isinstance(r.get("control"), str)
        ]
    except (OSError, ValueError, AttributeError):
        pass
    subdirs = [d / c for c in controls if "/" not in c and (d / c / MANIFEST).is_file()]
    if not subdirs:
        subdirs = sorted(p for p in d.iterdir() if (p / MANIFEST).is_file())
    return [load_run_records(p) for p in subdirs] or [load_run_records(d)]


def _not_object() -> None:
    raise ValueError("a round record must be a JSON object")
