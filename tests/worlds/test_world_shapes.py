"""Shapes, dtypes, ranges, names, sizes, slicing helpers and typed errors of the world API."""

from __future__ import annotations

import numpy as np
import pytest

from lensemble_spec.errors import ConfigError, ErrorCode
from lensemble_spec.protocol import Probe, Silo
from lensemble_spec.worlds import (
    ACTION_DIM,
    HARNESS_SIZES,
    LIMITS_HI,
    LIMITS_LO,
    STATE_DIM,
    flatten_frames,
    make_world,
    windows,
)


def _check_split(s: Silo, e: int, t: int, size: int) -> None:
    assert isinstance(s, Silo)
    assert s.obs.shape == (e, t + 1, 3, size, size) and s.obs.dtype == np.float32
    assert s.actions.shape == (e, t, ACTION_DIM) and s.actions.dtype == np.float32
    assert s.states.shape == (e, t + 1, STATE_DIM) and s.states.dtype == np.float32
    assert np.isfinite(s.obs).all() and s.obs.min() >= 0.0 and s.obs.max() <= 1.0
    assert (s.states >= LIMITS_LO).all() and (s.states <= LIMITS_HI).all()
    assert s.obs.std() > 0.05  # not blank


def test_harness_world_sizes(hworld):
    hs = HARNESS_SIZES
    assert list(hworld.silos) == [f"silo{i}" for i in range(hs["n_silos"])]
    for name, s in hworld.silos.items():
        assert s.name == name
        _check_split(s, hs["episodes_per_silo"], hs["horizon"], hs["image_size"])
    assert hworld.heldout.name == "heldout"
    _check_split(hworld.heldout, hs["episodes_per_silo"], hs["horizon"], hs["image_size"])
    assert isinstance(hworld.probe, Probe)
    k = hs["probe_size"]
    assert k >= 32  # the harness latent dimension is at most 32
    assert hworld.probe.points.shape == (k, 3, hs["image_size"], hs["image_size"])
    assert hworld.probe.points.dtype == np.float32
    assert hworld.probe_states.shape == (k, STATE_DIM)
    assert len(hworld.probe.probe_hash) == 64
    assert hworld.obs_shape == (3, hs["image_size"], hs["image_size"])


def test_default_image_size_world(small_world):
    assert small_world.spec.image_size == 48
    for s in [*small_world.silos.values(), small_world.heldout]:
        _check_split(s, 6, 10, 48)
    assert small_world.probe.points.shape == (40, 3, 48, 48)


def test_n_silos_parameter():
    w = make_world(0, n_silos=2, episodes_per_silo=2, horizon=3, image_size=16, probe_size=4)
    assert list(w.silos) == ["silo0", "silo1"]
    assert w.spec.probe.styles == ("public", "silo0", "silo1")
    w = make_world(0, n_silos=2, episodes_per_silo=2, horizon=3, image_size=16, probe_size=4, probe_style="public")
    assert w.spec.probe.styles == ("public",)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seed": -1},
        {"seed": 1.5},
        {"seed": True},
        {"n_silos": 0},
        {"episodes_per_silo": 0},
        {"horizon": 0},
        {"probe_size": 0},
        {"image_size": 8},
        {"image_size": 1000},
        {"image_size": 48.0},
        {"probe_style": "silo0"},
    ],
)
def test_bad_arguments_raise_config_error(kwargs):
    args = {"seed": 0, "episodes_per_silo": 1, "horizon": 1, "image_size": 16, "probe_size": 2}
    args.update(kwargs)
    seed = args.pop("seed")
    with pytest.raises(ConfigError) as info:
        make_world(seed, **args)
    assert info.value.code is ErrorCode.CONFIG_INVALID
    assert info.value.remediation


def test_windows_match_episode_slices(hworld):
    silo = hworld.silos["silo2"]
    e, t = silo.actions.shape[:2]
    length = 3
    obs, actions, states = windows(silo, length)
    n_starts = t - length + 1
    assert obs.shape == (e * n_starts, length + 1, *silo.obs.shape[2:])
    assert actions.shape == (e * n_starts, length, ACTION_DIM)
    assert states.shape == (e * n_starts, length + 1, STATE_DIM)
    for b in [0, 1, n_starts, e * n_starts - 1]:
        ep, start = divmod(b, n_starts)
        assert np.array_equal(obs[b], silo.obs[ep, start : start + length + 1])
        assert np.array_equal(actions[b], silo.actions[ep, start : start + length])
        assert np.array_equal(states[b], silo.states[ep, start : start + length + 1])
    obs2, actions2, _ = windows(silo, 4, stride=4)
    assert obs2.shape[0] == e * len(range(0, t - 4 + 1, 4))
    assert np.array_equal(actions2[1], silo.actions[0, 4:8])
    full_obs, full_actions, _ = windows(silo, t)
    assert np.array_equal(full_obs, silo.obs) and np.array_equal(full_actions, silo.actions)


@pytest.mark.parametrize("length", [0, -1, 10_000])
def test_windows_bad_length(hworld, length):
    with pytest.raises(ConfigError):
        windows(hworld.silos["silo0"], length)


def test_flatten_frames(hworld):
    silo = hworld.silos["silo1"]
    frames, states = flatten_frames(silo)
    e, t1 = silo.obs.shape[:2]
    assert frames.shape == (e * t1, *silo.obs.shape[2:])
    assert states.shape == (e * t1, STATE_DIM)
    assert np.array_equal(frames[t1 + 2], silo.obs[1, 2])
    assert np.array_equal(states[t1 + 2], silo.states[1, 2])
