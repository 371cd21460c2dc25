"""A generated corpus of corruptions of a real run and comparison directory (issue #13).

Every :class:`Case` names one corruption, the family it belongs to, what it is applied to (one run
directory of the comparison, or the whole comparison), a function that applies it to a private
copy, and what verification must say:

* ``protected`` — the corruption changes something the RFCs fix (a hash, the chain, a required
  field, the layout, the bytes read): the report must not be OK;
* ``expect`` — requirement ids that must be among the failed ones (the named regressions of the
  issue pin the id, so a corruption caught "by accident" under another id is noticed);
* benign cases (``protected=False``) change only what no requirement covers (a timestamp, a log
  file) and must stay OK — the corpus also guards against false positives.

Families: ``rounds-lines`` (deleted, duplicated, swapped lines), ``record-fields``,
``manifest-fields``, ``header``, ``weights`` (bit flips, truncation, pickle, metadata, devices),
``json-bombs`` (every JSON input: size, nesting, escape bombs, literals, duplicate keys, bad
UTF-8), ``probe``, ``special-files`` (FIFOs, symlink loops, links out of the run), ``layout`` (stray
entries, names that try to forge output), ``comparison``, ``benign``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNS = ("anchored", "naive-fedavg", "local-only", "centralized")
GARBAGE_HASH = "ab" * 32
FORGED_OK = "\nOK: 99 passed, 0 failed, 0 skipped"


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    target: str  # a control (that run directory alone) or "comparison"
    apply: Callable[[Path], None]  # gets the copied target directory
    protected: bool = True
    expect: frozenset[str] = frozenset()


# --- editing helpers ------------------------------------------------------------------------------------
def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def write_json(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))


def edit_json(rel: str, fn: Callable[[Any], Any]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        doc = read_json(root / rel)
        out = fn(doc)
        write_json(root / rel, doc if out is None else out)

    return apply


def records_of(root: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (root / "rounds.jsonl").read_text().splitlines() if line.strip()]


def write_records(root: Path, records: list[Any]) -> None:
    (root / "rounds.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def edit_records(fn: Callable[[list[dict[str, Any]]], Any]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        recs = records_of(root)
        out = fn(recs)
        write_records(root, recs if out is None else out)

    return apply


def replace_bytes(rel: str, data: bytes) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        if path.is_symlink() or path.exists():
            path.unlink()
        path.write_bytes(data)

    return apply


def fifo(rel: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / rel).unlink()
        os.mkfifo(root / rel)

    return apply


def symlink_loop(rel: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        path.unlink()
        os.symlink(path.name + ".loop", path)
        os.symlink(path.name, path.parent / (path.name + ".loop"))

    return apply


def symlink_out(rel: str) -> Callable[[Path], None]:
    """Replace ``rel`` by a symlink to an identical copy outside the target (must not be read)."""
    def apply(root: Path) -> None:
        path = root / rel
        outside = root.parent / "outside" / rel.replace("/", "_")
        outside.parent.mkdir(exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, outside)
            shutil.rmtree(path)
        else:
            shutil.copyfile(path, outside)
            path.unlink()
        os.symlink(outside, path)

    return apply


def symlink_to(rel: str, target: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / rel).unlink()
        os.symlink(target, root / rel)

    return apply


def flip_bit(rel: str, fraction: float, bit: int) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        data = bytearray((root / rel).read_bytes())
        i = min(len(data) - 1, int(len(data) * fraction))
        data[i] ^= 1 << bit
        (root / rel).write_bytes(bytes(data))

    return apply


def truncate(rel: str, keep: float) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        data = (root / rel).read_bytes()
        (root / rel).write_bytes(data[: int(len(data) * keep)])

    return apply


def with_metadata(rel: str, size: int) -> Callable[[Path], None]:
    """Rewrite a safetensors file with the same tensors and a huge ``__metadata__`` string."""
    def apply(root: Path) -> None:
        from safetensors.numpy import load, save

        tensors = load((root / rel).read_bytes())
        (root / rel).write_bytes(save(tensors, metadata={"note": "x" * size}))

    return apply


def pickle_as_safetensors(rel: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        import pickle

        (root / rel).write_bytes(pickle.dumps({"encoder.w": [1.0, 2.0]}))

    return apply


def add_file(rel: str, data: bytes = b"x") -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return apply


def delete(rel: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()

    return apply


def chain(*fns: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        for fn in fns:
            fn(root)

    return apply


def first_checkpoint_of_round(control: str, r: int) -> str:
    return f"checkpoints/silo0/round-{r:04d}" if control == "local-only" and r > 0 else f"checkpoints/round-{r:04d}"


# --- JSON bombs -------------------------------------------------------------------------------------------
JSON_BOMBS: dict[str, Callable[[], bytes]] = {
    "nested-1e5": lambda: b"[" * 100_000 + b"]" * 100_000,
    "escape-bomb-100k": lambda: b'"' + b'\\"' * 50_000,
    "escape-bomb-2m": lambda: b'"' + b'\\"' * 1_000_000,
    "nan": lambda: b'{"schema_version": 1, "x": NaN}',
    "overflow-1e400": lambda: b'{"schema_version": 1, "x": 1e400}',
    "duplicate-key": lambda: b'{"schema_version": 1, "schema_version": 1}',
    "invalid-utf8": lambda: b'{"schema_version": 1, "x": "\xff\xfe"}',
    "empty": lambda: b"",
    "null": lambda: b"null",
}
OVERSIZE = 16 * 1024 * 1024 + 1


def cases() -> list[Case]:
    out: list[Case] = []

    def add(
        name: str,
        family: str,
        target: str,
        apply: Callable[[Path], None],
        protected: bool = True,
        expect: tuple[str, ...] = (),
    ) -> None:
        out.append(Case(name, family, target, apply, protected, frozenset(expect)))

    # rounds-lines: a deleted line must never hide a round (the first false OK)
    for control in RUNS:
        for i in range(3):
            add(
                f"{control}:rounds-line-{i}-deleted",
                "rounds-lines",
                control,
                edit_records(lambda r, i=i: r[:i] + r[i + 1 :]),
                expect=("FED-009",),
            )
        add(
            f"{control}:rounds-line-duplicated",
            "rounds-lines",
            control,
            edit_records(lambda r: r + r[-1:]),
            expect=("ART-020",),
        )
        add(
            f"{control}:rounds-lines-swapped",
            "rounds-lines",
            control,
            edit_records(lambda r: [r[0], r[2], r[1]]),
            expect=("ART-020",),
        )
        add(f"{control}:rounds-all-deleted", "rounds-lines", control, edit_records(lambda r: []), expect=("ART-020",))

    # record-fields
    values = {
        "parent_hash": GARBAGE_HASH,
        "global_hash": GARBAGE_HASH,
        "run_id": "someone-else",
        "control": "centralized",
        "schema_version": 2,
    }
    for control in RUNS:
        for i in range(3):
            for key, value in values.items():
                v = "anchored" if key == "control" and control == "centralized" else value

                def set_field(recs: list[dict[str, Any]], i: int = i, key: str = key, v: Any = v) -> None:
                    recs[i][key] = v

                add(f"{control}:record-{i}-{key}", "record-fields", control, edit_records(set_field))
            add(f"{control}:record-{i}-round-index-shifted", "record-fields", control,
                edit_records(lambda r, i=i: r[i].__setitem__("round_index", r[i]["round_index"] + 7)))

    # manifest-fields (RFC-required content, hashes, listing, paths)
    manifest_edits: dict[str, Callable[[dict[str, Any]], Any]] = {
        "data-roots-empty": lambda m: m.__setitem__("data_roots", []),
        "data-roots-int": lambda m: m.__setitem__("data_roots", 5),
        "data-roots-empty-string": lambda m: m.__setitem__("data_roots", [""]),
        "sketch-seeds-empty": lambda m: m.__setitem__("round_sketch_seeds", []),
        "sketch-seeds-wrong": lambda m: m.__setitem__("round_sketch_seeds", [1, 2, 3]),
        "sketch-seeds-negative": lambda m: m.__setitem__("round_sketch_seeds", [-1]),
        "split-policy-null": lambda m: m.__setitem__("split_policy", None),
        "split-policy-empty": lambda m: m.__setitem__("split_policy", {}),
        "versions-empty": lambda m: m.__setitem__("versions", {}),
        "versions-list": lambda m: m.__setitem__("versions", []),
        "config-hash-garbage": lambda m: m.__setitem__("config_hash", GARBAGE_HASH),
        "root-seed-changed": lambda m: m.__setitem__("root_seed", m["root_seed"] + 1),
        "probe-hash-garbage": lambda m: m.__setitem__("probe_hash", GARBAGE_HASH),
        "run-id-changed": lambda m: m.__setitem__("run_id", "someone-else"),
        "control-changed": lambda m: m.__setitem__(
            "control", "naive-fedavg" if m["control"] != "naive-fedavg" else "anchored"
        ),
        "checkpoint-first-dropped": lambda m: m.__setitem__("checkpoints", m["checkpoints"][1:]),
        "checkpoint-last-dropped": lambda m: m.__setitem__("checkpoints", m["checkpoints"][:-1]),
        "checkpoint-hash-garbage": lambda m: m["checkpoints"][1].__setitem__("content_hash", GARBAGE_HASH),
        "checkpoint-path-traversal": lambda m: m["checkpoints"][1].__setitem__("path", "../x"),
        "checkpoint-path-absolute": lambda m: m["checkpoints"][1].__setitem__("path", "/etc"),
        "checkpoint-path-5000-chars": lambda m: m["checkpoints"][1].__setitem__("path", "a" * 5000),
        "checkpoint-path-missing": lambda m: m["checkpoints"][1].__setitem__("path", "checkpoints/nothing"),
        "schema-version-2": lambda m: m.__setitem__("schema_version", 2),
        "schema-version-string": lambda m: m.__setitem__("schema_version", "1"),
        "config-rounds-changed": lambda m: m["config"].__setitem__("rounds", 5),
        "config-field-removed": lambda m: m["config"].pop("inner_lr"),
        "config-not-object": lambda m: m.__setitem__("config", [1]),
        "not-an-object": lambda m: [m],
    }
    for control in ("anchored", "local-only", "centralized"):
        for name, fn in manifest_edits.items():
            add(f"{control}:manifest-{name}", "manifest-fields", control, edit_json("manifest.json", fn))

    # header.json
    for control in RUNS:
        ck = first_checkpoint_of_round(control, 1)
        h = f"{ck}/header.json"
        header_edits: dict[str, Callable[[Path], None]] = {
            "content-hash-garbage": edit_json(h, lambda d: d.__setitem__("content_hash", GARBAGE_HASH)),
            "parent-hash-garbage": edit_json(h, lambda d: d.__setitem__("parent_hash", GARBAGE_HASH)),
            "round-index-shifted": edit_json(h, lambda d: d.__setitem__("round_index", 5)),
            "config-hash-garbage": edit_json(h, lambda d: d.__setitem__("config_hash", GARBAGE_HASH)),
            "schema-version-99": edit_json(h, lambda d: d.__setitem__("schema_version", 99)),
            "tensor-shape-changed": edit_json(h, lambda d: d["tensor_manifest"][0].__setitem__("shape", [1])),
            "weight-file-traversal": edit_json(h, lambda d: d.__setitem__("weight_files", ["../x.safetensors"])),
            "weight-file-pickle": edit_json(h, lambda d: d.__setitem__("weight_files", ["weights.pt"])),
            "symlinked-outside": symlink_out(h),
            "fifo": fifo(h),
            "symlink-loop": symlink_loop(h),
            "deleted": delete(h),
            "checkpoint-dir-symlinked-outside": symlink_out(ck),
        }
        for name, fn in header_edits.items():
            add(f"{control}:header-{name}", "header", control, fn)

    # weights
    for control in ("anchored", "local-only"):
        w = f"{first_checkpoint_of_round(control, 1)}/weights.safetensors"
        for k, fraction in enumerate((0.0, 0.001, 0.003, 0.01, 0.05, 0.2, 0.5, 0.9, 0.999)):
            for bit in (0, 7):
                add(f"{control}:weights-bitflip-{k}-{bit}", "weights", control, flip_bit(w, fraction, bit))
        add(f"{control}:weights-truncated-half", "weights", control, truncate(w, 0.5))
        add(f"{control}:weights-truncated-to-4", "weights", control, truncate(w, 4 / 10**9))
        add(f"{control}:weights-pickle-renamed", "weights", control, pickle_as_safetensors(w))
        add(f"{control}:weights-metadata-10mb", "weights", control, with_metadata(w, 10 * 1024 * 1024))
        add(f"{control}:weights-fifo", "special-files", control, fifo(w))
        add(f"{control}:weights-dev-zero", "special-files", control, symlink_to(w, "/dev/zero"))
        add(f"{control}:weights-symlink-loop", "special-files", control, symlink_loop(w))
        add(
            f"{control}:checkpoint-evil-pt",
            "weights",
            control,
            add_file(f"{first_checkpoint_of_round(control, 1)}/evil.pt", b"\x80\x04"),
        )

    # json-bombs: every JSON input of a run and of a comparison
    json_files = [
        ("anchored", "manifest.json"),
        ("anchored", "checkpoints/round-0001/header.json"),
        ("anchored", "rounds.jsonl"),
        ("comparison", "results.json"),
    ]
    for target, rel in json_files:
        for bomb, data in JSON_BOMBS.items():
            add(f"{target}:{rel}:{bomb}", "json-bombs", target if target != "comparison" else "comparison",
                lambda root, rel=rel, data=data: replace_bytes(rel, data())(root))
    add("anchored:manifest.json:oversize", "json-bombs", "anchored", replace_bytes("manifest.json", b" " * OVERSIZE))

    # probe
    for control in ("anchored", "centralized"):
        probe_edits: dict[str, Callable[[Path], None]] = {
            "points-0d": _probe_edit(
                lambda t: {"points": t["points"].reshape(-1)[:1].reshape(()), "targets": t["targets"]}
            ),
            "targets-missing": _probe_edit(lambda t: {"points": t["points"]}),
            "points-changed": _probe_edit(lambda t: {"points": t["points"] + 1, "targets": t["targets"]}),
            "targets-1d": _probe_edit(lambda t: {"points": t["points"], "targets": t["targets"].reshape(-1)}),
            "metadata-10mb": with_metadata("probe.safetensors", 10 * 1024 * 1024),
            "fifo": fifo("probe.safetensors"),
            "symlink-loop": symlink_loop("probe.safetensors"),
            "symlinked-outside": symlink_out("probe.safetensors"),
            "dev-zero": symlink_to("probe.safetensors", "/dev/zero"),
        }
        for name, fn in probe_edits.items():
            add(f"{control}:probe-{name}", "probe", control, fn)

    # special files in place of every file a verifier opens
    for rel in ("manifest.json", "rounds.jsonl"):
        add(f"anchored:{rel}-fifo", "special-files", "anchored", fifo(rel))
        add(f"anchored:{rel}-symlink-loop", "special-files", "anchored", symlink_loop(rel))
        add(f"anchored:{rel}-symlinked-outside", "special-files", "anchored", symlink_out(rel))
        add(f"anchored:{rel}-dev-zero", "special-files", "anchored", symlink_to(rel, "/dev/zero"))

    # layout: stray entries and names that try to forge the verifier's output
    for name, rel in {
        "stray-pt": "evil.pt",
        "forged-ok-name": "x" + FORGED_OK,
        "ansi-name": "\x1b[31mred\x1b[0m",
        "bidi-name": "\u202eexe.txt",
        "log-not-text": "logs/weights.bin",
        "legacy-records-beside": "records.jsonl",
        "results-in-run": "results.json",
        "stray-dir-file": "extra/file",
    }.items():
        add(f"anchored:layout-{name}", "layout", "anchored", add_file(rel, b"{}"))
    add(
        "anchored:layout-symlink-in-logs",
        "layout",
        "anchored",
        lambda root: (root / "logs").mkdir() or os.symlink("/etc/passwd", root / "logs" / "x.log"),
    )

    # comparison
    add(
        "comparison:controls-empty",
        "comparison",
        "comparison",
        edit_json("results.json", lambda d: d.__setitem__("controls", [])),
        expect=("EVAL-015",),
    )
    add(
        "comparison:unknown-metric-key-ansi",
        "comparison",
        "comparison",
        edit_json("results.json", lambda d: d["controls"][0]["metrics"].__setitem__("\x1b[31m../x\n", 1.0)),
        expect=("EVAL-016",),
    )
    add(
        "comparison:unknown-series-key",
        "comparison",
        "comparison",
        edit_json("results.json", lambda d: d["controls"][0]["series"].__setitem__("made_up", [1.0])),
        expect=("EVAL-016",),
    )
    add("comparison:control-symlinked-outside", "comparison", "comparison", symlink_out("naive-fedavg"))
    add("comparison:evil-pt", "comparison", "comparison", add_file("evil.pt", b"\x80\x04"), expect=("EVAL-001",))
    add(
        "comparison:extra-run-copy",
        "comparison",
        "comparison",
        lambda root: shutil.copytree(root / "anchored", root / "anchored2"),
        expect=("EVAL-001",),
    )
    add("comparison:results-fifo", "comparison", "comparison", fifo("results.json"))
    add("comparison:results-deleted", "comparison", "comparison", delete("results.json"))
    add("comparison:control-deleted", "comparison", "comparison", delete("centralized"))
    add(
        "comparison:verdict-changed",
        "comparison",
        "comparison",
        edit_json(
            "results.json",
            lambda d: d["controls"][0].__setitem__(
                "verdict", "collapsed" if d["controls"][0]["verdict"] != "collapsed" else "gauge-held"
            ),
        ),
    )
    add(
        "comparison:row-dropped",
        "comparison",
        "comparison",
        edit_json("results.json", lambda d: d["controls"].pop()),
        expect=("EVAL-015",),
    )
    add(
        "comparison:metric-key-dropped",
        "comparison",
        "comparison",
        edit_json("results.json", lambda d: d["controls"][0]["metrics"].pop("latent_dim")),
    )
    add("comparison:forged-ok-file", "comparison", "comparison", add_file("x" + FORGED_OK, b""))
    add(
        "comparison:run-deleted-line",
        "comparison",
        "comparison",
        lambda root: edit_records(lambda r: r[:1] + r[2:])(root / "anchored"),
        expect=("FED-009",),
    )

    # benign: must stay OK (false-positive guard)
    add("anchored:benign-log-file", "benign", "anchored", add_file("logs/train.log", b"round 1 ok\n"), protected=False)
    add(
        "anchored:benign-created-at",
        "benign",
        "anchored",
        edit_json("manifest.json", lambda m: m.__setitem__("created_at", "2030-01-01T00:00:00Z")),
        protected=False,
    )
    add(
        "anchored:benign-manifest-reformatted",
        "benign",
        "anchored",
        edit_json("manifest.json", lambda m: None),
        protected=False,
    )
    add(
        "anchored:benign-header-producer",
        "benign",
        "anchored",
        edit_json(
            "checkpoints/round-0001/header.json", lambda d: d.__setitem__("producer", {"name": "other", "version": "9"})
        ),
        protected=False,
    )
    add(
        "anchored:benign-wall-time",
        "benign",
        "anchored",
        edit_records(lambda r: r[1].__setitem__("wall_time_s", 99.0)),
        protected=False,
    )
    add("comparison:benign-report-file", "benign", "comparison", add_file("notes.md", b"# notes\n"), protected=False)
    return out


def _probe_edit(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        import numpy as np
        from safetensors.numpy import load, save

        tensors = fn({k: np.asarray(v) for k, v in load((root / "probe.safetensors").read_bytes()).items()})
        (root / "probe.safetensors").write_bytes(save({k: np.ascontiguousarray(v) for k, v in tensors.items()}))

    return apply


__all__ = ["FORGED_OK", "RUNS", "Case", "cases"]
