"""Training configuration of the reference trainer: one frozen, JSON-able dataclass tree.

A config is plain data: ``to_dict()`` gives the JSON document whose ``config_hash`` the run
manifest and every checkpoint header carry; ``from_dict()`` rebuilds it and rejects unknown or
ill-typed keys with :class:`~lensemble_spec.errors.ConfigError` (never a ``TypeError`` from deep
inside). ``for_control(control)`` applies the control's fixed overrides (RFC-0005 §2) so the four
headline controls differ ONLY in the fields listed in :data:`CONTROL_OVERRIDES`.

Defaults and why (the measurements behind them, with the commands, are in
``docs/reference-defaults.md``):

* ``latent_dim = 16``, ``probe_size = 32``: ``k = 2d`` landmarks make Procrustes well-posed, and
  a rank collapse (→ 1–3) is clearly distinguishable from a healthy spread.
* ``rounds = 24``, ``inner_steps (H) = 50``, ``inner_lr = 2e-3`` (AdamW, fresh moments never
  leave the silo): enough local drift per round that naive averaging visibly loses the frame,
  and enough rounds that the anchored control's held-out quality keeps improving after the
  local-only silos start to overfit their own appearance.
* ``lambda_sigreg = 10``: ``sigreg_statistic`` has no sample-count multiplier, whereas LeWM
  multiplies by the batch; smaller weights let held-out rank and scale fall.
* ``lambda_anchor = 0.05``: the landmark anchor pins the probe embedding's CONTENT to the random
  round-0 encoder, not just its frame, so a heavy anchor costs representation quality and a
  light one lets the round-1 drift exceed the 30° bound.
* ``anchor_variant = "landmark"``: the anchor of RFC-0002 §4. ``"frame"`` selects the frame-only
  anchor (RFC-0002 §8.1, ``w·‖Q* − I‖²``), which pins the probe embedding's frame but not its
  content; the multi-seed headline compares it (as variant ``frame-anchor``, weight 1.0, not
  tuned) with the landmark anchor.
* Outer step: ``lensemble_spec.protocol.OuterConfig`` with its defaults, ``lr = 1.0, momentum = 0``
  (momentum-free FedAvg: ``θ' = mean`` of the released models), RFC-0003 §5.4's recommendation
  (FED-025). Measured at the headline settings (8 × 25, seeds 0–2, RFC-0003 §5.4 gives the
  command and the table), ``lr = 0.5`` lowered the anchored control's held-out R² on every seed
  (mean 0.239 vs 0.257) with the same frame (largest drift ≤ 4.9° either way); what "tames" the
  step is ``momentum = 0``: momentum would keep re-applying last round's disagreement after the
  backstop corrected it. With the backstop on the coordinator also re-aligns the averaged global
  (``federation.align_aggregate``). The same outer step is used by every control (EVAL-003/004).
* ``sketch_generator``: the SIGReg sketch generator (RFC-0003 §6.2), recorded so the
  configuration hash names it; the only value is ``"splitmix64-ratio-of-uniforms"``. A resumed
  run whose recorded configuration lacks it was started by lensemble-spec 0.1 and is refused
  (:meth:`TrainConfig.from_recorded`, RFC-0003 §6.3).
* Backstop threshold 5° (the harness uses RFC-0002 §9's 15°): a participant whose probe frame is
  more than 5° off the reference is re-aligned before release; the anchor weight, not the
  threshold, bounds round 1 (every participant fires in round 1 at any threshold).
* ``target_stop_gradient = True``: targets ``z_{t+1}`` are detached, so the prediction loss cannot
  lower itself by moving the targets (shrinking or slowing them), a direct collapse pressure;
  the encoder is shaped through the predictor's input, SIGReg keeps the marginals spread.
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
from lensemble_spec.metrics.sketch import LEGACY_SKETCH_GENERATOR, SKETCH_GENERATOR
from lensemble_spec.protocol import CONTROLS, OuterConfig


@dataclass(frozen=True)
class WorldConfig:
    """Arguments of ``lensemble_spec.worlds.make_world`` (the embedded synthetic default)."""

    seed: int = 0
    episodes_per_silo: int = 24
    horizon: int = 24
    image_size: int = 48
    probe_size: int = 32

    def keywords(self) -> dict[str, int]:
        """The keyword arguments of ``make_world(seed, **…)`` / ``make_spec(seed, **…)``: every field but ``seed``."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "seed"}


@dataclass(frozen=True)
class DataConfig:
    """Loader options of real (LeRobot) data; they change the silos, so they enter ``config_hash``.

    ``source = "world"`` (the default) means the embedded synthetic world and the other fields are
    unused; such a config serialises WITHOUT a ``data`` member, so the configuration hashes of
    synthetic runs are those of configs written before this section existed. ``source =
    "lerobot"``: ``frame_stride`` keeps every s-th source frame, ``max_frames_per_episode`` caps
    the frames read per episode (0: no cap), ``split`` is the loader's split mode (``auto``,
    ``by_root``, ``pooled``; ``site`` for a Flower site that trains on its whole root) and
    ``image_key`` the camera feature ("" = the first one).
    """

    source: str = "world"
    frame_stride: int = 1
    max_frames_per_episode: int = 0
    split: str = "auto"
    image_key: str = ""


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
    sketch_generator: str = SKETCH_GENERATOR  # RFC-0003 §6.2; recorded so the config hash names it (§6.3)
    target_stop_gradient: bool = True
    backstop: bool = True
    backstop_threshold_deg: float = 5.0
    outer: OuterConfig = field(default_factory=OuterConfig)  # the protocol's type and defaults (RFC-0003 §5.4)
    min_participants: int = 1
    threads: int = field(default_factory=lambda: default_threads())
    model: ModelConfig = field(default_factory=ModelConfig)
    world: WorldConfig = field(default_factory=WorldConfig)
    data: DataConfig = field(default_factory=DataConfig)

    @property
    def root_seed(self) -> int:
        """Alias of ``seed`` (the RunManifest's name for it)."""
        return self.seed

    # -- (de)serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = _to_jsonable(dataclasses.asdict(self))
        if self.data == DataConfig():  # synthetic data: no member, hashes as before (DataConfig)
            del out["data"]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        return _build(cls, data, "config")

    @classmethod
    def from_recorded(cls, data: Mapping[str, Any], where: str) -> TrainConfig:
        """A configuration a run recorded (to resume it): like :meth:`from_dict`, but one without
        ``sketch_generator`` was written by lensemble-spec 0.1, whose sketches this version does
        not build, and is refused rather than continued with other sketches (RFC-0003 §6.3)."""
        if isinstance(data, Mapping) and "sketch_generator" not in data:
            raise ConfigError(
                f"{where} was started by lensemble-spec 0.1, which trained with the {LEGACY_SKETCH_GENERATOR} "
                f"SIGReg sketches; this version builds {SKETCH_GENERATOR} sketches (RFC-0003 §6.3), so it cannot "
                f"continue it",
                remediation="Start the run again with this version (runs are deterministic, FED-028), or finish it "
                    "with lensemble-spec 0.1.",
                field="sketch_generator",
            )
        return cls.from_dict(data).validate()

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
        if self.sketch_generator != SKETCH_GENERATOR:
            legacy = self.sketch_generator == LEGACY_SKETCH_GENERATOR
            raise ConfigError(
                f"sketch_generator {self.sketch_generator!r} is "
                + ("lensemble-spec 0.1's NumPy generator, which this version no longer builds" if legacy else "unknown")
                + f"; the only generator is {SKETCH_GENERATOR!r} (RFC-0003 §6.2)",
                remediation=f"Drop sketch_generator from the configuration (or set {SKETCH_GENERATOR!r})"
                + ("; to reproduce a run trained with the old sketches use lensemble-spec 0.1." if legacy else "."),
                field="sketch_generator",
            )
        if self.anchor_variant not in ("landmark", "frame"):
            raise ConfigError(
                f"anchor_variant must be 'landmark' or 'frame', got {self.anchor_variant!r}", field="anchor_variant"
            )
        if self.episodes_per_batch < 0:
            raise ConfigError(
                f"episodes_per_batch must be >= 0, got {self.episodes_per_batch}", field="episodes_per_batch"
            )
        d = self.data
        if d.source not in DATA_SOURCES or d.split not in DATA_SPLITS:
            raise ConfigError(
                f"data.source must be one of {DATA_SOURCES} and data.split one of {DATA_SPLITS}", field="data"
            )
        if d.frame_stride < 1 or d.max_frames_per_episode < 0:
            raise ConfigError("data.frame_stride must be >= 1 and data.max_frames_per_episode >= 0", field="data")
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


#: ``DataConfig.source`` and ``DataConfig.split`` values.
DATA_SOURCES = ("world", "lerobot")
DATA_SPLITS = ("auto", "by_root", "pooled", "site")


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
    data["data"] = dataclasses.asdict(DataConfig())  # so a file may set the loader options
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
