"""Non-IID split policy: silos differ in appearance and in state/action region; the held-out split
has a novel appearance over in-distribution states; the probe never shows the held-out style.

Catches: IID silos (no gauge pressure), a held-out split that extrapolates in state (unfair test)
or reuses a training appearance (no generalisation test), a probe leaking the held-out split.
"""

from __future__ import annotations

import itertools

import numpy as np

from lensemble_spec.worlds import flatten_frames


def test_state_means_differ_between_silos(hworld):
    means = {n: s.states.reshape(-1, s.states.shape[-1]).mean(0) for n, s in hworld.silos.items()}
    for a, b in itertools.combinations(means, 2):
        assert np.linalg.norm(means[a] - means[b]) > 0.3, (a, b, means[a], means[b])


def test_mean_colours_differ_between_silos(hworld):
    cols = {n: s.obs.mean(axis=(0, 1, 3, 4)) for n, s in [*hworld.silos.items(), ("heldout", hworld.heldout)]}
    for a, b in itertools.combinations(cols, 2):
        assert np.linalg.norm(cols[a] - cols[b]) > 0.05, (a, b, cols[a], cols[b])


def test_silo_identity_is_linearly_decodable_from_pixels(hworld):
    """A nearest-class-mean classifier on downsampled pixels recovers the silo of held-back frames."""
    xs, ys = [], []
    for i, s in enumerate(hworld.silos.values()):
        frames, _ = flatten_frames(s)
        xs.append(frames.reshape(len(frames), 3, 8, 4, 8, 4).mean(axis=(3, 5)).reshape(len(frames), -1))
        ys.append(np.full(len(frames), i))
    x, y = np.concatenate(xs), np.concatenate(ys)
    train = np.arange(len(x)) % 2 == 0
    centroids = np.stack([x[train & (y == c)].mean(0) for c in range(4)])
    pred = np.argmin(((x[~train][:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (pred == y[~train]).mean() > 0.95


def test_action_scale_differs(hworld):
    mags = [np.abs(s.actions).mean() for s in hworld.silos.values()]
    assert max(mags) > 1.3 * min(mags), mags
    speeds = [s.region.speed for s in hworld.spec.silos]
    assert len(set(speeds)) == len(speeds)


def test_heldout_states_inside_training_union_and_appearance_novel(hworld):
    train = np.concatenate([s.states.reshape(-1, s.states.shape[-1]) for s in hworld.silos.values()])
    held = hworld.heldout.states.reshape(-1, train.shape[-1])
    lo, hi = train.min(0), train.max(0)
    margin = 0.05 * (hi - lo)
    assert (held >= lo - margin).all() and (held <= hi + margin).all()
    # the held-out region centre lies inside every training box (the union covers it)
    hc = np.asarray(hworld.spec.heldout.region.centre)
    for s in hworld.spec.silos:
        c, h = np.asarray(s.region.centre), np.asarray(s.region.half_range)
        assert (np.abs(hc - c) < h).all(), s.name
    train_styles = {s.style.texture for s in hworld.spec.silos}
    assert hworld.spec.heldout.style.texture not in train_styles
    assert hworld.spec.heldout.style not in [s.style for s in hworld.spec.silos]


def test_probe_covers_state_range_and_excludes_heldout_style(hworld):
    spec = hworld.spec
    assert "heldout" not in spec.probe.styles
    assert set(spec.probe.styles) == {"public", *hworld.silos}
    lo, hi = np.asarray(spec.probe.state_low), np.asarray(spec.probe.state_high)
    ps = hworld.probe_states
    assert (ps >= lo - 1e-6).all() and (ps <= hi + 1e-6).all()
    # spread over the full training range, not a single silo's region
    assert ((ps.max(0) - ps.min(0)) > 0.6 * (hi - lo)).all()
    # the probe frames are all distinct and not degenerate (rank ≥ harness latent dim 32)
    flat = hworld.probe.points.reshape(len(ps), -1).astype(np.float64)
    flat -= flat.mean(0)
    eig = np.linalg.eigvalsh(flat @ flat.T)  # (k, k) Gram matrix: same non-zero spectrum, cheaper
    assert (eig > 1e-6 * eig[-1]).sum() >= 32
