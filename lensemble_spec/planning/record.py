"""The ``planning`` object of a results table (RFC-0005 §6.2): conditions, environment, outcomes.

:func:`rfc_conditions` reads the reference headline's conditions from the RFC's ``MPC_*`` harness
parameters (RFC-0005 §8), so the text and the code cannot disagree. :func:`planning_record`
evaluates the three baselines under the same conditions and assembles the record; the controls'
outcomes are passed in (each from :func:`.closed_loop.evaluate_models` on that control's final
model or models). :func:`style_from_dict` rebuilds the environment's appearance from a record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..worlds.render import Style
from .closed_loop import BASELINES, Conditions, Outcome, evaluate_baselines
from .intervals import METHOD, wilson_interval
from .planners import PlannerConfig

BASELINE_PREFIX = "baseline/"


def rfc_conditions(rfc_dir: Any = None) -> Conditions:
    """The §6.2 conditions stated as RFC-0005 §8 harness parameters (packaged RFCs by default)."""
    from ..requirements import load_catalog

    cat = load_catalog() if rfc_dir is None else load_catalog(rfc_dir)
    p = cat.param
    return Conditions(
        episodes=int(p("MPC_EPISODES")),
        steps=int(p("MPC_STEPS")),
        replan_every=int(p("MPC_REPLAN_EVERY")),
        success_radius=float(p("MPC_SUCCESS_RADIUS")),
        min_separation=float(p("MPC_MIN_SEPARATION")),
        running_weight=float(p("MPC_RUNNING_WEIGHT")),
        seed=int(p("MPC_SEED")),
        planner=PlannerConfig(
            method=str(p("MPC_PLANNER")),
            horizon=int(p("MPC_HORIZON")),
            samples=int(p("MPC_SAMPLES")),
            iterations=int(p("MPC_ITERATIONS")),
            elites=int(p("MPC_ELITES")),
            init_std_fraction=float(p("MPC_INIT_STD_FRACTION")),
        ),
    )


def style_from_dict(data: Any) -> Style:
    """A :class:`Style` from ``Style.to_dict()`` output (ConfigError when it is not one)."""
    try:
        return Style(**{k: tuple(v) if isinstance(v, list) else v for k, v in dict(data).items()})
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"not a recorded appearance: {exc}",
            remediation="Record the environment's style as Style.to_dict() writes it.",
        ) from None


def outcome_doc(outcome: Outcome) -> dict[str, Any]:
    """A ``PlanningOutcome`` document: per-episode distances and flags, the rate and its Wilson interval."""
    n, k = int(outcome.success.size), int(np.count_nonzero(outcome.success))
    low, high = wilson_interval(k, n)
    return {
        "tasks_digest": outcome.tasks_digest,
        "final_distance": [float(x) for x in outcome.final_distance],
        "success": [bool(x) for x in outcome.success],
        "rate": k / n,
        "low": low,
        "high": high,
    }


def planning_record(
    conditions: Conditions, style: Style, image_size: int, controls: Mapping[str, Outcome]
) -> dict[str, Any]:
    """The ``planning`` object: the controls' outcomes plus the baselines evaluated here, same conditions."""
    outcomes = {name: outcome_doc(o) for name, o in controls.items()}
    for name, o in evaluate_baselines(conditions, style, image_size).items():
        outcomes[BASELINE_PREFIX + name] = outcome_doc(o)
    return {
        "conditions": conditions.to_dict(),
        "environment": {"style": style.to_dict(), "image_size": int(image_size)},
        "interval_method": METHOD,
        "outcomes": outcomes,
    }


__all__ = ["BASELINES", "BASELINE_PREFIX", "outcome_doc", "planning_record", "rfc_conditions", "style_from_dict"]
