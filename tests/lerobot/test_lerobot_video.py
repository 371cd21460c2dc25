"""Video-feature LeRobot datasets: AV1 written by lerobot (PyAV encoder), decoded by our PyAV reader.

Video is lossy, so frames are compared with tolerances: the written frames are solid colours with a
gentle horizontal gradient (what AV1 at lerobot's CRF 30 keeps almost exactly). Each frame's green
level names its frame index (levels 12/255 apart), so a decoder that returns a neighbouring frame
(an off-by-one in timestamps or seeking) fails the identity check, not just the error budget.
"""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest
from so100_data import FPS, ep_red, frame_green, frame_rgb

from lensemble_reference._video import decode_frames_at, import_lerobot, pyav_decoding
from lensemble_reference.lerobot_data import HELDOUT, load_lerobot_silos
from lensemble_reference.lerobot_data.silos import to_model_frames
from lensemble_spec.errors import DataError

LENGTHS = [6, 7, 8, 6, 7]
SHAPE = (64, 64, 3)
KEY = "observation.images.front"
#: Mean absolute error budget per frame ([0, 1] scale). Measured: mean 0.005, max 0.007 on these frames.
VIDEO_MAE = 0.03


@pytest.fixture(scope="module")
def video_root(so100_writer):
    return so100_writer("so100_vid", LENGTHS, use_videos=True, gradient=True)


def _written(e: int, t: int) -> np.ndarray:
    return frame_rgb(e, t, SHAPE, gradient=True).transpose(2, 0, 1).astype(np.float32) / 255


def test_video_silos_match_written_frames(video_root):
    s = load_lerobot_silos([video_root], horizon=2, image_size=64)
    assert s.split_policy["roots"][0]["image_is_video"] is True
    errors = []
    for name, silo in {**s.silos, HELDOUT: s.heldout}.items():
        for row, (_, e, first) in enumerate(s.chunk_sources[name]):
            for j in range(3):
                t = int(first) + j
                got = silo.obs[row, j]
                errors.append(np.abs(got - _written(int(e), t)).mean())
                # identity: the decoded green level is nearest to this frame's, not a neighbour's
                green = got[1].mean() * 255
                assert abs(green - frame_green(t)) < 6, (name, row, j, green)
                assert abs(got[0].mean() * 255 - ep_red(int(e))) < 6
    assert max(errors) < VIDEO_MAE, max(errors)
    assert len(errors) == 3 * sum((n - 1) // 2 for n in LENGTHS)  # every chunk of every episode


def test_video_is_resized_like_written_frames(video_root):
    s = load_lerobot_silos([video_root], horizon=2, image_size=48)
    silo, src = s.silos["silo0"], s.chunk_sources["silo0"]
    _, e, first = (int(v) for v in src[0])
    expected = to_model_frames(np.stack([frame_rgb(e, first + j, SHAPE, gradient=True) for j in range(3)]), 48)
    assert silo.obs.shape[-2:] == (48, 48)
    assert np.abs(silo.obs[0] - expected).mean() < VIDEO_MAE


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="a real torchvision is installed")
def test_lerobot_getitem_decodes_only_inside_the_scoped_patch(video_root):
    lerobot_dataset, _ = import_lerobot()
    from lerobot.datasets import video_utils

    original = video_utils.decode_video_frames_torchvision
    ds = lerobot_dataset("local/so100_vid", root=video_root, video_backend="pyav")
    with pyav_decoding():
        items = [ds[i] for i in (0, 7, len(ds) - 1)]  # first frame, mid-file episode, last frame
        assert video_utils.decode_video_frames_torchvision is not original
    assert video_utils.decode_video_frames_torchvision is original  # restored
    for item in items:
        e, t = int(item["episode_index"]), int(item["frame_index"])
        img = item[KEY].numpy()
        assert img.shape == (3, 64, 64)
        assert np.abs(img - _written(e, t)).mean() < VIDEO_MAE
    with pytest.raises(DataError, match="torchvision is not installed"):
        ds[3]  # outside the patch lerobot's pyav path would need torchvision.io


def test_decode_frames_at_order_repeats_and_missing(video_root):
    path = next((video_root / "videos").rglob("*.mp4"))
    stamps = [0.3, 0.0, 0.3, 0.1]
    frames = decode_frames_at(path, stamps)
    assert frames.shape == (4, 64, 64, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[0], frames[2])
    greens = frames[..., 1].mean(axis=(1, 2))
    np.testing.assert_allclose(greens, [frame_green(t) for t in (3, 0, 3, 1)], atol=6)
    end = sum(LENGTHS) / FPS
    with pytest.raises(DataError, match="no frame within"):
        decode_frames_at(path, [0.0, end + 1.0])
    with pytest.raises(DataError, match="cannot decode"):
        decode_frames_at(video_root / "meta" / "info.json", [0.0])


def test_missing_video_file_is_a_data_error_not_a_download(video_root, tmp_path):
    broken = shutil.copytree(video_root, tmp_path / "no_video")
    for mp4 in (broken / "videos").rglob("*.mp4"):
        mp4.unlink()
    with pytest.raises(DataError, match="incomplete"):
        load_lerobot_silos([broken], horizon=2)
    assert not any((broken / "videos").rglob("*.mp4"))
