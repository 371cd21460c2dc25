"""Pieces of the PushT path that need neither stable-worldmodel nor torchvision (run in every venv)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lensemble_reference.pusht.collect import LUMA, Episodes, split_silos, to_obs
from lensemble_reference.pusht.run import SMOKE, PushTSettings, score
from lensemble_spec.errors import ConfigError, DataError


def test_importing_the_packages_imports_neither_swm_nor_torchvision():
    code = (
        "import sys, lensemble_spec, lensemble_reference, lensemble_reference.cli\n"
        "import lensemble_reference.pusht, lensemble_reference.pusht.run, lensemble_reference.pusht.cli\n"
        "import lensemble_reference.pusht.collect, lensemble_reference.pusht.adapter\n"
        "bad = [m for m in ('torchvision', 'stable_worldmodel', 'pygame') if m in sys.modules]\n"
        "from lensemble_reference.pusht import _shim\n"
        "assert '_STATE' in dir(_shim) and not _shim._STATE, _shim._STATE\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


@pytest.mark.parametrize(
    "k, n, lo, hi",
    [(0, 20, 0.0, 0.1611), (10, 20, 0.2993, 0.7007), (20, 20, 0.8389, 1.0), (1, 4, 0.0456, 0.6994)],
)
def test_score_carries_the_wilson_interval_of_its_episodes(k, n, lo, hi):
    got = score([True] * k + [False] * (n - k))
    assert (got["successes"], got["trials"], got["rate"]) == (k, n, k / n)
    assert got["wilson95"] == pytest.approx([lo, hi], abs=1e-4)


def test_score_of_no_episodes_is_uninformative():
    assert score([]) == {"successes": 0, "trials": 0, "rate": None, "wilson95": [0.0, 1.0]}


def _episodes(colors: np.ndarray) -> Episodes:
    e = len(colors)
    pixels = np.zeros((e, 3, 8, 8, 3), dtype=np.uint8)
    pixels[:, :, 0, 0, 0] = np.arange(e)[:, None]  # tag each episode
    return Episodes(
        pixels=pixels,
        actions=np.zeros((e, 2, 2), np.float32),
        states=np.zeros((e, 3, 7), np.float32),
        factor=colors.astype(np.float64),
        dropped=0,
    )


def test_silos_are_contiguous_luminance_bands_covering_every_episode_once():
    rng = np.random.default_rng(3)
    colors = rng.integers(0, 256, size=(10, 3))
    silos, desc = split_silos(_episodes(colors), 3)
    luma = colors @ LUMA
    seen = []
    previous_max = -np.inf
    for name in sorted(silos):
        idx = desc["bands"][name]["episodes"]
        seen += idx
        assert min(luma[idx]) >= previous_max  # bands do not overlap
        previous_max = max(luma[idx])
        tags = np.round(silos[name].obs[:, 0, 0, 0, 0] * 255).astype(int)
        assert list(tags) == idx  # each silo holds exactly its episodes, in collection order
    assert sorted(seen) == list(range(10))
    assert [len(desc["bands"][n]["episodes"]) for n in sorted(silos)] == [4, 3, 3]


def test_split_refuses_more_silos_than_episodes():
    with pytest.raises(DataError):
        split_silos(_episodes(np.zeros((2, 3))), 3)


def test_to_obs_is_chw_in_unit_range():
    x = np.full((2, 4, 5, 3), 255, np.uint8)
    x[..., 1] = 0
    obs = to_obs(x)
    assert obs.shape == (2, 3, 4, 5) and obs.dtype == np.float32
    assert obs[:, 0].min() == 1.0 and obs[:, 1].max() == 0.0


def test_settings_validate():
    assert SMOKE.rounds == 1 and SMOKE.eval_episodes == 2
    with pytest.raises(ConfigError):
        PushTSettings(controls=("anchored", "bogus")).validate()
    with pytest.raises(ConfigError):
        PushTSettings(receding_horizon=6, horizon=5).validate()
    with pytest.raises(ConfigError):
        PushTSettings(silo_factor="block.scale").validate()


def test_the_command_without_the_extra_is_a_typed_error_naming_it(tmp_path, monkeypatch):
    import argparse
    import importlib.util

    from lensemble_reference.pusht import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "stable_worldmodel" else real(name, *a)
    )
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["pusht", "--smoke", "--out", str(tmp_path / "out")])
    with pytest.raises(ConfigError) as info:
        args.func(args)
    assert "lensemble-spec[pusht]" in info.value.remediation
    assert not (tmp_path / "out").exists()


def test_flags_override_the_preset():
    import argparse

    from lensemble_reference.pusht import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["pusht", "--smoke", "--out", "x", "--rounds", "3", "--controls", "anchored,local-only"])
    s = cli.settings_from(args)
    assert s.rounds == 3 and s.controls == ("anchored", "local-only") and s.eval_episodes == SMOKE.eval_episodes
    assert cli.settings_from(parser.parse_args(["pusht", "--out", "x", "--controls", "none"])).controls == ()
    with pytest.raises(ConfigError):
        cli.settings_from(parser.parse_args(["pusht", "--out", "x", "--horizon", "0"]))
