"""Kinematics and dynamics of the synthetic SO-100-like arm (numpy only).

The arm
-------
Four revolute joints plus a two-finger gripper, as a cartoon of the SO-100 (which has five joints;
the wrist roll is dropped because a planar drawing cannot show it unambiguously):

* ``base_yaw`` ψ turns the arm's vertical plane about the vertical axis;
* ``shoulder`` θ1, ``elbow`` θ2 and ``wrist`` θ3 bend the arm inside that plane (angles measured
  from vertical, cumulative: link i points along α_i = θ1 + … + θi);
* ``gripper`` g ∈ [0, 1] is the finger opening (the fingers move apart and splay into a V).

State ``s = (ψ, θ1, θ2, θ3, g)`` (``S = 5``); action ``a`` = joint-velocity commands in rad/s
(gripper: opening per second), ``A = S``.

Projection (why the yaw is visible): a point at radial distance r and height z in the arm plane
sits at 3-D ``(r cos ψ, r sin ψ, z)``; the camera is oblique, ``screen = (X, Z + κ·Y)`` with
κ = :data:`OBLIQUE`. A short "turret" pointer drawn from the shoulder along
``(cos ψ, κ sin ψ)`` makes ψ readable on its own, and since |ψ| < π/2 the pair (ψ, screen point)
gives back (r, z): every joint angle can be read off a frame.

Dynamics
--------
``s_{t+1} = clip(s_t + dt · a_t, LIMITS_LO, LIMITS_HI)`` computed in float32, exactly as stored,
so the next state (hence the next frame) is a deterministic function of (current state, action).

Cross-platform determinism: trigonometric results are snapped to a 2^-20 grid (:func:`snap`)
before they reach the float32 rasteriser, so last-bit differences between libm / SIMD
implementations of sin/cos change a rendered pixel only if a value falls within an ulp of a grid
boundary (odds of order 1e-10 per value); the rest of the pipeline uses only correctly rounded
IEEE operations (+ − × ÷ sqrt min max clip), so frames are bit-identical across machines in
practice, not just on one machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

#: Names of the state (and action) coordinates, in order.
JOINT_NAMES: tuple[str, ...] = ("base_yaw", "shoulder", "elbow", "wrist", "gripper")
N_JOINTS = 4
STATE_DIM = N_JOINTS + 1
ACTION_DIM = STATE_DIM

#: Hard joint limits (radians; gripper opening in [0, 1]).
LIMITS_LO = np.array([-1.1, -1.4, -0.4, -1.7, 0.0], dtype=np.float32)
LIMITS_HI = np.array([1.1, 1.4, 2.4, 1.7, 1.0], dtype=np.float32)
#: Velocity-command limits (rad/s; gripper opening per second).
ACTION_LIMIT = np.array([4.0, 4.0, 4.0, 4.0, 3.0], dtype=np.float32)
#: Control period in seconds.
DT = 0.1

#: Oblique-projection factor κ (depth Y is drawn as a vertical shift κ·Y).
OBLIQUE = 0.35
#: Height of the ground line and of the shoulder pivot (world units; the view spans about ±1.15).
GROUND_Z = -0.80
SHOULDER_Z = GROUND_Z + 0.14
#: Link lengths: upper arm, forearm, wrist-to-palm.
LINK_LENGTHS = (0.50, 0.42, 0.14)
#: Capsule radii: upper arm, forearm, wrist link.
LINK_RADII = (0.065, 0.057, 0.047)
#: Joint disc radii: shoulder, elbow, wrist.
JOINT_RADII = (0.080, 0.068, 0.055)
TURRET_LENGTH = 0.17
TURRET_RADIUS = 0.045
PEDESTAL_HALF = (0.15, 0.07)
PALM_HALF_WIDTH = 0.12
PALM_RADIUS = 0.035
FINGER_LENGTH = 0.16
FINGER_RADIUS = 0.04
FINGER_GAP = (0.02, 0.09)  # finger base offset from the palm centre = gap[0] + gap[1] * g
FINGER_SPLAY = 0.08  # extra outward offset of the finger tips at g = 1 (fingers open like a V)
CUBE_HALF = 0.065

_SNAP = float(2**20)


def snap(x: np.ndarray) -> np.ndarray:
    """Round float64 values to a 2^-20 grid (exact for |x| < 2^32); see the module docstring."""
    return np.round(np.asarray(x, dtype=np.float64) * _SNAP) / _SNAP


def _check_states(states: np.ndarray) -> np.ndarray:
    s = np.asarray(states)
    if s.ndim != 2 or s.shape[1] != STATE_DIM:
        raise InputError(
            f"states must have shape (N, {STATE_DIM}), got {s.shape}",
            remediation=f"Pass one row per frame with the {STATE_DIM} coordinates {JOINT_NAMES}.",
        )
    if not np.all(np.isfinite(s)):
        raise InputError("states contain NaN or Inf", remediation="Pass finite joint angles.")
    return s.astype(np.float64)


def forward_kinematics(states: np.ndarray) -> dict[str, np.ndarray]:
    """Screen-plane (world units, before the camera) positions of the arm's key points.

    Returns a dict of ``(N, 2)`` float64 arrays (snapped): ``shoulder``, ``elbow``, ``wrist``,
    ``palm`` (gripper centre), ``turret`` (tip of the yaw pointer), ``finger_l_base``,
    ``finger_l_tip``, ``finger_r_base``, ``finger_r_tip``, ``palm_l``, ``palm_r``.
    """
    s = _check_states(states)
    yaw, t1, t2, t3, grip = (s[:, i] for i in range(STATE_DIM))
    cy, sy = np.cos(yaw), np.sin(yaw)
    a1 = t1
    a2 = t1 + t2
    a3 = a2 + t3
    n = s.shape[0]
    # in-plane coordinates (r, z)
    r0 = np.zeros(n)
    z0 = np.full(n, SHOULDER_Z)
    r1 = r0 + LINK_LENGTHS[0] * np.sin(a1)
    z1 = z0 + LINK_LENGTHS[0] * np.cos(a1)
    r2 = r1 + LINK_LENGTHS[1] * np.sin(a2)
    z2 = z1 + LINK_LENGTHS[1] * np.cos(a2)
    r3 = r2 + LINK_LENGTHS[2] * np.sin(a3)
    z3 = z2 + LINK_LENGTHS[2] * np.cos(a3)
    d_r, d_z = np.sin(a3), np.cos(a3)  # gripper pointing direction
    n_r, n_z = np.cos(a3), -np.sin(a3)  # in-plane normal (fingers open along it)
    g = np.clip(grip, 0.0, 1.0)
    off = FINGER_GAP[0] + FINGER_GAP[1] * g
    tip = off + FINGER_SPLAY * g

    def project(r: np.ndarray, z: np.ndarray) -> np.ndarray:
        return snap(np.stack([r * cy, z + OBLIQUE * r * sy], axis=1))

    pts = {
        "shoulder": project(r0, z0),
        "elbow": project(r1, z1),
        "wrist": project(r2, z2),
        "palm": project(r3, z3),
        "palm_l": project(r3 + PALM_HALF_WIDTH * n_r, z3 + PALM_HALF_WIDTH * n_z),
        "palm_r": project(r3 - PALM_HALF_WIDTH * n_r, z3 - PALM_HALF_WIDTH * n_z),
        "finger_l_base": project(r3 + off * n_r, z3 + off * n_z),
        "finger_r_base": project(r3 - off * n_r, z3 - off * n_z),
        "finger_l_tip": project(
            r3 + tip * n_r + FINGER_LENGTH * d_r, z3 + tip * n_z + FINGER_LENGTH * d_z
        ),
        "finger_r_tip": project(
            r3 - tip * n_r + FINGER_LENGTH * d_r, z3 - tip * n_z + FINGER_LENGTH * d_z
        ),
    }
    pts["turret"] = snap(
        np.stack([TURRET_LENGTH * cy, SHOULDER_Z + OBLIQUE * TURRET_LENGTH * sy], axis=1)
    )
    return pts


def cube_centres(cubes: np.ndarray) -> np.ndarray:
    """Screen centre ``(N, 2)`` of a cube resting on the table at ground ``(x, depth)``."""
    c = np.asarray(cubes, dtype=np.float64)
    return snap(np.stack([c[:, 0], GROUND_Z + CUBE_HALF + OBLIQUE * c[:, 1]], axis=1))


def step(states: np.ndarray, actions: np.ndarray, dt: float = DT) -> np.ndarray:
    """One control step in float32: ``clip(s + dt·a, LIMITS_LO, LIMITS_HI)`` (actions clipped first)."""
    s = np.asarray(states, dtype=np.float32)
    a = np.clip(np.asarray(actions, dtype=np.float32), -ACTION_LIMIT, ACTION_LIMIT)
    return np.clip(s + np.float32(dt) * a, LIMITS_LO, LIMITS_HI)


@dataclass(frozen=True)
class Region:
    """A silo's region of state/action space.

    Targets follow ``centre + half_range · u(t)`` with ``u`` a smooth sinusoid mixture in [-1, 1];
    ``speed`` scales every frequency (and so the typical action magnitude).
    """

    centre: tuple[float, ...]
    half_range: tuple[float, ...]
    speed: float

    def to_dict(self) -> dict[str, object]:
        return {"centre": list(self.centre), "half_range": list(self.half_range), "speed": self.speed}


#: Smooth-policy constants: sinusoid components per coordinate, their frequency band (rad per
#: step at speed 1), and the Ornstein–Uhlenbeck action noise (correlation per step, stddev in rad/s).
POLICY_COMPONENTS = 3  # the normalisation in rollout() spells out three terms
POLICY_FREQ_BAND = (0.2, 0.6)
POLICY_GRIPPER_FREQ_SCALE = 0.6
OU_RHO = 0.8
OU_SIGMA = 0.5
#: Soft saturation gain g of the target mixture: u = tanh(g·Σ w_k sin(ω_k t + φ_k)) / tanh(g).
POLICY_GAIN = 1.8


def rollout(
    rng: np.random.Generator, region: Region, n_episodes: int, horizon: int, dt: float = DT
) -> tuple[np.ndarray, np.ndarray]:
    """Episodes of the smooth random tracking policy inside ``region``.

    Target per coordinate: ``centre + half_range · tanh(g·Σ_k w_k sin(ω_k t + φ_k)) / tanh(g)``
    with :data:`POLICY_COMPONENTS` components, ``ω_k ~ U(POLICY_FREQ_BAND) · speed`` (gripper
    slower), random phases and weights summing to one.

    The policy commands ``a_t = (target_{t+1} − s_t)/dt + OU noise`` (clipped to
    :data:`ACTION_LIMIT`), so the arm follows a smooth random target through its region with
    visible motion every step; the state then evolves by :func:`step`. Returns ``states``
    ``(E, T+1, S)`` and ``actions`` ``(E, T, S)``, both float32, satisfying
    ``states[:, t+1] == step(states[:, t], actions[:, t])`` exactly.
    """
    e, s_dim, k = n_episodes, STATE_DIM, POLICY_COMPONENTS
    centre = np.asarray(region.centre, dtype=np.float64)
    half = np.asarray(region.half_range, dtype=np.float64)
    freq_scale = np.ones(s_dim)
    freq_scale[-1] = POLICY_GRIPPER_FREQ_SCALE
    omega = region.speed * freq_scale[None, :, None] * rng.uniform(*POLICY_FREQ_BAND, size=(e, s_dim, k))
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(e, s_dim, k))
    weight = rng.uniform(0.3, 1.0, size=(e, s_dim, k))
    weight = weight / (weight[..., 0] + weight[..., 1] + weight[..., 2])[..., None]
    eps = rng.standard_normal(size=(e, horizon, s_dim))
    init_noise = rng.normal(0.0, 0.02, size=(e, s_dim))

    t = np.arange(horizon + 1, dtype=np.float64)
    waves = snap(np.sin(omega[:, None, :, :] * t[None, :, None, None] + phase[:, None, :, :]))
    u = np.zeros((e, horizon + 1, s_dim))
    for j in range(k):  # explicit order: no reduction whose summation order could vary
        u = u + waves[..., j] * weight[:, None, :, j]
    # spread the mixture over the region (a plain sum of incoherent sinusoids hugs the centre)
    u = snap(np.tanh(POLICY_GAIN * u) / np.tanh(POLICY_GAIN))  # (E, T+1, S) in [-1, 1]
    target = centre + half * u

    lo, hi = LIMITS_LO.astype(np.float64), LIMITS_HI.astype(np.float64)
    states = np.empty((e, horizon + 1, s_dim), dtype=np.float32)
    actions = np.empty((e, horizon, s_dim), dtype=np.float32)
    states[:, 0] = np.clip(target[:, 0] + init_noise, lo, hi).astype(np.float32)
    noise = np.zeros((e, s_dim))
    sigma = OU_SIGMA * region.speed
    innov = sigma * np.sqrt(1.0 - OU_RHO**2)
    for i in range(horizon):
        noise = OU_RHO * noise + innov * eps[:, i]
        cmd = (target[:, i + 1] - states[:, i].astype(np.float64)) / dt + noise
        actions[:, i] = np.clip(cmd, -ACTION_LIMIT, ACTION_LIMIT).astype(np.float32)
        states[:, i + 1] = step(states[:, i], actions[:, i], dt)
    return states, actions
