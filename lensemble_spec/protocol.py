"""The interface an implementation exposes to the conformance harness (framework-neutral).

An implementation module exposes one object (by default the attribute ``IMPLEMENTATION``) with a
``name``, a ``version`` and up to four capability parts. A part that is ``None`` means its
requirements are *not implemented* (reported as such, never as passed). Inside a present part,
any method may raise ``NotImplementedError``: the tests that need that method are then reported
*not implemented* too (``FederationPart.run`` may simply be absent). Everything below is also
stated in RFC-0003 §8 ("What crosses the protocol boundary").

What the harness hands an implementation (the promise; it never passes anything else):

* **Arrays are numpy arrays**, C-contiguous, of dtype ``float32`` unless stated: observations
  ``(N, C, H, W)`` in ``[0, 1]``; actions ``(N, A)`` in ``[-4, 4]``; latents ``(N, d)``;
  orthogonal matrices ``(d, d)`` ``float64``; sketches ``(d, m)`` of unit columns. Gauge-part
  inputs are ``float64`` or ``float32`` (they may contain NaN/Inf or have a wrong shape where a test checks the
  error). No torch tensor, no ``bfloat16`` array and no other array type reaches a method, except
  parameters the implementation itself returned, which are passed back unchanged, and one
  ``torch.bfloat16`` tensor given to an artifacts part that lists ``"bfloat16"`` in ``dtypes``.
* **The harness world** (``lensemble_spec.worlds``): 3-channel square frames of side ``H`` (32 by
  default; the model part's ``obs_shape`` if it declares another square RGB side that is a
  multiple of 8), ``A = 5`` action dimensions, ``S = 5`` ground-truth state dimensions, 4 silos
  of 16 episodes of 13 frames (``T = 12``), a 16-episode held-out split and a public probe of
  ``max(64, 2·d)`` frames. A model part declaring ``action_dim != 5`` or another frame shape
  cannot be fed: its model-level requirements are reported as a harness precondition not met.
* **Parameters** are whatever ``init`` returned: a mapping ``name -> array`` that the harness
  only copies, compares, hashes, adds deltas to (in the parameter's dtype) and passes back.
  Names that are released (deltas, checkpoints) are ``encoder.*`` and ``predictor.*`` (FED-002).

What an implementation returns: anything ``numpy.asarray`` accepts (torch tensors are detached
and moved to the CPU first; ``bfloat16`` tensors are widened to ``float32``).

Errors: every error a requirement asks for names a family of :mod:`lensemble_spec.errors`. An
implementation with its own exception classes declares ``error_map`` on its implementation
object — ``{TheirError: lensemble_spec.errors.InputError, ...}`` — and the harness reads an
exception of a mapped class (or a subclass) as the spec family it maps to (:func:`lensemble_spec.guard.spec_error`).

Conventions shared by every part (RFC-0002 §2):

* Latents are **row vectors**: ``encode`` returns ``(N, d)``; a gauge transform by an orthogonal
  ``Q`` maps ``z -> z @ Q``; Procrustes returns ``Q`` with ``source @ Q ≈ target``. An encoder
  that emits several tokens per frame pools them (e.g. the mean over tokens) inside ``encode``:
  the protocol latent is one row per frame.
* A SIGReg sketch is a ``(d, m)`` matrix of unit columns; co-rotating it with ``Q`` means
  ``A -> Q.T @ A`` so that ``(z Q)(Qᵀ A) = z A``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .constants import CONTROLS as CONTROLS  # re-exported: protocol.CONTROLS is public
from .constants import PARTS
from .errors import ProtocolError
from .protocol_data import (  # noqa: F401 -- re-exported: lensemble_spec.protocol is the public import path
    Batch,
    FederationConfig,
    FrameAnchor,
    LocalConfig,
    ObjectiveWeights,
    OuterConfig,
    Params,
    Probe,
    RunResult,
    Silo,
)


# --- capability parts ----------------------------------------------------------------------------
# Every method below may raise NotImplementedError: the requirements whose tests call it are then
# reported *not implemented*. "Raises X (REQ)" names the spec family a conforming implementation
# raises (directly, a subclass, or a class mapped onto it by ``error_map``) and the requirement
# that says so.
@runtime_checkable
class GaugePart(Protocol):
    """The implementation's own gauge primitives (RFC-0002 §3, §7), checked against their definitions.

    Inputs are float64 numpy arrays; outputs anything ``numpy.asarray`` accepts.
    """

    def procrustes_align(self, source: Any, target: Any) -> Any:
        """Orthogonal ``Q`` (d, d) over O(d) minimising ``||source @ Q - target||_F`` (GAUGE-010 to 013).

        ``source``/``target`` are ``(k, d)``. Raises DegenerateProcrustes for a degenerate frame
        (GAUGE-014); InputError for input that is not 2-D, differs in shape, has fewer than two
        rows or is non-finite (GAUGE-015, SHOULD; any typed lensemble error is accepted there).
        """

    def rotation_angle_deg(self, q: Any) -> float:
        """Drift angle ``(180/π)·sqrt(½ Σ arg(λ_i)²)`` of an orthogonal ``(d, d)`` matrix (GAUGE-016 to 018)."""

    def frame_drift_deg(self, source: Any, target: Any) -> float:
        """``rotation_angle_deg(procrustes_align(source, target))`` (GAUGE-019, a self-consistency rule).

        Raises DegenerateProcrustes for a degenerate frame and never returns a number for one
        (GAUGE-020).
        """

    def effective_rank(self, z: Any) -> float:
        """RankMe of ``(N, d)`` latents (GAUGE-036 to 038); ``0.0`` or EvaluationError for a constant batch
        (GAUGE-037)."""

    def latent_std_mean(self, z: Any) -> float:
        """Mean over dimensions of the population std of ``(N, d)`` latents (GAUGE-039)."""


@runtime_checkable
class ModelPart(Protocol):
    """The world model (RFC-0002 §2): encoder, action-conditioned predictor, objective, gauge action.

    ``latent_dim`` ``d``, ``action_dim`` ``A`` and ``obs_shape`` ``(C, H, W)`` say what the model
    takes; the harness feeds only models whose shapes its world has (module docstring).
    """

    latent_dim: int
    action_dim: int
    obs_shape: tuple[int, int, int]

    def init(self, seed: int) -> Params:
        """Fresh parameters from an integer seed (same seed, same bits)."""

    def encode(self, params: Params, obs: Any) -> Any:
        """``(N, C, H, W)`` float32 frames → ``(N, d)`` finite latents, deterministic (GAUGE-001).

        A multi-token encoder pools its tokens here: the protocol latent is one row per frame.
        """

    def predict(self, params: Params, z: Any, action: Any) -> Any:
        """``(N, d)`` latents and ``(N, A)`` actions → ``(N, d)`` next latents (GAUGE-001)."""

    def loss_terms(
        self,
        params: Params,
        batch: Batch,
        *,
        sketch: Any,
        anchor: FrameAnchor | None = None,
        weights: ObjectiveWeights | None = None,
    ) -> Mapping[str, float]:
        """Floats ``pred``, ``sigreg``, ``anchor`` and ``total`` on ``batch`` (RFC-0002 §2.3, §4).

        ``total = weights.lambda_pred·pred + weights.lambda_sigreg·sigreg + anchor`` (GAUGE-009,
        GAUGE-021); ``anchor`` is exactly 0.0 without an anchor (GAUGE-009). The harness always
        passes ``weights``; ``None`` means the implementation's own defaults. Raises ProbeError
        for an anchor with fewer points than ``d`` (GAUGE-022).
        """

    def rotate(self, params: Params, q: Any) -> Params:
        """Params whose encoder emits ``z @ q`` and whose predictor is conjugated (GAUGE-002 to 004)."""


@runtime_checkable
class FederationPart(Protocol):
    """The participant step, the outer step and the backstop (RFC-0003, RFC-0002 §5).

    From these primitives the harness runs the federation itself; ``run`` (the implementation's
    own round loop writing an RFC-0010 run directory) is optional: absent, or raising
    NotImplementedError, it is reported *not implemented* and the harness's runs are still judged.
    """

    def local_update(
        self,
        global_params: Params,
        silo: Silo,
        *,
        steps: int,
        seed: int,
        round_index: int,
        anchor: FrameAnchor | None = None,
        config: LocalConfig | None = None,
        sketch: Any | None = None,
    ) -> Params:
        """``steps`` inner steps from ``global_params`` on ``silo``; returns ``delta = local − global``.

        Same names, shapes and dtypes as the global (FED-001); exactly zero for ``steps=0``
        (FED-007); never reads ``silo.states`` (FED-004); modifies nothing it is given (FED-006).
        ``config`` carries learning rate, batch size, window and objective weights (the harness
        always passes it; ``None`` means the implementation's defaults). Raises ProbeError for an
        anchor with fewer points than ``d`` and a positive weight (GAUGE-022).

        ``sketch`` (an optional parameter since lensemble-spec 0.2): the round's SIGReg sketch
        ``A_t``, a ``(d, SKETCH_DIRECTIONS)`` float32 array of unit columns. Given one, the
        participant trains its SIGReg term with exactly that matrix; given ``None``, with ``A_t``
        built from ``config.root_seed`` and ``round_index`` (RFC-0003 §6.2). Both are FED-027,
        checked only on a ``local_update`` that declares a parameter named ``sketch``
        (:func:`local_update_takes_sketch`); a signature without it keeps working and FED-027 is
        then reported as not observable.
        """

    def outer_init(self, params: Params) -> Any:
        """Fresh outer-optimizer state (zero velocity) for a global shaped like ``params`` (FED-017).

        The state is an explicit value the caller owns: the harness passes the state returned by
        one ``outer_step`` to the next, copies it, and compares copies; it must be deep-copyable
        and contain no reference to the implementation's own mutable objects.
        """

    def outer_step(
        self, global_params: Params, deltas: Mapping[str, Params], state: Any, config: OuterConfig
    ) -> tuple[Params, Any]:
        """Pure: ``(new global, new state)`` per RFC-0003 §5.1 (FED-015 to 021); mutates nothing (FED-018).

        Raises QuorumNotMet for no deltas (FED-022); AggregationError for a delta whose names,
        shapes or dtypes differ from the global's, a same-size transpose included (FED-023), or
        that is non-finite (FED-024); ResidencyViolation for a name outside ``encoder.*`` /
        ``predictor.*`` (FED-003). A raising call leaves ``state`` usable unchanged (FED-014).
        """

    def align_release(
        self, global_params: Params, local_params: Params, probe_points: Any, reference: Any
    ) -> tuple[Params, Any]:
        """Procrustes backstop: ``(rotate(local, Q), Q)`` with ``Q = procrustes(encode(local, points), reference)``.

        GAUGE-026 to GAUGE-030; raises DegenerateProcrustes when the local probe embedding is
        degenerate (GAUGE-030).
        """


@runtime_checkable
class RunnableFederation(Protocol):
    """The optional ``run`` of a federation part."""

    def run(
        self, config: FederationConfig, silos: Mapping[str, Silo], probe: Probe, out_dir: Path
    ) -> RunResult:
        """Optional (:data:`OPTIONAL_MEMBERS`): run one control end to end with the
        implementation's own round loop and write its RFC-0010 run directory under ``out_dir``.
        Without it the harness drives the federation through the primitives above and checks the
        run-level requirements on the runs it writes; with it, the implementation's own runs are
        checked as well.

        Raises ConfigError for an unknown control, ProbeError for a probe with ``k < d`` and an
        anchor (GAUGE-022), QuorumNotMet below ``min_participants`` (FED-022).
        """


@runtime_checkable
class ArtifactsPart(Protocol):
    """RFC-0010 checkpoints. The harness saves float32 tensors except in the dtype-coverage tests."""

    def save_checkpoint(
        self,
        params: Params,
        directory: Path,
        *,
        round_index: int,
        parent_hash: str | None,
        config_hash: str,
    ) -> str:
        """Write an RFC-0010 checkpoint directory; return its content hash (ART-001 to 012).

        Raises ArtifactError for a dtype it does not store (ART-005) or an existing ``directory``
        (ART-012); ResidencyViolation for a name outside ``encoder.*``/``predictor.*`` (ART-006).
        An implementation may store fewer dtypes than RFC-0010 allows (declare ``dtypes``, a
        collection of numpy dtype names, on the part; the dtype-coverage checks use only those).
        """

    def load_checkpoint(self, directory: Path) -> Params:
        """Load and verify a checkpoint (ART-009, 010, 026 to 029).

        Raises CheckpointIntegrityError on a hash mismatch or a pickle-capable file (ART-003,
        ART-009); PathEscape for a path leaving the directory (ART-026); ArtifactError for
        oversized, too deep or lax JSON (ART-027, ART-028); SchemaVersionMismatch (ART-029).
        """


def local_update_takes_sketch(federation: Any) -> bool:
    """True when ``federation.local_update`` declares a parameter named ``sketch`` (keyword-callable).

    A bare ``**kwargs`` does not count: it may swallow the argument, and FED-027 would then blame
    an adapter written before the parameter existed.
    """
    import inspect

    try:
        params = inspect.signature(federation.local_update).parameters
    except (AttributeError, TypeError, ValueError):
        return False
    p = params.get("sketch")
    return p is not None and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


#: Members a part may lack entirely: without ``run`` the harness drives the federation itself
#: through the primitives (RFC-0003), so the run-level requirements still apply.
OPTIONAL_MEMBERS: dict[str, frozenset[str]] = {"federation": frozenset({"run"})}

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
    #: The implementation's own exception classes -> the spec family each one means.
    error_map: Mapping[type, type] = field(default_factory=dict)

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
        optional = OPTIONAL_MEMBERS.get(part, frozenset())
        missing = [m for m in _protocol_members(_PART_TYPES[part]) if not hasattr(value, m) and m not in optional]
        if missing:
            raise ProtocolError(
                f"{source}: part `{part}` lacks {', '.join(sorted(missing))}",
                part=part,
                missing=missing,
            )
    error_map = _check_error_map(getattr(obj, "error_map", None) or {}, source)
    if isinstance(obj, Implementation):
        return obj
    return Implementation(
        name=obj.name,
        version=obj.version,
        error_map=error_map,
        **{p: getattr(obj, p, None) for p in PARTS},
    )


def _check_error_map(error_map: Any, source: str) -> dict[type, type]:
    from . import errors

    if not isinstance(error_map, Mapping):
        raise ProtocolError(
            f"{source}: `error_map` must be a mapping of exception classes to lensemble_spec.errors classes"
        )
    out: dict[type, type] = {}
    for theirs, family in error_map.items():
        if not (isinstance(theirs, type) and issubclass(theirs, BaseException)):
            raise ProtocolError(f"{source}: error_map key {theirs!r} is not an exception class")
        if not (isinstance(family, type) and issubclass(family, errors.LensembleError)):
            raise ProtocolError(
                f"{source}: error_map maps {theirs.__name__} to {family!r}, which is not a lensemble_spec.errors class",
                remediation="Map each of your exception classes to a family of lensemble_spec.errors (e.g. "
                            "InputError, ArtifactError).",
            )
        out[theirs] = family
    return out


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
