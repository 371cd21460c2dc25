"""Builds a complete, RFC-conformant comparison directory built from a tiny linear model (fast, no training).

Layout (RFC-0010 §5, RFC-0005 §2)::

    comparison/
      results.json                       ResultsTable, one row per control
      anchored/ naive-fedavg/ local-only/ centralized/
        manifest.json  rounds.jsonl  probe.safetensors
        checkpoints/round-0000/ …         the round-0 global θ_0, then each committed global
        checkpoints/<silo>/round-000r/    local-only participants' models
    heldout.safetensors                  the held-out split (outside the runs, as the RFC requires)
    hub/                                 a Hugging Face cache holding the pinned final weights

The model: ``encode(θ, obs) = flatten(obs) @ θ["encoder.w"]`` (16 → d = 4) and
``predict(θ, z, a) = z @ θ["predictor.a"] + a @ θ["predictor.b"]``. Every recorded number is
computed here from ``lensemble_spec.metrics`` with the RFC rules written out independently of
``lensemble_spec.verify`` (mean/max over participants, ⌊E/2⌋ probe split, verdict rules), so the
verifier's recomputation is checked against a second derivation, not against itself.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save as st_save

from lensemble_spec.artifacts import atomic_write_json, canonical_json, config_hash, probe_hash
from lensemble_spec.artifacts.checkpoint import save_checkpoint
from lensemble_spec.metrics import (
    derive_seed,
    effective_dim,
    effective_rank,
    frame_drift,
    latent_rms,
    latent_std_mean,
    skill_vs_identity,
    state_probe_r2,
    val_pred,
)
from lensemble_spec.protocol import Implementation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pins"))  # the hub-cache builder

D, FEATURES, K, ACTION = 4, 16, 12, 2
E, T = 4, 3  # held-out episodes, steps per episode
ROUNDS = 2
SILOS = ("silo0", "silo1")
PRODUCER = {"name": "tests/verify", "version": "1"}
PIN_REVISION = "0123456789abcdef0123456789abcdef01234567"


class ToyModel:
    latent_dim = D
    action_dim = ACTION
    obs_shape = (1, 4, 4)

    def init(self, seed: int) -> dict[str, np.ndarray]:
        return make_theta0(seed)

    def encode(self, params: Any, obs: Any) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)
        return x @ np.asarray(params["encoder.w"], dtype=np.float32)

    def predict(self, params: Any, z: Any, action: Any) -> np.ndarray:
        return (
            np.asarray(z, np.float32) @ params["predictor.a"] + np.asarray(action, np.float32) @ params["predictor.b"]
        )

    def loss_terms(self, params: Any, batch: Any, *, sketch: Any, anchor: Any = None) -> dict[str, float]:
        raise NotImplementedError

    def rotate(self, params: Any, q: Any) -> dict[str, np.ndarray]:
        q = np.asarray(q, np.float32)
        return {
            **params,
            "encoder.w": params["encoder.w"] @ q,
            "predictor.a": q.T @ params["predictor.a"] @ q,
            "predictor.b": params["predictor.b"] @ q,
        }


TOY = Implementation(name="toy", version="1", model=ToyModel())


def rotation(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    q = np.eye(D)
    q[:2, :2] = [[c, -s], [s, c]]
    return q


def make_theta0(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "encoder.w": rng.normal(0, 0.5, (FEATURES, D)).astype(np.float32),
        "predictor.a": (np.eye(D) * 0.9).astype(np.float32),
        "predictor.b": rng.normal(0, 0.1, (ACTION, D)).astype(np.float32),
    }


def rotated(theta: dict[str, np.ndarray], deg: float, scale: float = 1.0) -> dict[str, np.ndarray]:
    out = dict(TOY.model.rotate(theta, rotation(deg)))  # type: ignore[union-attr]
    out["encoder.w"] = (out["encoder.w"] * scale).astype(np.float32)
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def _f(x: Any) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


# --- the record and row metrics, written out from the RFC text -------------------------------------
def probe_record_metrics(
    models: dict[str, dict], points: np.ndarray, targets: np.ndarray, *, pairwise: bool
) -> dict[str, Any]:
    embs = {n: TOY.model.encode(p, points) for n, p in sorted(models.items())}  # type: ignore[union-attr]
    ranks = [effective_rank(z) for z in embs.values()]
    out: dict[str, Any] = {
        "effective_rank": float(np.mean(ranks)),
        "effective_dim": float(np.mean([effective_dim(z) for z in embs.values()])),
        "latent_std_mean": float(np.mean([latent_std_mean(z) for z in embs.values()])),
        "latent_rms": float(np.mean([latent_rms(z) for z in embs.values()])),
        "drift_to_reference_deg": float(
            max(frame_drift({"m": z}, reference=targets).to_reference["m"].angle_deg for z in embs.values())
        ),
        "drift_degenerate": False,
    }
    if pairwise:
        s = frame_drift(embs).summary()
        out["drift_pairwise_mean_deg"], out["drift_pairwise_max_deg"] = (
            s["drift_pairwise_mean_deg"],
            s["drift_pairwise_max_deg"],
        )
    return out


def heldout_row_metrics(
    models: dict[str, dict], heldout: dict[str, np.ndarray], points: np.ndarray, targets: np.ndarray
) -> dict[str, Any]:
    per = []
    obs, actions, states = heldout["obs"], heldout["actions"], heldout["states"]
    n_fit = E // 2
    for params in models.values():
        z = TOY.model.encode(params, obs.reshape(E * (T + 1), *obs.shape[2:])).reshape(E, T + 1, D)  # type: ignore[union-attr]
        cur, nxt = z[:, :-1].reshape(-1, D), z[:, 1:].reshape(-1, D)
        pred = TOY.model.predict(params, cur, actions.reshape(-1, ACTION))  # type: ignore[union-attr]
        flat = z.reshape(-1, D)
        per.append(
            {
                "effective_rank": effective_rank(flat),
                "effective_dim": effective_dim(flat),
                "latent_std_mean": latent_std_mean(flat),
                "latent_rms": latent_rms(flat),
                "val_pred": val_pred(pred, nxt),
                "val_pred_identity": val_pred(cur, nxt),
                "skill_vs_identity": skill_vs_identity(pred, nxt, cur),
                "state_probe_r2": state_probe_r2(
                    z[:n_fit].reshape(-1, D),
                    states[:n_fit].reshape(-1, 2),
                    z[n_fit:].reshape(-1, D),
                    states[n_fit:].reshape(-1, 2),
                ),
                "drift_to_reference_deg": frame_drift({"m": TOY.model.encode(params, points)}, reference=targets)
                .to_reference["m"]
                .angle_deg,  # type: ignore[union-attr]
            }
        )
    return {
        k: (
            float(np.max([p[k] for p in per])) if k == "drift_to_reference_deg" else float(np.mean([p[k] for p in per]))
        )
        for k in per[0]
    }


def verdict(metrics: dict[str, Any], series: dict[str, list]) -> str:
    if any(metrics[k] is None for k in ("effective_rank", "latent_std_mean", "latent_rms", "state_probe_r2")):
        return "diverged"
    if (
        metrics["effective_rank"] < 0.25 * metrics["latent_dim"]
        or metrics["latent_std_mean"] < 1e-3
        or metrics["drift_to_reference_deg"] is None
    ):
        return "collapsed"
    if any(x is not None and x > 30.0 for x in series["drift_to_reference_deg"]):
        return "drifted"
    return "gauge-held"


# --- writing ------------------------------------------------------------------------------------
def config_for(control: str) -> dict[str, Any]:
    anchored = control != "naive-fedavg"
    return {
        "control": control,
        "rounds": ROUNDS,
        "inner_steps": 5,
        "batch_size": 4,
        "inner_lr": 0.001,
        "outer": {"lr": 0.5, "momentum": 0.0, "nesterov": True},
        "lambda_sigreg": 0.1,
        "lambda_anchor": 1.0 if anchored else 0.0,
        "backstop": control == "anchored",
        "backstop_threshold_deg": 15.0,
        "seed": 7,
        "min_participants": 1,
        "out_dir": f"/somewhere/{control}",  # a sink path: not hashed
    }


def model_schedule(control: str) -> dict[int, dict[str, dict]]:
    """Round -> {name: params}; 'global' for a global model, silo names for local-only participants."""
    theta0 = make_theta0(0)
    out: dict[int, dict[str, dict]] = {0: {"global": theta0}}
    for r in range(1, ROUNDS + 1):
        if control == "local-only":
            out[r] = {"silo0": rotated(theta0, 40.0 * r), "silo1": rotated(theta0, -25.0 * r)}
        elif control == "naive-fedavg":
            out[r] = {"global": rotated(theta0, 60.0 * r, scale=10.0 ** (-2 * r))}
        else:
            out[r] = {"global": rotated(theta0, 4.0 * r, scale=1.0 + 0.1 * r)}
    return out


def write_run(root: Path, control: str, points: np.ndarray, heldout: dict[str, np.ndarray]) -> dict[str, Any]:
    root.mkdir(parents=True)
    cfg = config_for(control)
    chash = config_hash(cfg)
    schedule = model_schedule(control)
    theta0 = schedule[0]["global"]
    targets = TOY.model.encode(theta0, points)  # type: ignore[union-attr]
    (root / "probe.safetensors").write_bytes(st_save({"points": points, "targets": targets}))
    checkpoints, records, parents = [], [], {}
    series: dict[str, list] = {
        k: [] for k in ("effective_rank", "latent_std_mean", "latent_rms", "drift_to_reference_deg")
    }
    run_id = f"{control}-test"
    for r in range(ROUNDS + 1):
        models = schedule[r]
        global_hash = None
        for name, params in models.items():
            if name == "global":
                rel = f"checkpoints/round-{r:04d}"
                parent = parents.get("global")
            else:
                rel = f"checkpoints/{name}/round-{r:04d}"
                parent = parents.get(name, parents["global0"])
            header = save_checkpoint(
                params, root / rel, round_index=r, parent_hash=parent, config_hash=chash, producer=PRODUCER
            )
            parents[name] = header.content_hash
            if r == 0:
                parents["global0"] = header.content_hash
            checkpoints.append(
                {
                    "round_index": r,
                    "path": rel,
                    "content_hash": header.content_hash,
                    "participant": None if name == "global" else name,
                }
            )
            if name == "global":
                global_hash = header.content_hash
        participants = [] if r == 0 else list(SILOS)
        metrics = probe_record_metrics(models, points, targets, pairwise=control == "local-only")
        if control == "local-only" and r == 0:
            metrics.pop("drift_pairwise_mean_deg"), metrics.pop("drift_pairwise_max_deg")
        records.append(
            {
                "schema_version": 1,
                "run_id": run_id,
                "control": control,
                "round_index": r,
                "participants": participants,
                "global_hash": global_hash,
                "parent_hash": records[-1]["global_hash"] if records else None,
                "metrics": metrics,
                "backstop_fired": {p: False for p in participants},
                "wall_time_s": 0.5 * r,
            }
        )
        row = heldout_row_metrics(models, heldout, points, targets)
        for k in series:
            series[k].append(row[k])
    (root / "rounds.jsonl").write_bytes(b"".join(canonical_json(rec) + b"\n" for rec in records))
    manifest = {
        "schema_version": 1,
        "run_id": run_id,
        "control": control,
        "config": cfg,
        "config_hash": chash,
        "root_seed": 7,
        "round_sketch_seeds": [derive_seed(7, f"sketch:{t}") for t in range(ROUNDS + 1)],  # FED-026
        "probe_hash": probe_hash(points),
        "data_roots": ["synthetic:tests/verify?seed=7"],
        "split_policy": {
            "evaluation_split": "heldout",
            "state_probe": {"fit_episodes": [0, E // 2], "test_episodes": [E // 2, E]},
        },
        "git_sha": "unknown",
        "versions": {"lensemble-spec": "0.1.0"},
        "created_at": "2026-11-25T08:00:00Z",
        "checkpoints": sorted(checkpoints, key=lambda c: (c["round_index"], c["participant"] or "")),
    }
    atomic_write_json(root / "manifest.json", manifest)
    final = heldout_row_metrics(schedule[ROUNDS], heldout, points, targets)
    metrics = {"latent_dim": D, **final}
    return {"control": control, "metrics": metrics, "series": series, "verdict": verdict(metrics, series), "pins": []}


def make_heldout(rng: np.random.Generator) -> dict[str, np.ndarray]:
    obs = rng.uniform(0, 1, (E, T + 1, 1, 4, 4)).astype(np.float32)
    mix = rng.normal(0, 1, (FEATURES, 2)).astype(np.float32)
    states = (obs.reshape(E, T + 1, -1) @ mix).astype(np.float32)
    actions = rng.normal(0, 1, (E, T, ACTION)).astype(np.float32)
    return {"obs": obs, "actions": actions, "states": states}


def build_comparison(base: Path) -> dict[str, Any]:
    from _hubcache import add_snapshot

    rng = np.random.default_rng(3)
    points = rng.uniform(0, 1, (K, 1, 4, 4)).astype(np.float32)
    heldout = make_heldout(rng)
    heldout_file = base / "heldout.safetensors"
    heldout_file.write_bytes(st_save(heldout))
    comp = base / "comparison"
    comp.mkdir()
    rows = [write_run(comp / c, c, points, heldout) for c in ("anchored", "naive-fedavg", "local-only", "centralized")]
    # pin the anchored run's final weights in a hub cache (as a publisher would)
    weights = (comp / "anchored" / f"checkpoints/round-{ROUNDS:04d}" / "weights.safetensors").read_bytes()
    hub = base / "hub"
    add_snapshot(hub, "acme/toy-anchored", PIN_REVISION, {"weights.safetensors": weights})
    rows[0]["pins"] = [
        {
            "uri": f"hf://models/acme/toy-anchored@{PIN_REVISION}/weights.safetensors",
            "sha256": hashlib.sha256(weights).hexdigest(),
        }
    ]
    table = {
        "schema_version": 1,
        "title": "toy comparison",
        "split": "heldout: first 2 episodes fit, last 2 score",
        "seeds": [7],
        "controls": rows,
    }
    atomic_write_json(comp / "results.json", table)
    return {"comparison": comp, "heldout": heldout_file, "hub": hub, "points": points, "table": table}
