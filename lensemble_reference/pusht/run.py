"""PushT end to end: collect, split, train the four controls, plan closed loop with swm, score.

:func:`run_pusht` (``lensemble-spec pusht``):

1. **Data.** ``silos × episodes_per_silo`` episodes from swm's collection loop
   (:mod:`.collect`), split into non-IID silos by the luminance of one colour factor; the public probe is
   ``probe_size`` training frames drawn by the LeRobot path's seeded rule
   (:func:`lensemble_reference.real_data.select_probe`). Nothing is downloaded.
2. **Training.** The reference trainer's four controls of RFC-0005 §2.1 (``anchored``,
   ``naive-fedavg``, ``local-only``, ``centralized``) from one base configuration, the control
   overrides applied last (:meth:`TrainConfig.for_control`); the model's action width (2) and
   frame size follow the data. Each control writes an ordinary run directory under ``OUT/<control>``.
3. **Closed loop.** For every trained model, swm's ``World`` (``eval_episodes`` PushT envs in
   parallel, one episode each, ``reset_mode="wait"``, seeds ``eval_seed + i``, the split factor
   drawn from its full range, goals by
   :class:`.env.ReachableGoal`, at most ``budget`` steps) runs swm's ``WorldModelPolicy`` with swm's
   ``CEMSolver`` over :class:`.adapter.LatentGoalCost` (the protocol model part
   ``lensemble_reference.implementation.ReferenceModel``; the solver's seed is fixed, so every
   control plans against the same sampling noise on the same episodes). Success is swm's
   ``evaluate`` result: the environment's own ``eval_state`` on its true state at termination,
   never the latents. The local-only control is scored per silo model on the same episodes; its
   row pools the silos' trials (and lists each). Three baselines run the same episodes: swm's
   ``RandomPolicy``, a zero action (the agent stays put), and the same planner over the
   untrained round-0 model ``θ_0`` every control starts from (``untrained-planner``: what
   planning gets from a random encoder, i.e. how much of a control's success training earned).
   ``controls = ()`` (``--controls none``) runs the baselines alone.
4. **Report.** ``OUT/pusht.json``: settings, data description, per control the successes per
   episode, the rate and its 95 % Wilson interval, wall times; the same as a table on stdout.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensemble_spec.errors import ConfigError
from lensemble_spec.planning.intervals import wilson_interval
from lensemble_spec.protocol import CONTROLS


@dataclass(frozen=True)
class PushTSettings:
    """Everything a PushT comparison depends on (recorded in ``pusht.json``)."""

    seed: int = 0
    silos: int = 4
    episodes_per_silo: int = 12
    episode_len: int = 25  # frames per collected episode (T + 1)
    image_size: int = 48
    rounds: int = 4
    inner_steps: int = 25
    batch_size: int = 16
    probe_size: int = 32
    eval_episodes: int = 20
    eval_seed: int = 10_000
    goal_steps: int = 5
    budget: int = 20  # environment steps per evaluation episode
    horizon: int = 5
    receding_horizon: int = 2
    samples: int = 64
    iterations: int = 5
    topk: int = 8
    var_scale: float = 1.0
    running_cost: float = 0.0
    silo_factor: str = "block.color"
    controls: tuple[str, ...] = CONTROLS

    def validate(self) -> PushTSettings:
        for name in ("silos", "episodes_per_silo", "rounds", "inner_steps", "batch_size", "eval_episodes", "budget",
                     "horizon", "receding_horizon", "samples", "iterations", "topk"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}", field=name)
        if self.episode_len < 5:
            raise ConfigError(f"episode_len must be >= 5 frames, got {self.episode_len}", field="episode_len")
        if self.goal_steps < 0 or self.seed < 0 or self.eval_seed < 0:
            raise ConfigError("goal_steps, seed and eval_seed must be >= 0", field="goal_steps")
        if self.receding_horizon > self.horizon or self.topk > self.samples:
            raise ConfigError("need receding_horizon <= horizon and topk <= samples", field="receding_horizon")
        from .env import SILO_FACTORS

        if self.silo_factor not in SILO_FACTORS:
            raise ConfigError(
                f"silo_factor must be one of {', '.join(SILO_FACTORS)}, got {self.silo_factor!r}", field="silo_factor"
            )
        unknown = [c for c in self.controls if c not in CONTROLS]
        if unknown:
            raise ConfigError(f"unknown control(s) {unknown}; choose from {', '.join(CONTROLS)}", field="controls")
        return self


#: The CI smoke: one round, two evaluation episodes, tiny everything (about a minute on 2 cores).
SMOKE = PushTSettings(
    silos=2,
    episodes_per_silo=3,
    episode_len=12,
    image_size=32,
    rounds=1,
    inner_steps=3,
    batch_size=8,
    probe_size=16,
    eval_episodes=2,
    goal_steps=3,
    budget=6,
    horizon=3,
    receding_horizon=3,
    samples=16,
    iterations=2,
    topk=4,
)


def train_config(settings: PushTSettings) -> Any:
    """The base TrainConfig: the reference defaults at the data's shapes and the settings' budget."""
    from lensemble_reference.config import TrainConfig

    base = TrainConfig().to_dict()
    base.update(
        seed=settings.seed, rounds=settings.rounds, inner_steps=settings.inner_steps, batch_size=settings.batch_size
    )
    base["window"] = min(base["window"], settings.episode_len - 1)
    base["model"].update(action_dim=2, image_size=settings.image_size)
    base["world"].update(
        seed=settings.seed,
        horizon=settings.episode_len - 1,
        image_size=settings.image_size,
        probe_size=settings.probe_size,
        episodes_per_silo=settings.episodes_per_silo,
    )
    return TrainConfig.from_dict(base).validate()


def build_inputs(settings: PushTSettings) -> tuple[Any, dict[str, Any]]:
    """``(RunInputs, data description)`` from freshly collected episodes (step 1 of the module docstring)."""
    from lensemble_reference.federation import RunInputs
    from lensemble_reference.real_data import select_probe

    from .collect import collect_episodes, split_silos
    from .env import ENV_ID, variations

    n = settings.silos * settings.episodes_per_silo
    eps = collect_episodes(
        n,
        seed=settings.seed,
        episode_len=settings.episode_len,
        image_size=settings.image_size,
        factor=settings.silo_factor,
    )
    silos, split = split_silos(eps, settings.silos)
    sources = {name: np.array([[0, e, 0] for e in split["bands"][name]["episodes"]]) for name in silos}
    points, probe = select_probe(silos, sources, k=settings.probe_size, seed=settings.seed, frame_stride=1)
    world = {
        "schema": "lensemble-spec/pusht-data/v1",
        "source": f"stable-worldmodel {ENV_ID}",
        "policy": "stable_worldmodel.envs.pusht.expert_policy.WeakPolicy",
        "variations": variations(settings.silo_factor),
        "episodes": n,
        "episode_len": settings.episode_len,
        "dropped_short_episodes": eps.dropped,
        "split": split,
        "probe": probe,
    }
    inputs = RunInputs(
        silos=silos,
        probe_points=points,
        probe_hash=probe["probe_hash"],
        data_roots=[f"swm:{ENV_ID}?seed={settings.seed}&episodes={n}&len={settings.episode_len}"],
        world=world,
    )
    return inputs, world


def evaluate_policy(settings: PushTSettings, policy: Any) -> dict[str, Any]:
    """swm's ``World.evaluate`` of ``policy`` on the settings' fixed episodes (one per env)."""
    from .env import make_world, variations

    world = make_world(
        num_envs=settings.eval_episodes,
        image_size=settings.image_size,
        max_steps=settings.budget,
        goal_steps=settings.goal_steps,
    )
    try:
        world.set_policy(policy)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # CEMSolver prints a line per solve
            warnings.filterwarnings(
                "ignore", message=".*Casting input x", category=UserWarning
            )  # PushT's list → Box cast
            out = world.evaluate(
                episodes=settings.eval_episodes,
                seed=settings.eval_seed,
                reset_mode="wait",
                options={"variation": variations(settings.silo_factor)},
            )
    finally:
        world.close()
    order = np.argsort(np.asarray(out["seeds"]), kind="stable")
    successes = [bool(x) for x in np.asarray(out["episode_successes"])[order]]
    return {
        "seeds": [int(s) for s in np.asarray(out["seeds"])[order]],
        "successes": successes,
        "swm_success_rate_percent": float(out["success_rate"]),
    }


def planner_policy(settings: PushTSettings, params: Mapping[str, Any]) -> Any:
    """swm's ``WorldModelPolicy`` + ``CEMSolver`` over the reference model part on ``params``."""
    from lensemble_reference.implementation import ReferenceModel

    from .adapter import LatentGoalCost
    from .env import import_swm

    swm = import_swm()
    from stable_worldmodel.solver.cem import CEMSolver

    cost = LatentGoalCost(ReferenceModel(threads=1), params, running=settings.running_cost)
    solver = CEMSolver(
        cost,
        batch_size=settings.eval_episodes,
        num_samples=settings.samples,
        var_scale=settings.var_scale,
        n_steps=settings.iterations,
        topk=settings.topk,
        seed=settings.eval_seed,
    )
    config = swm.policy.PlanConfig(horizon=settings.horizon, receding_horizon=settings.receding_horizon)
    return swm.policy.WorldModelPolicy(solver, config)


def baseline_policy(name: str, settings: PushTSettings) -> Any:
    """swm's ``RandomPolicy`` (seeded) or a policy that always sends the zero action (stay put)."""
    from .env import import_swm

    policy = import_swm().policy
    if name == "random":
        return policy.RandomPolicy(seed=settings.eval_seed)

    class ZeroPolicy(policy.BasePolicy):
        def get_action(self, obs: Any, **kwargs: Any) -> np.ndarray:
            return np.zeros(self.env.action_space.shape, dtype=np.float32)

    return ZeroPolicy()


def score(successes: list[bool]) -> dict[str, Any]:
    k, n = int(sum(successes)), len(successes)
    lo, hi = wilson_interval(k, n) if n else (0.0, 1.0)  # the library's interval (RFC-0005 §6.2)
    return {"successes": k, "trials": n, "rate": k / n if n else None, "wilson95": [lo, hi]}


def run_pusht(settings: PushTSettings, out: Path, *, show_progress: bool = False, log: Any = print) -> dict[str, Any]:
    """Steps 1–4 of the module docstring; returns the ``pusht.json`` document."""
    from lensemble_reference.controls import run_control
    from lensemble_spec.artifacts.staging import check_out

    settings.validate()
    check_out(out)
    started = time.perf_counter()
    base = train_config(settings)
    inputs, world = build_inputs(settings)
    collected = time.perf_counter() - started
    log(
        f"collected {world['episodes']} PushT episodes of {settings.episode_len} frames into {settings.silos} silos "
        f"by {world['split']['factor']} in {collected:.1f}s"
    )
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, Any] = {}
    for control in settings.controls:
        t0 = time.perf_counter()
        cfg = base.for_control(control)
        result = run_control(cfg, inputs, out / control, show_progress=show_progress)
        trained = time.perf_counter() - t0
        models = result.participant_params if control == "local-only" else {"global": result.final_params}
        per_model = {}
        t1 = time.perf_counter()
        for name, params in sorted(models.items()):
            per_model[name] = evaluate_policy(settings, planner_policy(settings, params))
        pooled = [s for m in per_model.values() for s in m["successes"]]
        rows[control] = {
            **score(pooled),
            "per_model": per_model,
            "train_s": round(trained, 1),
            "eval_s": round(time.perf_counter() - t1, 1),
            "run_dir": str(result.run_dir),
        }
        log(_line(control, rows[control]))
    baselines: dict[str, Any] = {}
    from lensemble_reference.federation import initial_global

    theta0 = initial_global(base, inputs.probe_points)  # the round-0 checkpoint of every control
    for name in ("random", "zero", "untrained-planner"):
        t1 = time.perf_counter()
        policy = planner_policy(settings, theta0) if name == "untrained-planner" else baseline_policy(name, settings)
        ev = evaluate_policy(settings, policy)
        baselines[name] = {
            **score(ev["successes"]),
            "per_model": {"policy": ev},
            "eval_s": round(time.perf_counter() - t1, 1),
        }
        log(_line(f"{name} (baseline)", baselines[name]))
    doc = {
        "schema": "lensemble-spec/pusht-results/v1",
        "settings": {**asdict(settings), "controls": list(settings.controls)},
        "train_config": base.to_dict(),
        "data": world,
        "controls": rows,
        "baselines": baselines,
        "success_rule": "stable-worldmodel PushT eval_state on the true state: |goal[:4]-state[:4]| < 20 px and angle "
            "error < pi/9",
        "wall_time_s": round(time.perf_counter() - started, 1),
        "load_average_1m": list(os.getloadavg())[:1],
        "threads": base.threads,
    }
    tmp = out / "pusht.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    tmp.replace(out / "pusht.json")
    return doc


def _line(name: str, row: Mapping[str, Any]) -> str:
    lo, hi = row["wilson95"]
    text = (
        f"{name:>18}: {row['successes']:>3}/{row['trials']:<3} success {row['rate']:.2f}"
        f"  (95% Wilson {lo:.2f}-{hi:.2f})"
    )
    models = row.get("per_model", {})
    if len(models) > 1:  # local-only: one model per silo, pooled above
        text += "  per silo " + ", ".join(f"{sum(m['successes'])}/{len(m['successes'])}" for m in models.values())
    return text


def table(doc: Mapping[str, Any]) -> str:
    """The comparison as text lines (controls, then baselines)."""
    lines = [_line(c, r) for c, r in doc["controls"].items()]
    lines += [_line(f"{n} (baseline)", r) for n, r in doc["baselines"].items()]
    return "\n".join(lines)
