"""load_lerobot_silos on tiny image-feature SO-100 datasets written with lerobot's own API.

Each frame/state/action encodes (episode, frame) (see so100_data.py), so the tests check the
content of every silo row, not just shapes.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from so100_data import JOINTS, ep_red, frame_green, raw_action, raw_state

from lensemble_reference.lerobot_data import (
    HELDOUT,
    compute_split_hash,
    load_lerobot_silos,
)
from lensemble_reference.lerobot_data.silos import to_model_frames
from lensemble_spec.errors import ConfigError, DataError, ErrorCode

# 11 episodes; episode 3 is too short for one chunk at horizon 3 (it must be excluded, not split).
LENGTHS = [9, 10, 11, 3, 12, 13, 9, 10, 11, 12, 13]
HORIZON = 3
SILOS = [f"silo{i}" for i in range(4)]


@pytest.fixture(scope="module")
def root(so100_writer):
    return so100_writer("so100_img", LENGTHS, constant_gripper=True)


@pytest.fixture(scope="module")
def splits(root):
    return load_lerobot_silos([root], horizon=HORIZON, image_size=48)


@pytest.fixture(scope="module")
def five_roots(so100_writer):
    """Five roots of two 6-frame episodes; root r holds pixel/state episodes 2r and 2r+1."""
    return [so100_writer(f"site{r}", [6, 6], first_episode=2 * r) for r in range(5)]


def _all(splits):
    return {**splits.silos, HELDOUT: splits.heldout}


def _kept(length, stride, max_frames, horizon):
    usable = length if max_frames is None else min(length, max_frames)
    kept = np.arange(0, usable, stride)
    n = (kept.size - 1) // horizon
    return kept[: n * horizon + 1], n


def _check_rows(splits, *, horizon, stride=1, first_episode_of_root=lambda r: 0, constant_gripper=False):
    """Every row's frames, states and actions are the encoded source frames its chunk_sources names."""
    std = splits.standardisation
    s_mean, s_std = np.asarray(std["state"]["mean"]), np.asarray(std["state"]["std"])
    a_mean, a_std = np.asarray(std["action"]["mean"]), np.asarray(std["action"]["std"])
    for name, silo in _all(splits).items():
        src = splits.chunk_sources[name]
        assert src.shape == (silo.obs.shape[0], 3)
        for row, (r, ep, first) in enumerate(src):
            e = first_episode_of_root(int(r)) + int(ep)
            frames = first + stride * np.arange(horizon + 1)
            red = silo.obs[row, :, 0].mean(axis=(1, 2)) * 255
            green = silo.obs[row, :, 1].mean(axis=(1, 2)) * 255
            np.testing.assert_allclose(red, ep_red(e), atol=1e-3)
            np.testing.assert_allclose(green, [frame_green(t) for t in frames], atol=1e-3)
            states = silo.states[row] * s_std + s_mean
            actions = silo.actions[row] * a_std + a_mean
            expect_s = [raw_state(e, t, constant_gripper=constant_gripper) for t in frames]
            expect_a = [raw_action(e, t, constant_gripper=constant_gripper) for t in frames[:-1]]
            np.testing.assert_allclose(states, expect_s, atol=2e-3)
            np.testing.assert_allclose(actions, expect_a, atol=2e-3)


# --- shapes, content, chunking ---------------------------------------------------------------------
def test_shapes_dtypes_and_counts(splits):
    assert sorted(splits.silos) == SILOS and splits.heldout.name == HELDOUT
    expected_chunks = {}
    for name, keys in splits.split_policy["assignment"].items():
        expected_chunks[name] = sum(_kept(LENGTHS[e], 1, None, HORIZON)[1] for _, e in keys)
    for name, silo in _all(splits).items():
        e = silo.obs.shape[0]
        assert e == expected_chunks[name] == splits.split_policy["chunks"][name] > 0
        assert silo.obs.shape == (e, HORIZON + 1, 3, 48, 48) and silo.obs.dtype == np.float32
        assert silo.actions.shape == (e, HORIZON, 6) and silo.actions.dtype == np.float32
        assert silo.states.shape == (e, HORIZON + 1, 6) and silo.states.dtype == np.float32
        assert 0.0 <= silo.obs.min() and silo.obs.max() <= 1.0


def test_rows_hold_the_frames_states_and_actions_they_claim(splits):
    # catches off-by-one chunk boundaries, frame/action misalignment, wrong episode order,
    # resize that shifts colours, and standardisation applied to the wrong dims
    _check_rows(splits, horizon=HORIZON, constant_gripper=True)


def test_chunks_share_boundary_frames_and_use_every_transition_once(splits):
    for name, keys in splits.split_policy["assignment"].items():
        src = splits.chunk_sources[name]
        for _, ep in keys:
            firsts = sorted(int(f) for _, e, f in src if e == ep)
            _, n = _kept(LENGTHS[ep], 1, None, HORIZON)
            assert firsts == [HORIZON * k for k in range(n)]


def test_stride_and_max_frames(root):
    s = load_lerobot_silos([root], horizon=2, frame_stride=2, max_frames_per_episode=9, image_size=16)
    for name, silo in _all(s).items():
        assert silo.obs.shape[1:] == (3, 3, 16, 16)
        assert set(s.chunk_sources[name][:, 2].tolist()) <= {0, 4}  # kept 0,2,4,6,8 -> chunks at 0 and 4
    _check_rows(s, horizon=2, stride=2, constant_gripper=True)
    assert s.split_policy["frame_stride"] == 2 and s.split_policy["max_frames_per_episode"] == 9


def test_short_episode_is_excluded_not_split(splits):
    assert splits.split_policy["excluded_episodes"] == [[0, 3]]
    assigned = [tuple(k) for keys in splits.split_policy["assignment"].values() for k in keys]
    assert (0, 3) not in assigned


# --- split policy --------------------------------------------------------------------------------
def test_episodes_partitioned_disjoint_and_contiguous(splits):
    assignment = splits.split_policy["assignment"]
    assigned = [tuple(k) for keys in assignment.values() for k in keys]
    eligible = [(0, e) for e, n in enumerate(LENGTHS) if n > HORIZON]
    assert sorted(assigned) == eligible and len(set(assigned)) == len(assigned)  # each exactly once
    for name, silo_keys in assignment.items():  # rows only come from the split's own episodes
        assert {int(e) for e in splits.chunk_sources[name][:, 1]} == {e for _, e in silo_keys}
    assert len(assignment[HELDOUT]) == round(0.2 * len(eligible))
    blocks = [[e for _, e in assignment[n]] for n in SILOS]
    assert all(b == sorted(b) and b for b in blocks)
    assert all(max(a) < min(b) for a, b in itertools.pairwise(blocks))  # contiguous blocks, in order
    assert splits.split_policy["mode"] == "pooled"


def test_split_is_deterministic_and_hash_recomputes(root, splits):
    again = load_lerobot_silos([root], horizon=HORIZON, image_size=48)
    assert again.split_policy == splits.split_policy
    for name, silo in _all(splits).items():
        np.testing.assert_array_equal(_all(again)[name].obs, silo.obs)
    policy = json.loads(json.dumps(splits.split_policy, allow_nan=False))  # JSON-able as is
    fingerprints = [r["fingerprint"] for r in policy["roots"]]
    assert policy["split_hash"] == compute_split_hash(fingerprints, policy["assignment"])
    assert len(policy["split_hash"]) == 64
    moved = json.loads(json.dumps(policy["assignment"]))
    moved["silo0"].append(moved[HELDOUT].pop())  # any change to the assignment changes the hash
    assert compute_split_hash(fingerprints, moved) != policy["split_hash"]


def test_split_seed_changes_heldout_and_hash(root, splits):
    others = [load_lerobot_silos([root], horizon=HORIZON, image_size=8, split_seed=s).split_policy for s in (1, 2)]
    base = splits.split_policy
    assert any(p["assignment"][HELDOUT] != base["assignment"][HELDOUT] for p in others)
    for p in others:
        assert (p["split_hash"] == base["split_hash"]) == (p["assignment"] == base["assignment"])
        assert p["split_seed"] != base["split_seed"]


# --- standardisation -------------------------------------------------------------------------------
def test_standardisation_uses_training_silos_only(splits):
    std = splits.standardisation
    assert std["computed_on"] == SILOS
    assert std["state"]["names"] == JOINTS and std["action"]["names"] == JOINTS
    frames, transitions, every_frame = [], [], []
    for name, keys in splits.split_policy["assignment"].items():
        for _, e in keys:
            kept, _ = _kept(LENGTHS[e], 1, None, HORIZON)
            rows = [raw_state(e, t, constant_gripper=True) for t in kept]
            every_frame += rows
            if name != HELDOUT:
                frames += rows
                transitions += [raw_action(e, t, constant_gripper=True) for t in kept[:-1]]
    frames, transitions = np.asarray(frames, np.float64), np.asarray(transitions, np.float64)
    assert std["n_frames"] == len(frames) and std["n_transitions"] == len(transitions)
    np.testing.assert_allclose(std["state"]["mean"], frames.mean(0), rtol=1e-6)
    np.testing.assert_allclose(std["state"]["std"][:5], frames.std(0)[:5], rtol=1e-6)
    np.testing.assert_allclose(std["action"]["mean"], transitions.mean(0), rtol=1e-6)
    # the held-out episodes would move the mean: the recorded one must not include them
    assert not np.allclose(std["state"]["mean"][0], np.mean(every_frame, axis=0)[0], rtol=1e-3)
    # the constant gripper gets std 1 (floored), not a division by ~0
    assert std["state"]["floored_dims"] == [5] and std["state"]["std"][5] == 1.0
    assert std["action"]["floored_dims"] == [5] and std["action"]["std"][5] == 1.0
    train_states = np.concatenate([s.states[:, :-1].reshape(-1, 6) for s in splits.silos.values()])
    assert np.isfinite(train_states).all() and np.abs(train_states[:, 5]).max() < 1e-6


# --- several roots -----------------------------------------------------------------------------------
def test_five_roots_are_natural_silos_last_is_heldout(five_roots):
    s = load_lerobot_silos(five_roots, horizon=2, image_size=8)
    policy = s.split_policy
    assert policy["mode"] == "by_root" and len(policy["roots"]) == 5
    for i, name in enumerate(SILOS):
        assert policy["assignment"][name] == [[i, 0], [i, 1]]
    assert policy["assignment"][HELDOUT] == [[4, 0], [4, 1]]
    _check_rows(s, horizon=2, first_episode_of_root=lambda r: 2 * r)
    assert s.data_roots == [str(p.resolve()) for p in five_roots]


def test_three_roots_are_pooled(five_roots):
    s = load_lerobot_silos(five_roots[:3], horizon=2, image_size=8)
    assert s.split_policy["mode"] == "pooled"
    assigned = sorted(tuple(k) for keys in s.split_policy["assignment"].values() for k in keys)
    assert assigned == [(r, e) for r in range(3) for e in range(2)]
    _check_rows(s, horizon=2, first_episode_of_root=lambda r: 2 * r)


def test_hub_id_read_from_local_lerobot_cache_only(five_roots, hf_sandbox):
    cached = hf_sandbox / "lerobot" / "testorg" / "tiny_so100"
    shutil.copytree(five_roots[0], cached)
    via_cache = load_lerobot_silos(["testorg/tiny_so100", *five_roots[1:3]], horizon=2, image_size=8)
    via_path = load_lerobot_silos(five_roots[:3], horizon=2, image_size=8)
    assert via_cache.split_policy["roots"][0]["repo_id"] == "testorg/tiny_so100"
    assert via_cache.split_policy["roots"][0]["path"] == str(cached.resolve())
    # same data, same assignment -> same hash, wherever the root lives
    assert via_cache.split_policy["split_hash"] == via_path.split_policy["split_hash"]
    with pytest.raises(DataError) as err:
        load_lerobot_silos(["testorg/not_cached", *five_roots[1:3]], horizon=2)
    assert "huggingface-cli download" in err.value.remediation
    assert not (hf_sandbox / "lerobot" / "testorg" / "not_cached").exists()  # lerobot never got to mkdir


# --- typed errors --------------------------------------------------------------------------------------
def test_missing_root_is_a_data_error(tmp_path, hf_sandbox):
    with pytest.raises(DataError) as err:
        load_lerobot_silos([tmp_path / "nope"])
    assert err.value.code is ErrorCode.DATA_INVALID and err.value.remediation
    assert not (tmp_path / "nope").exists()


def test_too_few_episodes_for_five_splits(five_roots):
    with pytest.raises(DataError, match="cannot fill 4 silos"):
        load_lerobot_silos(five_roots[:2], horizon=2)  # 4 episodes
    with pytest.raises(DataError, match="at least 5 roots"):
        load_lerobot_silos(five_roots[:3], horizon=2, split="by_root")
    with pytest.raises(DataError, match="0 usable episode"):  # 6-frame episodes yield no chunk of horizon 9
        load_lerobot_silos(five_roots[:3], horizon=9)


def test_no_image_feature(so100_writer):
    blind = so100_writer("blind", [4] * 5, with_image=False)
    with pytest.raises(DataError, match="no image or video feature"):
        load_lerobot_silos([blind], horizon=2)


def test_unknown_keys(five_roots):
    with pytest.raises(DataError, match="observation.images.wrist"):
        load_lerobot_silos(five_roots, image_key="observation.images.wrist", horizon=2)
    with pytest.raises(DataError, match="observation.joints"):
        load_lerobot_silos(five_roots, state_key="observation.joints", horizon=2)


def test_roots_must_share_fps(five_roots, so100_writer):
    fast = so100_writer("site_20fps", [6, 6], fps=20)
    with pytest.raises(DataError, match="fps"):
        load_lerobot_silos([five_roots[0], fast], horizon=2)


def test_duplicate_root(five_roots):
    with pytest.raises(DataError, match="given twice"):
        load_lerobot_silos([five_roots[0], five_roots[0]], horizon=2)


def test_old_format_and_incomplete_roots(five_roots, tmp_path):
    old = shutil.copytree(five_roots[0], tmp_path / "v21")
    info = json.loads((old / "meta/info.json").read_text())
    info["codebase_version"] = "v2.1"
    (old / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match="convert_dataset_v21_to_v30|v3"):
        load_lerobot_silos([old, *five_roots[1:]], horizon=2)
    broken = shutil.copytree(five_roots[0], tmp_path / "broken")
    data = broken / "data/chunk-000/file-000.parquet"
    data.rename(data.with_name("file-007.parquet"))  # meta/episodes still points at file-000
    with pytest.raises(DataError, match="incomplete"):
        load_lerobot_silos([broken, *five_roots[1:]], horizon=2)
    assert not data.exists()  # nothing was downloaded into the root


@pytest.mark.parametrize(
    "kwargs",
    [
        {"horizon": 0},
        {"n_silos": 0},
        {"image_size": 0},
        {"frame_stride": 0},
        {"max_frames_per_episode": 1},
        {"heldout_fraction": 1.0},
        {"split": "random"},
    ],
)
def test_bad_arguments_are_config_errors(five_roots, kwargs):
    with pytest.raises(ConfigError):
        load_lerobot_silos(five_roots, **kwargs)


def test_no_roots():
    with pytest.raises(ConfigError):
        load_lerobot_silos([])


# --- import hygiene and resize -------------------------------------------------------------------
def test_import_lensemble_reference_does_not_import_lerobot():
    code = (
        "import sys, lensemble_reference, lensemble_reference.lerobot_data, lensemble_reference._video; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('lerobot', 'torchvision', 'av')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="a real torchvision is installed")
def test_torchvision_standin_is_scoped_and_serves_lerobot_image_path(root, splits):
    # after lerobot was imported through the stand-in, nobody else sees a torchvision module
    assert "torchvision" not in sys.modules and importlib.util.find_spec("torchvision") is None
    from lensemble_reference._video import import_lerobot

    lerobot_dataset, _ = import_lerobot()
    item = lerobot_dataset("local/so100_img", root=root, video_backend="pyav")[12]  # lerobot's own __getitem__
    img = item["observation.images.front"]
    assert tuple(img.shape) == (3, 64, 64) and str(img.dtype) == "torch.float32"
    e, t = int(item["episode_index"]), int(item["frame_index"])
    np.testing.assert_allclose(img[0].numpy(), ep_red(e) / 255, atol=1e-6)
    np.testing.assert_allclose(img[1].numpy(), frame_green(t) / 255, atol=1e-6)


def test_resize_is_antialiased_bilinear_and_keeps_range():
    h, w = 40, 64  # non-square source: resized without cropping
    ramp = np.linspace(0, 255, w)[None, :, None].repeat(h, 0).repeat(3, 2).round().astype(np.uint8)
    out = to_model_frames(ramp[None], 48)
    assert out.shape == (1, 3, 48, 48) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    row = out[0, 0, 24]
    assert np.all(np.diff(row) > 0)  # the ramp stays a ramp across the whole width
    centres = (np.arange(48) + 0.5) * w / 48 - 0.5
    np.testing.assert_allclose(row, np.interp(centres, np.arange(w), ramp[0, :, 0] / 255), atol=0.02)
    solid = np.full((2, 30, 50, 3), 77, np.uint8)
    np.testing.assert_allclose(to_model_frames(solid, 16), 77 / 255, atol=1e-6)


def test_offline_mode_is_scoped_to_the_call(five_roots, monkeypatch):
    import huggingface_hub.constants as hub_constants

    from lensemble_reference.lerobot_data import roots as lerobot_roots

    seen = []
    real_check = lerobot_roots.check_files  # runs inside the block where lerobot opens the root

    def spy(*args, **kwargs):
        seen.append((os.environ.get("HF_HUB_OFFLINE"), hub_constants.HF_HUB_OFFLINE))
        return real_check(*args, **kwargs)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(lerobot_roots, "check_files", spy)
    load_lerobot_silos(five_roots[:3], horizon=2, image_size=8)
    assert len(seen) == 3 and all(s == ("1", True) for s in seen)  # forced on while lerobot reads
    assert "HF_HUB_OFFLINE" not in os.environ and hub_constants.HF_HUB_OFFLINE is False  # restored after
