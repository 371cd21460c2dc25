"""Tiny SO-100-shaped LeRobot datasets written with lerobot's own API, fully offline.

Every frame and vector encodes where it came from, so tests can check that a silo row holds the
right frames, states and actions:

* image/video frame of episode ``e``, frame ``t``: a solid colour ``R = ep_red(e)``,
  ``G = frame_green(t)``, ``B = 128`` (optionally a gentle horizontal gradient on B, which video
  compression keeps);
* ``observation.state[t, j] = 100·e + t + 0.1·j``; ``action[t, j] = state[t, j] + 0.5`` (the
  gripper dimension can be made constant to exercise the std floor).

(A uniquely named module rather than conftest.py so test modules can import the helpers.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
FPS = 10


def ep_red(e: int) -> int:
    return 10 + 23 * e  # distinct per episode for e < 11


def frame_green(t: int) -> int:
    return 8 + 12 * t  # distinct per frame for t < 21


def raw_state(e: int, t: int, *, constant_gripper: bool = False) -> np.ndarray:
    s = 100.0 * e + t + 0.1 * np.arange(6)
    if constant_gripper:
        s[5] = 0.25
    return s.astype(np.float32)


def raw_action(e: int, t: int, *, constant_gripper: bool = False) -> np.ndarray:
    a = raw_state(e, t, constant_gripper=constant_gripper) + np.float32(0.5)
    if constant_gripper:
        a[5] = 0.75
    return a.astype(np.float32)


def frame_rgb(e: int, t: int, shape: tuple[int, int, int], *, gradient: bool = False) -> np.ndarray:
    w = shape[1]
    img = np.empty(shape, dtype=np.uint8)
    img[..., 0] = ep_red(e)
    img[..., 1] = frame_green(t)
    img[..., 2] = np.linspace(96, 160, w).round().astype(np.uint8)[None, :] if gradient else 128
    return img


def write_so100(
    root: Path,
    lengths: list[int],
    *,
    use_videos: bool = False,
    image_shape: tuple[int, int, int] = (64, 64, 3),
    with_image: bool = True,
    constant_gripper: bool = False,
    gradient: bool = False,
    first_episode: int = 0,
    fps: int = FPS,
) -> Path:
    """Write a LeRobot v3.0 dataset at ``root`` (must not exist) with episodes of ``lengths`` frames.

    Episode ``k`` of this root is numbered ``first_episode + k`` in the pixel/state encoding
    (its lerobot ``episode_index`` is still ``k``), so several roots stay distinguishable.
    """
    from lensemble_reference._video import import_lerobot

    lerobot_dataset, _ = import_lerobot()
    features: dict = {
        "observation.state": {"dtype": "float32", "shape": (6,), "names": JOINTS},
        "action": {"dtype": "float32", "shape": (6,), "names": JOINTS},
    }
    if with_image:
        features["observation.images.front"] = {
            "dtype": "video" if use_videos else "image",
            "shape": image_shape,
            "names": ["height", "width", "channels"],
        }
    ds = lerobot_dataset.create(
        repo_id=f"local/{root.name}",
        fps=fps,
        features=features,
        root=root,
        robot_type="so100",
        use_videos=use_videos,
        video_backend="pyav",
    )
    for k, length in enumerate(lengths):
        e = first_episode + k
        for t in range(length):
            frame = {
                "observation.state": raw_state(e, t, constant_gripper=constant_gripper),
                "action": raw_action(e, t, constant_gripper=constant_gripper),
                "task": "pick the cube",
            }
            if with_image:
                frame["observation.images.front"] = frame_rgb(e, t, image_shape, gradient=gradient)
            ds.add_frame(frame)
        ds.save_episode()
    ds.finalize()
    return root
