"""Reading a run directory: a lazy, untrusting view of what a run left on disk (RFC-0010 §5)."""

from __future__ import annotations

import functools
import hashlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.artifacts import confine, load_json_file, loads_bounded

from . import _assertions as check
from . import _bytes as byteio


class RunReadError(AssertionError):
    """A file of a run directory could not be read as the RFC says it must be."""


def _memo(method: Callable[..., Any]) -> Callable[..., Any]:
    """Cache a zero-argument method's result or its RunReadError (re-raised on every call)."""
    name = f"_memo_{method.__name__}"

    @functools.wraps(method)
    def wrapper(self: Any) -> Any:
        if name not in self.__dict__:
            try:
                self.__dict__[name] = (True, method(self))
            except RunReadError as exc:
                self.__dict__[name] = (False, exc)
        ok, value = self.__dict__[name]
        if not ok:
            raise value
        return value

    return wrapper


@dataclass
class CheckpointFiles:
    """A checkpoint directory as found on disk (nothing validated except that it parses)."""

    path: str
    header: dict[str, Any]
    entries: list[str]
    tensors: dict[str, tuple[str, tuple[int, ...], bytes]]

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: byteio.numpy_from_raw(*v) for k, v in self.tensors.items()}

    def digest(self) -> str:
        """SHA-256 over the tensors' names, dtypes, shapes and bytes (a cache key, not RFC-0010's hash)."""
        h = hashlib.sha256()
        for name in sorted(self.tensors):
            dtype, shape, data = self.tensors[name]
            h.update(f"{name}\0{dtype}\0{shape}\0".encode())
            h.update(data)
        return h.hexdigest()


@dataclass
class RunView:
    """Lazy, untrusting reader of one run directory (RFC-0010 §5)."""

    root: Path
    label: str
    harness: Any = None  # the _runs.HarnessRun that made the directory (typed loosely: _runs imports this module)
    _checkpoints: dict[str, CheckpointFiles] = field(default_factory=dict, repr=False)
    _embeddings: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)

    def fail(self, message: str) -> RunReadError:
        return RunReadError(f"{self.label}: {message}")

    # documents
    @_memo
    def manifest(self) -> dict[str, Any]:
        try:
            doc = load_json_file(confine(self.root, "manifest.json"))
        except Exception as exc:
            raise self.fail(f"cannot read manifest.json: {exc}") from exc
        if not isinstance(doc, dict):
            raise self.fail("manifest.json is not a JSON object")
        return doc

    @_memo
    def records(self) -> list[dict[str, Any]]:
        try:
            data = confine(self.root, "rounds.jsonl").read_bytes()
        except Exception as exc:
            raise self.fail(f"cannot read rounds.jsonl: {exc}") from exc
        out = []
        for i, line in enumerate(data.splitlines()):
            if not line.strip():
                continue
            try:
                out.append(loads_bounded(line, source=f"rounds.jsonl:{i + 1}"))
            except Exception as exc:
                raise self.fail(f"rounds.jsonl line {i + 1} is not valid JSON: {exc}") from exc
        return out

    @_memo
    def probe(self) -> dict[str, np.ndarray]:
        try:
            raw = byteio.read_safetensors_raw(confine(self.root, "probe.safetensors").read_bytes())
        except Exception as exc:
            raise self.fail(f"cannot read probe.safetensors: {exc}") from exc
        return {k: byteio.numpy_from_raw(*v) for k, v in raw.items()}

    def probe_points(self) -> np.ndarray:
        probe = self.probe()
        if "points" not in probe:
            raise self.fail("probe.safetensors has no `points` tensor")
        return np.asarray(probe["points"], dtype=np.float32)

    def probe_targets(self) -> np.ndarray:
        probe = self.probe()
        if "targets" not in probe:
            raise self.fail("probe.safetensors has no `targets` tensor")
        return np.asarray(probe["targets"], dtype=np.float32)

    # the manifest's view of the run
    @property
    def control(self) -> str:
        if self.harness is not None:
            return self.harness.config.control
        return str(self.manifest().get("control"))

    def config(self) -> dict[str, Any]:
        cfg = self.manifest().get("config")
        if not isinstance(cfg, dict):
            raise self.fail("manifest has no `config` object")
        return cfg

    def rounds(self) -> int:
        if self.harness is not None:
            return int(self.harness.config.rounds)
        rounds = self.config().get("rounds")
        if not isinstance(rounds, int):
            raise self.fail("manifest config has no integer `rounds`")
        return rounds

    def checkpoint_entries(self) -> list[dict[str, Any]]:
        entries = self.manifest().get("checkpoints")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise self.fail("manifest `checkpoints` is not a list of objects")
        return entries

    def global_entry(self, round_index: int) -> dict[str, Any] | None:
        hits = [
            e for e in self.checkpoint_entries() if e.get("round_index") == round_index and e.get("participant") is None
        ]
        return hits[0] if len(hits) == 1 else None

    def participant_entries(self, round_index: int) -> dict[str, dict[str, Any]]:
        return {
            str(e["participant"]): e
            for e in self.checkpoint_entries()
            if e.get("round_index") == round_index and e.get("participant") is not None
        }

    def models_of_round(self, round_index: int) -> dict[str, dict[str, Any]]:
        """``{"global": entry}`` when round t has a global, else the participants' entries."""
        g = self.global_entry(round_index)
        if g is not None:
            return {"global": g}
        return self.participant_entries(round_index)

    # checkpoints
    def checkpoint(self, rel: str) -> CheckpointFiles:
        if rel not in self._checkpoints:
            try:
                directory = confine(self.root, rel)
                header = load_json_file(confine(directory, "header.json"))
                entries = sorted(p.name for p in directory.iterdir())
                tensors: dict[str, tuple[str, tuple[int, ...], bytes]] = {}
                for wf in header.get("weight_files", []):
                    if not str(wf).endswith(".safetensors"):
                        raise ValueError(f"weight file {wf!r} is not a .safetensors file")
                    tensors.update(byteio.read_safetensors_raw(confine(directory, wf).read_bytes()))
            except Exception as exc:
                raise self.fail(f"cannot read checkpoint {rel!r}: {exc}") from exc
            self._checkpoints[rel] = CheckpointFiles(path=rel, header=header, entries=entries, tensors=tensors)
        return self._checkpoints[rel]

    def params(self, rel: str) -> dict[str, np.ndarray]:
        return self.checkpoint(rel).arrays()

    def probe_embedding(self, rel: str, model: Any) -> np.ndarray:
        """``encode(θ, points)`` for the checkpoint at ``rel`` and the run's probe file (cached)."""
        key = (rel, id(model))
        if key not in self._embeddings:
            points = self.probe_points()
            self._embeddings[key] = encode_cached(model, self.checkpoint(rel).digest(), self.params(rel), points)
        return self._embeddings[key]


#: ``model -> {(params digest, input digest): float64 latents}``. The same checkpoint is encoded by
#: several tests, and by several sessions of one process (the mutation tests); keyed by content,
#: so a changed byte is a miss. Weak keys: a model that is gone takes its entries with it.
_ENCODED: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], np.ndarray]] = weakref.WeakKeyDictionary()


def array_digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def encode_cached(model: Any, params_digest: str, params: dict[str, np.ndarray], obs: np.ndarray) -> np.ndarray:
    try:
        per_model = _ENCODED.setdefault(model, {})
    except TypeError:  # a model that cannot be weakly referenced: no cache
        return np.asarray(check.as_array(model.encode(params, obs)), dtype=np.float64)
    key = (params_digest, array_digest(obs))
    if key not in per_model:
        per_model[key] = np.asarray(check.as_array(model.encode(params, obs)), dtype=np.float64)
    return per_model[key]


def expand_run_dirs(paths: list[Path]) -> tuple[list[RunView], list[tuple[Path, dict[str, RunView]]]]:
    """``--run`` directories as (runs, comparisons): a directory with ``manifest.json`` is a run;
    one without it whose sub-directories hold runs is a comparison (its runs are listed too)."""
    runs: list[RunView] = []
    comparisons: list[tuple[Path, dict[str, RunView]]] = []
    for path in paths:
        if (path / "manifest.json").exists():
            runs.append(RunView(path, label=str(path)))
            continue
        members = {p.name: RunView(p, label=str(p)) for p in sorted(path.iterdir()) if (p / "manifest.json").exists()}
        runs.extend(members.values())
        comparisons.append((path, members))
    return runs, comparisons
