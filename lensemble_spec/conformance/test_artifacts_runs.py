"""RFC-0010 §5 on the harness's runs: what a run records about the run it was asked to make.

Everything a run directory must satisfy on its own — configuration hash, layout, manifest schema,
checkpoint chain, round records, probe file, pins — is checked once, by ``lensemble_spec.verify``
(``test_run_findings.py``). What the verifier cannot know is what the harness *asked for*: here the
manifest of each harness run must name the control and seed it was given (ART-016), its config
must hold the configuration given (ART-017, the values actually used), and its probe file the
probe given (ART-022).
"""

from __future__ import annotations

import dataclasses

import pytest

from . import _assertions as check
from ._assertions import assert_each_run


def _harness_views(runs_under_test):
    views = [v for v in runs_under_test if v.harness is not None]
    if not views:
        pytest.skip("only --run directories: what a run was asked to do is known for the harness's runs alone")
    return views


def _names_another_run(view):
    m, cfg = view.manifest(), view.harness.config
    if (m.get("control"), m.get("root_seed")) != (cfg.control, cfg.seed):
        yield f"manifest names {m.get('control')}/{m.get('root_seed')}, the run was {cfg.control}/{cfg.seed}"


@pytest.mark.requirement("ART-016")
def test_manifest_names_the_run_it_was_asked_to_make(runs_under_test):
    assert_each_run(_harness_views(runs_under_test), _names_another_run, "manifest")


def _config_not_given(view):
    cfg = view.config()
    given = dataclasses.asdict(view.harness.config)
    outer = cfg.get("outer") if isinstance(cfg.get("outer"), dict) else {}
    wrong = {k: (cfg.get(k), v) for k, v in given.items() if k != "outer" and cfg.get(k) != v}
    wrong.update({f"outer.{k}": (outer.get(k), v) for k, v in given["outer"].items() if outer.get(k) != v})
    if wrong:
        yield f"manifest config differs from the run's configuration (recorded, given): {wrong}"


@pytest.mark.requirement("ART-017")
def test_manifest_config_holds_the_configuration_given(runs_under_test):
    assert_each_run(_harness_views(runs_under_test), _config_not_given, "manifest config")


def _probe_not_given(view):
    points = view.probe().get("points")
    if points is None or not check.bitwise_equal(points, view.harness.probe.points):
        yield "probe points are not the probe the run was given"


@pytest.mark.requirement("ART-022")
def test_probe_file_holds_the_probe_given(runs_under_test):
    assert_each_run(_harness_views(runs_under_test), _probe_not_given, "probe file")
