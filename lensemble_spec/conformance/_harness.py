"""The harness's own work: the synthetic world, the federation runs it asks for, and run readers.

Every implementation is measured on the same work: the world is
``lensemble_spec.worlds.make_world(0, **HARNESS_SIZES)`` rendered at the model part's observation
size (the harness world is 32 px; a model declaring another square RGB size gets the same world
at that size, and a probe of at least ``2·d`` points), and the runs are the configurations in
:data:`RUN_SPECS` — small enough for CI, large enough that a defect shows.

A run is made by the implementation's own ``FederationPart.run(config, silos, probe, out_dir)``
when it has one, and by the harness through the implementation's primitives (``_driver.py``)
when it exposes them — both when it has both. The suite then reads what a run left behind
(:class:`RunView`) exactly as it would read a directory handed to it with ``--run``, so every
path shares every check.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.artifacts import confine, load_json_file, loads_bounded
from lensemble_spec.protocol import (
    CONTROLS,
    FederationConfig,
    OuterConfig,
    Probe,
    RunResult,
    Silo,
)
from lensemble_spec.worlds import ACTION_DIM, HARNESS_SIZES, make_world

from . import _oracle as oracle
from . import bounds

#: World seed of every harness run (the silos, held-out split and probe are a function of it).
WORLD_SEED = 0
#: The results-table ``split`` naming the harness world's held-out split (see _comparison.py).
HARNESS_SPLIT = "lensemble-spec/harness-world"


# --- the world ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HarnessWorld:
    silos: dict[str, Silo]
    heldout: Silo
    probe: Probe
    image_size: int


@functools.lru_cache(maxsize=4)
def harness_world(
    image_size: int = HARNESS_SIZES["image_size"], min_probe: int = HARNESS_SIZES["probe_size"]
) -> HarnessWorld:
    sizes = dict(HARNESS_SIZES, image_size=int(image_size), probe_size=max(int(min_probe), HARNESS_SIZES["probe_size"]))
    w = make_world(WORLD_SEED, **sizes)
    return HarnessWorld(silos=dict(w.silos), heldout=w.heldout, probe=w.probe, image_size=int(image_size))


def world_problem(model: Any) -> str | None:
    """Why the harness world cannot feed ``model`` (None when it can)."""
    if model is None:
        return None
    shape = tuple(int(s) for s in model.obs_shape)
    if len(shape) != 3 or shape[0] != 3 or shape[1] != shape[2] or shape[1] % 8:
        return f"the harness world renders square RGB frames (3, H, H), H a multiple of 8; the model wants {shape}"
    if int(model.action_dim) != ACTION_DIM:
        return f"the harness world has {ACTION_DIM}-dim actions; the model wants {model.action_dim}"
    return None


def world_for(model: Any) -> HarnessWorld:
    if model is None:
        return harness_world()
    return harness_world(int(model.obs_shape[-1]), 2 * int(model.latent_dim))


# --- the runs the harness asks for -------------------------------------------------------------------
def base_config(level: str) -> FederationConfig:
    """The anchored configuration of the harness comparison (RFC-0005 §2) at ``level``."""
    rounds, steps, batch = (3, 5, 8) if level == "full" else (2, 4, 8)
    return FederationConfig(
        control="anchored",
        rounds=rounds,
        inner_steps=steps,
        batch_size=batch,
        inner_lr=1e-3,
        outer=OuterConfig(lr=0.5, momentum=0.0, nesterov=True),
        lambda_sigreg=0.1,
        lambda_anchor=1.0,
        backstop=True,
        backstop_threshold_deg=bounds.BACKSTOP_THRESHOLD_DEG,
        seed=0,
        min_participants=2,
    )


def control_config(base: FederationConfig, control: str) -> FederationConfig:
    """``base`` for ``control``: every control but ``anchored`` drops the anchor and the backstop
    (RFC-0005 §2.1); for the naive control that is its only difference (EVAL-004)."""
    if control != "anchored":
        return dataclasses.replace(base, control=control, lambda_anchor=0.0, backstop=False)
    return dataclasses.replace(base, control=control)


def tiny(base: FederationConfig, **changes: Any) -> FederationConfig:
    """A one-round, one-step variant for behaviour checks that need a run but no training."""
    return dataclasses.replace(base, rounds=1, inner_steps=1, batch_size=4, **changes)


@dataclass(frozen=True)
class RunSpec:
    """How to make one harness run: its config, which silos, which probe."""

    config: Callable[[str], FederationConfig]
    silos: Callable[[HarnessWorld], dict[str, Silo]] = lambda w: dict(w.silos)
    probe: Callable[[HarnessWorld, int], Probe] = lambda w, d: w.probe
    #: An exception type name the run is expected to raise (the run is then a negative check).
    expects: str | None = None


def _two_silos(w: HarnessWorld) -> dict[str, Silo]:
    return {k: w.silos[k] for k in sorted(w.silos)[:2]}


def _short_probe(w: HarnessWorld, d: int) -> Probe:
    points = np.ascontiguousarray(w.probe.points[: max(d - 1, 1)])
    return Probe(points=points, probe_hash=oracle.probe_hash(points))


def _constant_probe(w: HarnessWorld, d: int) -> Probe:
    points = np.ascontiguousarray(np.repeat(w.probe.points[:1], w.probe.points.shape[0], axis=0))
    return Probe(points=points, probe_hash=oracle.probe_hash(points))


RUN_SPECS: dict[str, RunSpec] = {
    # the comparison (only "anchored" is made at --level quick)
    **{c: RunSpec(config=(lambda lvl, c=c: control_config(base_config(lvl), c))) for c in CONTROLS},
    # behaviour checks
    "quorum": RunSpec(
        config=lambda lvl: tiny(base_config(lvl), min_participants=3), silos=_two_silos, expects="QuorumNotMet"
    ),
    "short-probe": RunSpec(
        config=lambda lvl: tiny(base_config(lvl)), silos=_two_silos, probe=_short_probe, expects="ProbeError"
    ),
    # naive control: a constant probe cannot pin a frame, so no anchored bound applies to this run
    "degenerate-probe": RunSpec(
        config=lambda lvl: tiny(control_config(base_config(lvl), "naive-fedavg")),
        silos=_two_silos,
        probe=_constant_probe,
    ),
    "tiny-naive": RunSpec(config=lambda lvl: tiny(control_config(base_config(lvl), "naive-fedavg")), silos=_two_silos),
    "always-fire": RunSpec(config=lambda lvl: tiny(base_config(lvl), backstop_threshold_deg=0.0), silos=_two_silos),
    "twin-a": RunSpec(config=lambda lvl: tiny(base_config(lvl)), silos=_two_silos),
    "twin-b": RunSpec(config=lambda lvl: tiny(base_config(lvl)), silos=_two_silos),
}


@dataclass
class HarnessRun:
    """One run the harness asked for, and what came back.

    ``driver`` says who coordinated it: ``"run"`` (the implementation's own
    ``FederationPart.run``) or ``"primitives"`` (the harness, through the implementation's
    ``init``/``encode``/``local_update``/``outer_step``/``align_release``, see ``_driver.py``).
    """

    name: str
    config: FederationConfig
    silos: dict[str, Silo]
    probe: Probe
    out_dir: Path
    driver: str = "run"
    result: RunResult | None = None
    error: BaseException | None = None
    seconds: float = 0.0

    @property
    def view(self) -> RunView:
        prefix = "harness" if self.driver == "run" else "harness-driven"
        return RunView(
            self.out_dir if self.result is None else Path(self.result.run_dir),
            label=f"{prefix}:{self.name}",
            harness=self,
        )


class Runner:
    """Makes (once per session) and caches the harness runs of one implementation.

    Two sources of runs: the implementation's own ``FederationPart.run`` (optional) and the
    harness driving the RFC-0003 federation through the implementation's primitives
    (:func:`~._driver.drive_run`). :meth:`get` prefers the implementation's own run for behaviour
    checks; run-level requirements are applied to both (:meth:`sources`).
    """

    def __init__(self, federation: Any, model: Any, level: str, root: Path) -> None:
        from ._driver import can_drive

        self.federation = federation
        self.model = model
        self.level = level
        self.root = root
        self.world = world_for(model)
        self.has_run = callable(getattr(federation, "run", None))
        self.can_drive = can_drive(model, federation)
        self._runs: dict[tuple[str, str], HarnessRun] = {}

    def sources(self) -> list[str]:
        """The drivers this implementation's runs come from: ``"run"`` and/or ``"primitives"``."""
        out = ["run"] if self.has_run else []
        if self.can_drive:
            out.append("primitives")
        return out

    def get(self, name: str) -> HarnessRun:
        """The implementation's own run when it has ``run``, else the primitive-driven one."""
        if self.has_run:
            run = self.make(name, "run")
            if not isinstance(run.error, NotImplementedError) or not self.can_drive:
                return run
            self.has_run = False  # ``run`` declared unavailable (protocol: NotImplementedError)
        return self.make(name, "primitives")

    def make(self, name: str, driver: str) -> HarnessRun:
        key = (name, driver)
        if key not in self._runs:
            spec = RUN_SPECS[name]
            d = int(self.model.latent_dim) if self.model is not None else 16
            run = HarnessRun(
                name=name,
                config=spec.config(self.level),
                silos=spec.silos(self.world),
                probe=spec.probe(self.world, d),
                out_dir=self.root / driver / ("comparison" if name in CONTROLS else "runs") / name,
                driver=driver,
            )
            start = time.perf_counter()
            try:
                if driver == "run":
                    run.result = self.federation.run(run.config, run.silos, run.probe, run.out_dir)
                else:
                    from ._driver import drive_run

                    run.result = drive_run(self.model, self.federation, run.config, run.silos, run.probe, run.out_dir)
            except Exception as exc:  # recorded; fixtures and tests decide what it means
                run.error = exc
            run.seconds = time.perf_counter() - start
            self._runs[key] = run
        return self._runs[key]

    def heldout_path(self) -> Path:
        """The harness world's held-out split as a safetensors file (outside every run directory)."""
        from ._comparison import heldout_file

        return heldout_file(self.world.heldout, self.root / "heldout.safetensors")

    def comparison(self, driver: str) -> Path:
        """The comparison directory of ``driver``'s four control runs, with its ``results.json``
        (written once, after every control ran; see ``_comparison.py``)."""
        from ._comparison import RESULTS_FILE, write_results

        runs = [self.make(c, driver) for c in CONTROLS]
        directory = self.root / driver / "comparison"
        if not (directory / RESULTS_FILE).exists() and all(r.error is None and r.result is not None for r in runs):
            write_results(
                directory, self.model, self.heldout_path(), split_name=HARNESS_SPLIT, seed=runs[0].config.seed
            )
        return directory

    def made(self) -> dict[str, HarnessRun]:
        return {f"{driver}:{name}": run for (name, driver), run in self._runs.items()}


# --- reading a run directory ---------------------------------------------------------------------------
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
        return {k: oracle.numpy_from_raw(*v) for k, v in self.tensors.items()}

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
    harness: HarnessRun | None = None
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
            raw = oracle.read_safetensors_raw(confine(self.root, "probe.safetensors").read_bytes())
        except Exception as exc:
            raise self.fail(f"cannot read probe.safetensors: {exc}") from exc
        return {k: oracle.numpy_from_raw(*v) for k, v in raw.items()}

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
                    tensors.update(oracle.read_safetensors_raw(confine(directory, wf).read_bytes()))
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
        return np.asarray(oracle.as_array(model.encode(params, obs)), dtype=np.float64)
    key = (params_digest, array_digest(obs))
    if key not in per_model:
        per_model[key] = np.asarray(oracle.as_array(model.encode(params, obs)), dtype=np.float64)
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


def require(condition: bool, problems: list[str], message: str) -> None:
    if not condition:
        problems.append(message)


def assert_no_problems(problems: list[str], what: str) -> None:
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise AssertionError(f"{what}:\n  {shown}{more}")
