"""The cost adapter plans in latent space only, from the frames swm hands it (needs torch only)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lensemble_reference.pusht.adapter import LatentGoalCost  # noqa: E402 - only once torch is known to be there


class PositionModel:
    """A model part whose latent is the mean of the red channel's two halves, and whose predictor
    adds the action: planning toward a goal latent then means choosing actions that sum to the gap."""

    def encode(self, params, obs):
        x = np.asarray(obs, dtype=np.float32)
        assert x.ndim == 4 and x.shape[1] == 3, "the protocol takes (N, C, H, W) floats"
        assert 0.0 <= x.min() and x.max() <= 1.0
        w = x.shape[-1] // 2
        return np.stack([x[:, 0, :, :w].mean(axis=(1, 2)), x[:, 0, :, w:].mean(axis=(1, 2))], axis=1) * params["scale"]

    def predict(self, params, z, action):
        return np.asarray(z, np.float32) + np.asarray(action, np.float32)


def _frames(left: float, right: float) -> np.ndarray:
    img = np.zeros((4, 4, 3), np.uint8)
    img[:, :2, 0] = round(left * 255)
    img[:, 2:, 0] = round(right * 255)
    return img


def _info(start, goal, samples):
    pix = np.stack([_frames(*start)])[:, None, None]  # (B=1, S, T=1, H, W, C) after expansion
    gl = np.stack([_frames(*goal)])[:, None, None]
    return {
        "pixels": torch.from_numpy(np.repeat(pix, samples, axis=1)),
        "goal": torch.from_numpy(np.repeat(gl, samples, axis=1)),
    }


def test_cost_is_the_terminal_latent_distance_to_the_goal():
    cost = LatentGoalCost(PositionModel(), {"scale": 1.0})
    info = _info((0.2, 0.6), (0.6, 0.2), samples=3)
    cand = torch.tensor([[[[0.2, -0.2], [0.2, -0.2]], [[0.0, 0.0], [0.0, 0.0]], [[0.4, -0.4], [0.4, -0.4]]]])
    c = cost.get_cost(info, cand)
    assert c.shape == (1, 3) and c.dtype == torch.float32
    start, goal = np.array([0.2, 0.6]), np.array([0.6, 0.2])
    expected = [np.sum((start + 2 * np.array(a) - goal) ** 2) for a in ([0.2, -0.2], [0, 0], [0.4, -0.4])]
    np.testing.assert_allclose(c.numpy()[0], expected, atol=2e-3)
    assert int(torch.argmin(c)) == 0  # the candidate that reaches the goal is the cheapest


def test_candidates_are_clipped_to_the_action_box():
    cost = LatentGoalCost(PositionModel(), {"scale": 1.0})
    info = _info((0.0, 0.0), (1.0, 1.0), samples=2)
    cand = torch.tensor([[[[5.0, 5.0]], [[1.0, 1.0]]]])
    c = cost.get_cost(info, cand).numpy()[0]
    assert c[0] == pytest.approx(c[1])  # 5 acts as 1: the environment clips it the same way


def test_running_cost_weighs_intermediate_distances():
    info = _info((0.0, 0.0), (0.4, 0.0), samples=2)
    # both end on the goal; the second overshoots first
    cand = torch.tensor([[[[0.2, 0.0], [0.2, 0.0]], [[0.6, 0.0], [-0.2, 0.0]]]])
    terminal = LatentGoalCost(PositionModel(), {"scale": 1.0}).get_cost(info, cand).numpy()[0]
    running = LatentGoalCost(PositionModel(), {"scale": 1.0}, running=1.0).get_cost(info, cand).numpy()[0]
    assert terminal == pytest.approx([0.0, 0.0], abs=1e-4)
    assert running[0] < running[1]


def test_the_adapter_reads_only_the_frames():
    """Nothing but pixels and goal is needed: the planner cannot peek at the true state."""
    cost = LatentGoalCost(PositionModel(), {"scale": 1.0})
    info = _info((0.1, 0.1), (0.3, 0.3), samples=2)
    assert set(info) == {"pixels", "goal"}
    assert cost.get_cost(info, torch.zeros(1, 2, 1, 2)).shape == (1, 2)
