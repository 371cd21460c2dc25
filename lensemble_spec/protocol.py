"""The interface an implementation exposes to the conformance harness (framework-neutral).

An implementation module exposes one object (by default the attribute ``IMPLEMENTATION``) with a
``name``, a ``version`` and up to four capability parts. A part that is ``None`` means its
requirements are *not implemented* (reported as such, never as passed).

Conventions shared by every part (RFC-0002 §2):

* Latents are **row vectors**: ``encode`` returns ``(N, d)``; a gauge transform by an orthogonal
  ``Q`` maps ``z -> z @ Q``; Procrustes returns ``Q`` with ``source @ Q ≈ target``.
* Parameters are a mapping ``name -> array`` (anything ``numpy.asarray`` accepts, torch tensors
  included). The harness never looks inside beyond comparing and hashing arrays; deltas have the
  same names and shapes as the parameters they are added to.
* Observations are ``float32`` arrays ``(N, C, H, W)`` in ``[0, 1]``; actions ``(N, A)``.
* A SIGReg sketch is a ``(d, m)`` matrix of unit columns; co-rotating it with ``Q`` means
  ``A -> Q.T @ A`` so that ``(z Q)(Qᵀ A) = z A``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np

from .errors import ProtocolError

Params = Mapping[str, Any]

#: Names of the capability parts, in report order.
PARTS = ("gauge", "model", "federation", "artifacts")

#: Control names (RFC-0005 §2).
CONTROLS = ("local-only", "naive-fedavg", "anchored", "centralized")


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
    """Outer-step hyper-parameters (RFC-0003 §5): ``θ ← θ + lr·(g + μ·v)`` with Nesterov."""

    lr: float = 0.5
    momentum: float = 0.0
    nesterov: bool = True


@dataclass(frozen=True)
class FederationConfig:
    """What the harness asks ``FederationPart.run`` to do."""

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


# --- capability parts ----------------------------------------------------------------------------
@runtime_checkable
class GaugePart(Protocol):
    """The implementation's own gauge primitives, checked against lensemble_spec.metrics."""

    def procrustes_align(self, source: Any, target: Any) -> Any:
        """Orthogonal ``Q`` (d, d) minimising ``||source @ Q - target||_F``."""

    def rotation_angle_deg(self, q: Any) -> float:
        """Scalar drift angle of an orthogonal matrix (RFC-0002 §6)."""

    def frame_drift_deg(self, source: Any, target: Any) -> float:
        """Drift angle between two embeddings of the same probe; raises on a degenerate frame."""

    def effective_rank(self, z: Any) -> float: ...

    def latent_std_mean(self, z: Any) -> float: ...


@runtime_checkable
class ModelPart(Protocol):
    latent_dim: int
    action_dim: int
    obs_shape: tuple[int, int, int]

    def init(self, seed: int) -> Params: ...

    def encode(self, params: Params, obs: Any) -> Any: ...

    def predict(self, params: Params, z: Any, action: Any) -> Any: ...

    def loss_terms(
        self, params: Params, batch: Batch, *, sketch: Any, anchor: FrameAnchor | None = None
    ) -> Mapping[str, float]:
        """Return floats ``pred``, ``sigreg``, ``anchor`` (0 without an anchor) and ``total``."""

    def rotate(self, params: Params, q: Any) -> Params:
        """Params whose encoder emits ``z @ q`` and whose predictor is conjugated."""


@runtime_checkable
class FederationPart(Protocol):
    def local_update(
        self,
        global_params: Params,
        silo: Silo,
        *,
        steps: int,
        seed: int,
        round_index: int,
        anchor: FrameAnchor | None = None,
    ) -> Params:
        """H inner steps from ``global_params`` on ``silo``; returns ``delta = local - global``."""

    def outer_init(self, params: Params) -> Any:
        """Fresh outer-optimizer state (zero velocity)."""

    def outer_step(
        self, global_params: Params, deltas: Mapping[str, Params], state: Any, config: OuterConfig
    ) -> tuple[Params, Any]:
        """Pure: returns (new global, new state); must not mutate its inputs."""

    def align_release(
        self, global_params: Params, local_params: Params, probe_points: Any, reference: Any
    ) -> tuple[Params, Any]:
        """Procrustes backstop: (aligned local params, Q) with encode(aligned) ≈ reference frame."""

    def run(
        self, config: FederationConfig, silos: Mapping[str, Silo], probe: Probe, out_dir: Path
    ) -> RunResult: ...


@runtime_checkable
class ArtifactsPart(Protocol):
    def save_checkpoint(
        self,
        params: Params,
        directory: Path,
        *,
        round_index: int,
        parent_hash: str | None,
        config_hash: str,
    ) -> str:
        """Write an RFC-0010 checkpoint directory; return its content hash."""

    def load_checkpoint(self, directory: Path) -> Params:
        """Load and verify (hash, dtype, no pickle); raise CheckpointIntegrityError on mismatch."""


_PART_TYPES: dict[str, type] = {
    "gauge": GaugePart,
    "model": ModelPart,
    "federation": FederationPart,
    "artifacts": ArtifactsPart,
}


@dataclass
class Implementation:
    """What ``--impl`` resolves to."""

    name: str
    version: str
    gauge: GaugePart | None = None
    model: ModelPart | None = None
    federation: FederationPart | None = None
    artifacts: ArtifactsPart | None = None

    def capabilities(self) -> list[str]:
        return [p for p in PARTS if getattr(self, p, None) is not None]


def validate_implementation(obj: Any, *, source: str = "<object>") -> Implementation:
    """Check ``obj`` has a name, a version and well-formed parts; return it typed.

    A part that is present but lacks a required member raises :class:`ProtocolError` naming
    the member, so a half-built adapter fails at configure time, not deep inside a test.
    """
    for attr in ("name", "version"):
        if not isinstance(getattr(obj, attr, None), str) or not getattr(obj, attr):
            raise ProtocolError(f"{source}: implementation object has no non-empty string `{attr}`")
    for part in PARTS:
        value = getattr(obj, part, None)
        if value is None:
            continue
        missing = [m for m in _protocol_members(_PART_TYPES[part]) if not hasattr(value, m)]
        if missing:
            raise ProtocolError(
                f"{source}: part `{part}` lacks {', '.join(sorted(missing))}",
                part=part,
                missing=missing,
            )
    if isinstance(obj, Implementation):
        return obj
    return Implementation(
        name=obj.name,
        version=obj.version,
        **{p: getattr(obj, p, None) for p in PARTS},
    )


def _protocol_members(proto: type) -> list[str]:
    names = set(getattr(proto, "__annotations__", {}))
    names |= {n for n, v in vars(proto).items() if callable(v) and not n.startswith("_")}
    return sorted(names)


def resolve_implementation(spec: str | None) -> Implementation:
    """Resolve ``module`` or ``module:attribute`` (default attribute ``IMPLEMENTATION``).

    Falls back to the ``LENSEMBLE_SPEC_IMPL`` environment variable when ``spec`` is empty.
    """
    spec = spec or os.environ.get("LENSEMBLE_SPEC_IMPL", "")
    if not spec:
        raise ProtocolError(
            "no implementation given",
            remediation="Pass --impl module[:attribute] or set LENSEMBLE_SPEC_IMPL.",
        )
    module_name, _, attr = spec.partition(":")
    attr = attr or "IMPLEMENTATION"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProtocolError(
            f"cannot import implementation module {module_name!r}: {exc}",
            remediation="Check the module is installed in this environment and spelled as an import path.",
        ) from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ProtocolError(
                f"module {module_name!r} has no attribute {attr!r}",
                remediation="Expose the implementation object as IMPLEMENTATION or name it with module:attribute.",
            )
        obj = getattr(obj, part)
    if callable(obj) and not hasattr(obj, "name"):
        obj = obj()  # a factory
    return validate_implementation(obj, source=spec)
