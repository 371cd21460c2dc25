"""One small valid example of every document (test data for tests/schemas).

``example_documents()`` returns fresh JSON-mode dicts keyed by model name; each one loads with
:func:`lensemble_spec.schemas.load_document` and validates against the exported JSON Schema.
"""

from __future__ import annotations

from typing import Any

from lensemble_spec.artifacts.canonical import config_hash

_H1, _H2, _H3 = "1" * 64, "2" * 64, "a" * 64
_REV = "0123456789abcdef0123456789abcdef01234567"


def example_documents() -> dict[str, dict[str, Any]]:
    config = {"rounds": 3, "outer": {"lr": 0.5}, "out_dir": "runs/a"}
    return {
        "CheckpointHeader": {
            "schema_version": 1,
            "content_hash": _H1,
            "parent_hash": None,
            "round_index": 0,
            "config_hash": _H2,
            "tensor_manifest": [
                {"name": "encoder.b", "dtype": "float32", "shape": [8]},
                {"name": "encoder.w", "dtype": "bfloat16", "shape": [8, 4]},
            ],
            "weight_files": ["weights.safetensors"],
            "producer": {"name": "lensemble_reference", "version": "0.1.0"},
            "created_at": "2026-11-25T08:00:00Z",
        },
        "RunManifest": {
            "schema_version": 1,
            "run_id": "anchored-seed0",
            "control": "anchored",
            "config": config,
            "config_hash": config_hash(config),
            "root_seed": 0,
            "round_sketch_seeds": [11, 12, 13],
            "probe_hash": _H3,
            "data_roots": ["embedded:world-v1"],
            "split_policy": {"heldout": "silo4"},
            "git_sha": _REV,
            "versions": {"python": "3.11", "torch": "2.13.0"},
            "created_at": "2026-11-25T08:00:00+00:00",
            "checkpoints": [
                {"round_index": 0, "path": "checkpoints/round-0000", "content_hash": _H1},
                {"round_index": 1, "path": "checkpoints/round-0001", "content_hash": _H2},
            ],
        },
        "RoundRecord": {
            "schema_version": 1,
            "run_id": "anchored-seed0",
            "control": "anchored",
            "round_index": 1,
            "participants": ["silo0", "silo1", "silo2"],
            "global_hash": _H2,
            "parent_hash": _H1,
            "metrics": {
                "effective_rank": 5.5,
                "latent_std_mean": 0.8,
                "val_pred": 0.02,
                "state_probe_r2": -0.3,
                "drift_to_reference_deg": 3.5,
                "drift_pairwise_mean_deg": 4.0,
                "drift_pairwise_max_deg": 9.0,
                "drift_degenerate": False,
                "train_loss": 1.25,
            },
            "backstop_fired": {"silo1": True},
            "wall_time_s": 0.5,
        },
        "ResultsTable": {
            "schema_version": 1,
            "title": "Headline",
            "split": "heldout",
            "seeds": [0, 1],
            "controls": [
                {
                    "control": "anchored",
                    "metrics": {"effective_rank": 14.8, "frame_drift_deg": None},
                    "series": {"effective_rank": [2.6, None, 14.8]},
                    "verdict": "gauge held",
                    "pins": [{"uri": f"hf://models/org/ckpt@{_REV}/weights.safetensors", "sha256": _H1}],
                },
                {"control": "naive-fedavg", "metrics": {"val_pred": 203776.0}, "verdict": "collapsed"},
            ],
        },
        "ArtifactPin": {"uri": f"hf://datasets/org/data@{_REV}", "sha256": None},
    }
