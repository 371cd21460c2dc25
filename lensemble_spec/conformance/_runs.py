"""The federation runs the harness asks for, and who makes them.

Every implementation is measured on the same work: the harness world (``_world.py``) and the
configurations in :data:`RUN_SPECS` — small enough for CI, large enough that a defect shows.

A run is made by the implementation's own ``FederationPart.run(config, silos, probe, out_dir)``
when it has one, and by the harness through the implementation's primitives (``_driver.py``)
when it exposes them — both when it has both. The suite then reads what a run left behind
(:class:`~._runview.RunView`) exactly as it would read a directory handed to it with ``--run``,
so every path shares every check.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.protocol import (
    CONTROLS,
    FederationConfig,
    OuterConfig,
    Probe,
    RunResult,
    Silo,
)

from . import _bytes as byteio
from . import bounds
from ._runview import RunView
from ._world import HARNESS_SPLIT, HarnessWorld, world_for


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
    return Probe(points=points, probe_hash=byteio.probe_hash(points))


def _constant_probe(w: HarnessWorld, d: int) -> Probe:
    points = np.ascontiguousarray(np.repeat(w.probe.points[:1], w.probe.points.shape[0], axis=0))
    return Probe(points=points, probe_hash=byteio.probe_hash(points))


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
