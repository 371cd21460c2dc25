"""A real tiny comparison written by the reference trainer, built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Small enough to train in seconds; inner_lr low enough that the anchored run holds its frame,
#: so the pristine comparison verifies OK and every protected corruption must flip it.
TINY_HEADLINE = {
    "rounds": 2,
    "inner_steps": 2,
    "batch_size": 2,
    "window": 2,
    "sketch_dim": 8,
    "threads": 1,
    "inner_lr": 2e-4,
    "model": {"latent_dim": 4, "channels": [4, 8, 8], "pred_hidden": 16, "pred_depth": 1, "image_size": 16},
    "world": {"episodes_per_silo": 3, "horizon": 4, "image_size": 16, "probe_size": 8},
}


@pytest.fixture(scope="session")
def pristine_comparison(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lensemble_reference.config import TrainConfig
    from lensemble_reference.headline import run_headline

    base = TrainConfig.from_dict(
        {**TrainConfig().to_dict(), **{k: v for k, v in TINY_HEADLINE.items() if not isinstance(v, dict)}}
    )
    data = base.to_dict()
    for key in ("model", "world"):
        data[key].update(TINY_HEADLINE[key])
    cfg = TrainConfig.from_dict(data).validate()
    out = tmp_path_factory.mktemp("fuzz-pristine") / "cmp"
    run_headline(cfg, out, show_progress=False)
    return out
