"""The data that crosses the protocol boundary: what the harness hands an implementation
(silos, probe, frame anchor, batches, configurations) and what ``FederationPart.run`` returns.

Re-exported by :mod:`lensemble_spec.protocol`, the public import path; its module docstring states
the promises about these arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Params = Mapping[str, Any]


# --- data the harness hands to an implementation -------------------------------------------------
@dataclass(frozen=True)
class Silo:
    """One participant's private data: ``E`` episodes of ``T + 1`` frames.

    ``obs`` is ``(E, T+1, C, H, W)`` float32 in [0, 1]; ``actions`` is ``(E, T, A)`` (the action
    taken between frame t and t+1); ``states`` is the ground-truth ``(E, T+1, S)`` kept for
    probes (an implementation MUST NOT train on it).
    """

    name: str
    obs: np.ndarray
    actions: np.ndarray
    states: np.ndarray


@dataclass(frozen=True)
class Probe:
    """The public probe: ``points`` ``(k, C, H, W)``, identical for every participant."""

    points: np.ndarray
    probe_hash: str = ""


@dataclass(frozen=True)
class FrameAnchor:
    """Frame anchor on the public probe (RFC-0002 §4).

    ``variant = "landmark"``: ``weight * mean_i ||f(points_i) - targets_i||^2`` (pins the content);
    ``variant = "frame"`` (RFC-0002 §8.1, optional): ``weight * ||Q* - I||_F^2`` with ``Q*`` the
    Procrustes rotation of ``f(points)`` onto ``targets`` (pins only the frame). ``targets``
    ``(k, d)`` are computed ONCE from the round-0 encoder on ``points`` and never refreshed.
    """

    points: np.ndarray
    targets: np.ndarray
    weight: float = 1.0
    variant: str = "landmark"


@dataclass(frozen=True)
class Batch:
    """A training/eval batch of short windows: ``obs`` ``(B, T+1, C, H, W)``, ``actions`` ``(B, T, A)``."""

    obs: np.ndarray
    actions: np.ndarray


@dataclass(frozen=True)
class OuterConfig:
    """Outer-step hyper-parameters (RFC-0003 §5): ``θ ← θ + lr·(g + μ·v)`` with Nesterov.

    The defaults are RFC-0003 §5.4's recommendation (FED-025): ``lr = 1``, no momentum — the new
    global is the mean of the released models. The reference trainer uses this type and these
    defaults for its own configuration; a federation part exposes its default as ``default_outer``.
    """

    lr: float = 1.0
    momentum: float = 0.0
    nesterov: bool = True


@dataclass(frozen=True)
class ObjectiveWeights:
    """Weights of the objective (RFC-0002 §2.3): ``total = lambda_pred·pred + lambda_sigreg·sigreg + anchor``.

    The anchor term already carries ``FrameAnchor.weight`` (``lambda_anchor``), so it has no
    weight here.
    """

    lambda_pred: float = 1.0
    lambda_sigreg: float = 0.1


@dataclass(frozen=True)
class LocalConfig:
    """Everything ``local_update`` trains with besides its data (RFC-0003 §3).

    ``inner_lr`` the learning rate of the implementation's inner optimizer (its kind is the
    implementation's choice); ``batch_size`` windows per inner step; ``window`` predicted steps per
    training window (``window + 1`` frames); ``weights`` the objective's weights; the anchor weight
    travels in the ``FrameAnchor``. ``seed`` (an argument of ``local_update``) is the participant's
    seed for the round, derived by the caller from the run's root seed; the round's SIGReg sketch
    is ``A_t = build_sketch(round_sketch_seed(root_seed, round_index), d, SKETCH_DIRECTIONS)``, the
    same for every participant of a round (RFC-0003 §6, FED-027). The harness hands ``A_t`` to a
    ``local_update`` that declares a ``sketch`` parameter; ``root_seed`` is how one that does not
    (or is called with ``sketch=None``) builds it.
    """

    inner_lr: float = 1e-3
    batch_size: int = 8
    window: int = 2
    weights: ObjectiveWeights = field(default_factory=ObjectiveWeights)
    root_seed: int = 0


@dataclass(frozen=True)
class FederationConfig:
    """What the harness asks ``FederationPart.run`` to do (and what it runs itself from primitives)."""

    control: str = "anchored"
    rounds: int = 3
    inner_steps: int = 10
    batch_size: int = 16
    inner_lr: float = 1e-3
    outer: OuterConfig = field(default_factory=OuterConfig)
    lambda_sigreg: float = 0.1
    lambda_anchor: float = 1.0
    backstop: bool = True
    backstop_threshold_deg: float = 15.0
    seed: int = 0
    min_participants: int = 1


@dataclass
class RunResult:
    """What ``FederationPart.run`` returns.

    ``records`` are RoundRecord documents (dicts valid against ``lensemble_spec.schemas``);
    ``final_params`` the committed global (or, for local-only, a mapping silo -> params in
    ``participant_params``); ``run_dir`` the directory holding manifest and checkpoints.
    """

    records: list[dict[str, Any]]
    final_params: Params | None
    run_dir: Path
    participant_params: dict[str, Params] = field(default_factory=dict)
    anchor: FrameAnchor | None = None
