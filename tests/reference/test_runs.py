"""Whole tiny runs: bitwise determinism, fixed anchor targets, and a run directory that validates.

Catches: nondeterministic training or aggregation (same seed → different final hash), anchor
targets re-snapshotted after round 0 (upstream's pre-#264 behaviour), a broken parent-hash chain,
checkpoints that do not re-hash, and documents that do not validate against lensemble_spec.schemas.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lensemble_reference import objective
from lensemble_reference.artifacts import load_probe
from lensemble_reference.backstop import encode_numpy
from lensemble_reference.controls import run_control
from lensemble_reference.federation import RunInputs
from lensemble_spec.artifacts import probe_hash
from lensemble_spec.artifacts.checkpoint import load_checkpoint
from lensemble_spec.metrics import derive_seed
from lensemble_spec.schemas import RoundRecord, RunManifest, load_document

from ._tiny import tiny_silo, tiny_train_config


def _inputs() -> RunInputs:
    silos = {f"silo{i}": tiny_silo(f"silo{i}", 100 + i) for i in range(3)}
    points = tiny_silo("probe", 200, episodes=2, horizon=4).obs.reshape(-1, 3, 16, 16)
    return RunInputs(
        silos=silos,
        probe_points=points,
        probe_hash=probe_hash(points),
        data_roots=["tests:tiny"],
    )


def _final_hash(run_dir: Path) -> str:
    manifest = load_document(RunManifest, run_dir / "manifest.json")
    return manifest.checkpoints[-1].content_hash


def test_same_seed_gives_bit_identical_final_checkpoint(tmp_path):
    cfg = tiny_train_config(control="anchored", backstop_threshold_deg=0.0)  # exercise the backstop every round
    a = run_control(cfg, _inputs(), tmp_path / "a")
    b = run_control(cfg, _inputs(), tmp_path / "b")
    assert _final_hash(a.run_dir) == _final_hash(b.run_dir)
    assert all(a.final_params[k].tobytes() == b.final_params[k].tobytes() for k in a.final_params)
    assert any(a.records[-1]["backstop_fired"].values())
    c = run_control(cfg.replace(seed=1), _inputs(), tmp_path / "c")
    assert _final_hash(c.run_dir) != _final_hash(a.run_dir)


def test_anchor_targets_are_fixed_after_round_zero(tmp_path, monkeypatch):
    seen: list[bytes] = []
    original = objective.anchor_loss

    def spy(model, anchor):
        seen.append(anchor.targets.detach().numpy().tobytes())
        return original(model, anchor)

    monkeypatch.setattr(objective, "anchor_loss", spy)
    cfg = tiny_train_config(control="anchored", rounds=3)
    result = run_control(cfg, _inputs(), tmp_path / "run")
    assert len(seen) == cfg.rounds * 3 * cfg.inner_steps  # every inner step of every participant
    assert len(set(seen)) == 1  # never refreshed
    points, targets = load_probe(result.run_dir)
    params0, header0 = load_checkpoint(result.run_dir / "checkpoints/round-0000")
    assert header0.round_index == 0 and header0.parent_hash is None
    np.testing.assert_array_equal(encode_numpy(cfg.model, params0, points), targets)  # = f_{θ0}(P)
    assert seen[0] == targets.tobytes()
    final = encode_numpy(cfg.model, result.final_params, points)
    assert not np.array_equal(final, targets)  # the model did move; the targets did not


@pytest.mark.parametrize("control", ["anchored", "naive-fedavg", "local-only", "centralized"])
def test_run_directory_validates_against_the_schemas(tmp_path, control):
    cfg = tiny_train_config().for_control(control)
    inputs = _inputs()
    result = run_control(cfg, inputs, tmp_path / control)
    run = result.run_dir
    # RFC-0010 §5: nothing but the manifest, the rounds file, the probe and listed checkpoints
    manifest = load_document(RunManifest, run / "manifest.json")
    listed = {ref.path for ref in manifest.checkpoints}
    files = {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}
    allowed = {"manifest.json", "rounds.jsonl", "probe.safetensors"}
    assert {f for f in files if f not in allowed and f.rsplit("/", 1)[0] not in listed} == set()
    assert manifest.control == control and manifest.probe_hash == inputs.probe_hash and manifest.root_seed == cfg.seed
    assert manifest.round_sketch_seeds == [derive_seed(cfg.seed, f"sketch:{t}") for t in range(cfg.rounds + 1)]
    for key in ("control", "rounds", "inner_steps", "batch_size", "inner_lr", "outer", "lambda_sigreg",
                "lambda_anchor", "backstop", "backstop_threshold_deg", "seed", "min_participants"):
        assert key in manifest.config, key  # every FederationConfig field (ART-017)
    records = [RoundRecord.model_validate(json.loads(line)) for line in (run / "rounds.jsonl").read_text().splitlines()]
    assert [r.round_index for r in records] == list(range(cfg.rounds + 1))
    assert records[0].participants == [] and records[0].parent_hash is None
    for rec in records:  # a run never sees held-out data (EVAL-008); rank comes with scale (EVAL-009)
        m = rec.metrics
        assert (
            m.val_pred is None
            and m.val_pred_identity is None
            and m.skill_vs_identity is None
            and m.state_probe_r2 is None
        )
        assert (m.effective_rank is None) or (m.latent_std_mean is not None and m.latent_rms is not None)
    points, _ = load_probe(run)
    assert probe_hash(points) == inputs.probe_hash
    # every listed checkpoint re-hashes; each lineage chains to its previous round (first: θ_0)
    loaded = {}
    for ref in manifest.checkpoints:
        params, header = load_checkpoint(run / ref.path)
        assert header.content_hash == ref.content_hash and header.config_hash == manifest.config_hash
        assert header.round_index == ref.round_index
        assert all(k.startswith(("encoder.", "predictor.")) for k in params)
        loaded[(ref.participant, ref.round_index)] = header
    theta0 = loaded[(None, 0)].content_hash
    assert loaded[(None, 0)].parent_hash is None and records[0].global_hash == theta0
    for (who, r), header in loaded.items():
        if r > 0:
            parent = loaded.get((who, r - 1))
            assert header.parent_hash == (parent.content_hash if parent else theta0)
    if control == "local-only":
        assert all(r.global_hash is None and r.participants == sorted(inputs.silos) for r in records[1:])
        assert len(manifest.checkpoints) == 1 + 3 * cfg.rounds
        assert result.final_params is None and sorted(result.participant_params) == sorted(inputs.silos)
    else:
        assert [r.global_hash for r in records] == [c.content_hash for c in manifest.checkpoints]
        assert all(r.parent_hash == p.global_hash for p, r in zip(records, records[1:]))
    if control == "anchored":
        assert all(set(r.backstop_fired) == set(inputs.silos) for r in records[1:])
        assert result.anchor is not None and result.anchor.weight == cfg.lambda_anchor
    if control == "naive-fedavg":
        assert result.anchor is None and all(not any(r.backstop_fired.values()) for r in records)
