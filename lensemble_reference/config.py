"""Training configuration of the reference trainer: one frozen, JSON-able dataclass tree.

A config is plain data: ``to_dict()`` gives the JSON document whose ``config_hash`` the run
manifest and every checkpoint header carry; ``from_dict()`` rebuilds it and rejects unknown or
ill-typed keys with :class:`~lensemble_spec.errors.ConfigError` (never a ``TypeError`` from deep
inside). ``for_control(control)`` applies the control's fixed overrides (RFC-0005 §2) so the four
headline controls differ ONLY in the fields listed in :data:`CONTROL_OVERRIDES`.

Defaults and why (the embedded default runs all four controls in about 3 minutes on 2 idle
cores, one torch thread; the numbers below were measured on the embedded world, see the
headline report and the issue notes for the commands):

* ``latent_dim = 16``, ``probe_size = 32``: ``k = 2d`` landmarks make Procrustes well-posed, and
  a rank collapse (→ 1–3) is clearly distinguishable from a healthy spread.
* ``rounds = 24``, ``inner_steps (H) = 50``, ``inner_lr = 2e-3`` (AdamW, fresh moments never
  leave the silo): enough local drift per round that naive averaging visibly loses the frame
  (the naive global ends ~300° from the reference). 24 rather than 6 rounds because the
  anchored control keeps gaining held-out state-probe R² (seed 0: 0.272 → 0.308; seed 1:
  0.277 → 0.302) while local-only silos do not (0.279 → 0.259; 0.293 → 0.275): they overfit
  their own appearance; 45 s → 181 s wall.
* ``lambda_sigreg = 10``: ``sigreg_statistic`` has no sample-count multiplier (its null floor is
  ~0.5/M), whereas LeWM multiplies by the batch (λ = 0.09 × B = 128 ≈ 11.5 effective); with
  ``λ = 1`` or ``0.1`` held-out rank fell from 12 to ~5–6 and scale to ~0.15–0.25.
* ``lambda_anchor = 0.05``: the landmark anchor pins the probe embedding's CONTENT to the random
  round-0 encoder, not just its frame, so it costs representation quality: at ``λ = 1`` held-out
  state-probe R² stayed at its initial ~0.18; at ``0.05`` it reaches ~0.27 with drift ≤ 12°;
  at ``0.01`` the round-1 drift already exceeds the 30° bound, at ``0.001`` (backstop only) the
  averaged global lands 158° off the reference with its probe scale shrunk to 0.15.
* ``anchor_variant = "landmark"``: the anchor of RFC-0002 §4. ``"frame"`` selects the frame-only
  anchor (RFC-0002 §8.1, ``w·‖Q* − I‖²``), which pins the probe embedding's frame but not its
  content; the multi-seed headline compares it (as variant ``frame-anchor``, weight 1.0, not
  tuned) with the landmark anchor.
* Outer step ``lr = 1.0, momentum = 0`` (momentum-free FedAvg: ``θ' = mean`` of the released
  models). RFC-0003 §5.4 recommends (SHOULD) ``lr = 0.5``; measured here, the half step costs the
  federated controls ~0.06–0.1 R² at this budget while the gauge stays held at ``lr = 1`` (the
  backstop has already put every released model in the reference frame; with the backstop on the
  coordinator also re-aligns the averaged global, see ``federation.align_aggregate``). What "tames" the
  step is ``momentum = 0``: momentum would keep re-applying last round's disagreement after the
  backstop corrected it. The same outer step is used by every control (EVAL-003/004).
* Backstop threshold 5° (the harness uses RFC-0002 §9's 15°): a participant whose probe frame is
  more than 5° off the reference is re-aligned before release. Measured over seeds 0–3 at
  24 × 50 (anchored only; the other controls have no backstop), held-out state-probe R² rose
  from 0.308 / 0.302 / 0.306 / 0.140 at 15° to 0.320 / 0.316 / 0.319 / 0.167, the final drift to
  the reference fell from ~5° to ~1.3°, and the round-1 maximum is unchanged (every participant
  fires in round 1 at any threshold). The anchor weight, not the threshold, bounds round 1.
* ``target_stop_gradient = True``: targets ``z_{t+1}`` are detached, so the prediction loss cannot
  lower itself by moving the targets (shrinking or slowing them), a direct collapse pressure;
  the encoder is shaped through the predictor's input, SIGReg keeps the marginals spread.
  (Measured: no-stop-gradient gave the same held-out R² within noise at this budget.)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lensemble_spec.artifacts.safe_json import load_json_file
from lensemble_spec.errors import ConfigError, LensembleError
from lensemble_spec.protocol import CONTROLS


@dataclass(frozen=True)
class WorldConfig:
    """Arguments of ``lensemble_spec.worlds.make_world`` (the embedded synthetic default)."""

    seed: int = 0
    episodes_per_silo: int = 24
    horizon: int = 24
    image_size: int = 48
    probe_size: int = 32


@dataclass(frozen=True)
class ModelConfig:
    """Encoder/predictor shapes. ``action_dim`` must match the data (checked at run start)."""

    latent_dim: int = 16
    channels: tuple[int, int, int] = (32, 64, 64)
    pred_hidden: int = 128
    pred_depth: int = 2
    action_dim: int = 5
    image_size: int = 48
    in_channels: int = 3



def default_threads() -> int:
    """torch intra-op threads when a config does not say: ``LENSEMBLE_THREADS``, else
    ``OMP_NUM_THREADS``, else 1.

    The count is recorded in the config (it changes floating-point reduction order, so a run is
    bitwise reproducible only at the same count). One thread by default because the networks are
    small and OpenMP worker threads spin while they wait: measured on 2 cores, two processes of
    two threads each (a conformance session beside a headline run, or two mutation workers) ran
    more than ten times slower than the same work single-threaded. ``--threads 2`` (or
    ``LENSEMBLE_THREADS=2``) is faster on an otherwise idle machine.
    """
    for name in ("LENSEMBLE_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1

@dataclass(frozen=True)
class OuterSettings:
    """``θ ← θ + lr·u`` with ``v ← μv + g`` and ``u = g + μv`` (Nesterov) or ``u = v``."""

    lr: float = 1.0
    momentum: float = 0.0
    nesterov: bool = True


@dataclass(frozen=True)
class TrainConfig:
    control: str = "anchored"
    seed: int = 0  # the run's root seed (FederationConfig.seed; RunManifest.root_seed)
    rounds: int = 24
    inner_steps: int = 50
    batch_size: int = 16
    window: int = 3  # predicted steps per training window (T); windows hold T+1 frames
    episodes_per_batch: int = 0  # 0: windows drawn i.i.d.; k > 0: every batch from k episodes
    inner_lr: float = 2e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    lambda_pred: float = 1.0
    lambda_sigreg: float = 10.0
    lambda_anchor: float = 0.05
    anchor_variant: str = "landmark"  # "landmark" (RFC-0002 §4) or "frame" (§8.1)
    sketch_dim: int = 64
    target_stop_gradient: bool = True
    backstop: bool = True
    backstop_threshold_deg: float = 5.0
    outer: OuterSettings = field(default_factory=OuterSettings)
    min_participants: int = 1
    threads: int = field(default_factory=lambda: default_threads())
    model: ModelConfig = field(default_factory=ModelConfig)
    world: WorldConfig = field(default_factory=WorldConfig)

    @property
    def root_seed(self) -> int:
        """Alias of ``seed`` (the RunManifest's name for it)."""
        return self.seed

    # -- (de)serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        return _build(cls, data, "config")

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def validate(self) -> TrainConfig:
        """Raise ConfigError naming the first out-of-range field; return self."""
        if self.control not in CONTROLS:
            raise ConfigError(f"control must be one of {', '.join(CONTROLS)}, got {self.control!r}", field="control")
        positive_ints = ("rounds", "inner_steps", "batch_size", "window", "sketch_dim", "threads")
        for name in positive_ints:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}", field=name)
        for name in ("inner_lr", "lambda_pred"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}", field=name)
        for name in ("weight_decay", "grad_clip", "lambda_sigreg", "lambda_anchor", "backstop_threshold_deg"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}", field=name)
        if not 0 < self.outer.lr <= 1.0 or not 0 <= self.outer.momentum < 1:
            raise ConfigError("outer.lr must be in (0, 1] and outer.momentum in [0, 1)", field="outer")
        if self.anchor_variant not in ("landmark", "frame"):
            raise ConfigError(
                f"anchor_variant must be 'landmark' or 'frame', got {self.anchor_variant!r}", field="anchor_variant"
            )
        if self.episodes_per_batch < 0:
            raise ConfigError(
                f"episodes_per_batch must be >= 0, got {self.episodes_per_batch}", field="episodes_per_batch"
            )
        if self.seed < 0 or self.min_participants < 1:
            raise ConfigError("seed must be >= 0 and min_participants >= 1", field="seed")
        m = self.model
        if m.latent_dim < 2 or m.pred_hidden < 1 or m.pred_depth < 0 or min(m.channels) < 1:
            raise ConfigError("model sizes must be positive and latent_dim >= 2", field="model")
        if m.image_size % 16 != 0:
            raise ConfigError(
                f"model.image_size must be a multiple of 16, got {m.image_size}", field="model.image_size"
            )
        if self.world.image_size != m.image_size:
            raise ConfigError(
                f"world.image_size ({self.world.image_size}) must equal model.image_size ({m.image_size})",
                field="world.image_size",
            )
        if self.window > self.world.horizon:
            raise ConfigError(f"window ({self.window}) must be <= world.horizon ({self.world.horizon})", field="window")
        if self.world.probe_size < m.latent_dim:
            raise ConfigError(
                f"world.probe_size ({self.world.probe_size}) must be >= latent_dim ({m.latent_dim}) "
                "so the probe pins every latent direction",
                field="world.probe_size",
            )
        from .limits import check_limits

        check_limits(self)  # ceilings, seed range, memory estimate (lensemble_reference.limits)
        return self

    def for_control(self, control: str) -> TrainConfig:
        """This config with ``control`` and its fixed overrides applied (see CONTROL_OVERRIDES)."""
        if control not in CONTROLS:
            raise ConfigError(f"control must be one of {', '.join(CONTROLS)}, got {control!r}", field="control")
        data = self.to_dict()
        data["control"] = control
        for key, value in CONTROL_OVERRIDES[control].items():
            _set_path(data, key, value)
        return TrainConfig.from_dict(data).validate()


#: What each control changes relative to the shared base config (RFC-0005 §2.1). Everything else
#: (seeds, data, model, rounds, H, inner optimiser, SIGReg, outer step) is identical across controls
#: (EVAL-003); naive-fedavg differs from anchored ONLY in the anchor weight and the backstop
#: (EVAL-004), so a difference between those two rows is caused by the anchor + backstop. The
#: local-only and centralized controls train one party's model each and share no frame, so they
#: train without anchor and backstop (RFC-0005 §2.1): they are what a party gets by training
#: alone (or by pooling the data), not an anchored federation without its aggregation.
CONTROL_OVERRIDES: dict[str, dict[str, Any]] = {
    "anchored": {},
    "naive-fedavg": {"lambda_anchor": 0.0, "backstop": False},
    "local-only": {"lambda_anchor": 0.0, "backstop": False},
    "centralized": {"lambda_anchor": 0.0, "backstop": False},
}


#: A config file is a small document: larger or deeper ones are refused unread.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_DEPTH = 8


def load_config(
    path: str | Path | None,
    overrides: Mapping[str, Any] | None = None,
    *,
    control: str | None = None,
) -> TrainConfig:
    """Defaults → ``control``'s overrides (if given) → JSON file → dotted ``overrides``; validated.

    Missing keys take defaults; unknown keys raise ConfigError. With ``control`` the file and the
    flags may still change a control-defining field (e.g. a weaker anchor for ``anchored``): the
    manifest records the resolved config, so such a run is never mistaken for the default control.
    """
    data: dict[str, Any] = TrainConfig().to_dict()
    if control is not None:
        data = TrainConfig().for_control(control).to_dict()
    if path is not None:
        p = Path(path)
        try:  # bounded: a regular file, size and depth capped, NaN and duplicate keys refused
            loaded = load_json_file(p, max_bytes=MAX_CONFIG_BYTES, max_depth=MAX_CONFIG_DEPTH)
        except LensembleError as exc:
            raise ConfigError(
                f"config file {p}: {exc.message}",
                remediation="Pass a small JSON object file (keys of TrainConfig, each once) to --config.",
            ) from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {p} must hold a JSON object")
        _merge(data, loaded, "config")
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_path(data, key, value)
    return TrainConfig.from_dict(data).validate()


# --- helpers ----------------------------------------------------------------------------------------
def _to_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    return obj


def _merge(base: dict[str, Any], new: Mapping[str, Any], where: str) -> None:
    for key, value in new.items():
        if key not in base:
            raise ConfigError(f"unknown config key {where}.{key}", field=f"{where}.{key}")
        if isinstance(base[key], dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}.{key} must be an object", field=f"{where}.{key}")
            _merge(base[key], value, f"{where}.{key}")
        else:
            base[key] = value


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        if part not in node or not isinstance(node[part], dict):
            raise ConfigError(f"unknown config key {dotted}", field=dotted)
        node = node[part]
    if parts[-1] not in node:
        raise ConfigError(f"unknown config key {dotted}", field=dotted)
    node[parts[-1]] = value


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be an object")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(f'{where}.{k}' for k in unknown)}", field=unknown[0])
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        f = known[name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        path = f"{where}.{name}"
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value, path)
        else:
            kwargs[name] = _coerce(value, default, path)
    return cls(**kwargs)


def _coerce(value: Any, default: Any, path: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{path} must be true or false, got {value!r}", field=path)
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path} must be an integer, got {value!r}", field=path)
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path} must be a number, got {value!r}", field=path)
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{path} must be finite", field=path)
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{path} must be a string, got {value!r}", field=path)
        return value
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            raise ConfigError(f"{path} must be a list of {len(default)} values", field=path)
        return tuple(_coerce(v, d, path) for v, d in zip(value, default))
    return value
