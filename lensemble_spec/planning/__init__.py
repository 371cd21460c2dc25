"""Closed-loop latent planning (RFC-0005 §6.2): planners, costs, the evaluator and its interval.

* :mod:`.planners` — seeded, batched CEM and MPPI over action sequences (numpy only);
* :mod:`.cost` — goal-conditioned costs: on a model part's latents, or on the true state;
* :mod:`.closed_loop` — the evaluator on the arm world and the baselines (random, zero, true dynamics);
* :mod:`.intervals` — the Wilson score interval of a success rate over episodes;
* :mod:`.record` — the results table's ``planning`` object and the RFC's conditions.
"""

from .closed_loop import (
    BASELINES,
    Conditions,
    LatentPlanner,
    Outcome,
    RandomPolicy,
    TrueDynamicsPlanner,
    ZeroPolicy,
    evaluate_baselines,
    evaluate_models,
    run_episodes,
)
from .intervals import METHOD as INTERVAL_METHOD
from .intervals import wilson_interval
from .planners import PLANNERS, PlannerConfig, plan, shift
from .record import (
    BASELINE_PREFIX,
    outcome_doc,
    planning_record,
    rfc_conditions,
    style_from_dict,
)

__all__ = [
    "BASELINES",
    "BASELINE_PREFIX",
    "INTERVAL_METHOD",
    "PLANNERS",
    "Conditions",
    "LatentPlanner",
    "Outcome",
    "PlannerConfig",
    "RandomPolicy",
    "TrueDynamicsPlanner",
    "ZeroPolicy",
    "evaluate_baselines",
    "evaluate_models",
    "outcome_doc",
    "plan",
    "planning_record",
    "rfc_conditions",
    "run_episodes",
    "shift",
    "style_from_dict",
    "wilson_interval",
]
