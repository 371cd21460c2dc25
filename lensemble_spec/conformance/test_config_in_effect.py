"""RFC-0010 ART-017 "holding the values the run actually used", and RFC-0003 FED-025 defaults.

A manifest that records the configuration it was given passes a comparison with that
configuration whether or not the run obeyed it: an implementation that ignores ``batch_size``
(or trains with a fixed learning rate) writes a faithful-looking manifest. What a run cannot hide
is the effect. The harness makes one-round, one-step runs (two silos, the anchored configuration
of ``_runs.tiny``) that differ from a baseline in exactly one training setting, and requires
each to commit a round-1 global that differs from the baseline's: a setting recorded as changed
that changed nothing was not the value actually used. Tensors are compared, not content hashes
(the configuration hash, and so every content hash, differs anyway).

FED-025 concerns an implementation's *default* outer configuration, which the protocol only sees
if the federation part exposes it as the optional attribute ``default_outer`` (an object with
``lr``, ``momentum`` and ``nesterov``, RFC-0003 §5.4); without it the check is skipped as not
observable.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from lensemble_spec.protocol import OuterConfig

from ._runs import HarnessRun, Runner, _two_silos, base_config, tiny
from .conftest import successful

#: One training setting per variant, and the value it takes (the baseline is ``tiny``'s).
VARIANTS: dict[str, Any] = {
    "batch_size": 6,
    "inner_steps": 2,
    "inner_lr": 3e-3,
    "lambda_sigreg": 0.3,
    "outer.lr": 0.25,
}


def _config(runner: Runner, field: str | None):
    cfg = tiny(base_config(runner.level))
    if field is None:
        return cfg
    if field.startswith("outer."):
        return dataclasses.replace(cfg, outer=dataclasses.replace(cfg.outer, **{field[6:]: VARIANTS[field]}))
    return dataclasses.replace(cfg, **{field: VARIANTS[field]})


def _make(runner: Runner, name: str, field: str | None) -> HarnessRun:
    run = HarnessRun(
        name=name, config=_config(runner, field), silos=_two_silos(runner.world), probe=runner.world.probe,
        out_dir=runner.root / name,
    )  # fmt: skip
    try:
        if getattr(runner, "has_run", True):  # the implementation's own run
            run.result = runner.federation.run(run.config, run.silos, run.probe, run.out_dir)
        else:  # a harness that drives runs through the primitives
            from ._driver import drive_run

            run.driver = "primitives"
            run.result = drive_run(runner.model, runner.federation, run.config, run.silos, run.probe, run.out_dir)
    except Exception as exc:  # reported by successful()
        run.error = exc
    return successful(run)


def _round1_global(run: HarnessRun) -> dict[str, np.ndarray]:
    view = run.view
    entry = view.global_entry(1)
    assert entry is not None, f"{run.name}: the manifest lists no round-1 global"
    return view.params(str(entry["path"]))


@pytest.fixture(scope="module")
def in_effect_baseline(runner: Runner) -> dict[str, np.ndarray]:
    return _round1_global(_make(runner, "in-effect-baseline", None))


@pytest.mark.requirement("ART-017")
@pytest.mark.parametrize("field", sorted(VARIANTS))
def test_a_recorded_setting_is_one_the_run_used(runner, in_effect_baseline, field):
    run = _make(runner, f"in-effect-{field.replace('.', '-')}", field)
    config = run.view.config()
    recorded = config.get("outer", {}).get(field[6:]) if field.startswith("outer.") else config.get(field)
    assert recorded == VARIANTS[field], f"manifest records {field}={recorded!r}, the run was given {VARIANTS[field]!r}"
    changed = _round1_global(run)
    same = set(changed) == set(in_effect_baseline) and all(
        np.array_equal(changed[k], in_effect_baseline[k]) for k in changed
    )
    assert not same, (
        f"the manifest records {field}={VARIANTS[field]!r}, but the committed round-1 global is bitwise the one "
        f"the baseline value gives: the recorded value is not the one the run used"
    )


@pytest.mark.requirement("FED-025")
def test_default_outer_configuration(federation_part):
    default = getattr(federation_part, "default_outer", None)
    if default is None:
        pytest.skip("the federation part exposes no `default_outer` (RFC-0003 §5.4): its default is not observable")
    got = (getattr(default, "lr", None), getattr(default, "momentum", None), getattr(default, "nesterov", None))
    want = OuterConfig()
    assert got == (want.lr, want.momentum, want.nesterov), (
        f"default outer configuration (lr, momentum, nesterov) = {got}, RFC-0003 §5.4 recommends "
        f"{(want.lr, want.momentum, want.nesterov)}"
    )
