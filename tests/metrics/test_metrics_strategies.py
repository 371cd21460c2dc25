"""The public hypothesis strategies produce what they promise (users build tests on them)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lensemble_spec.metrics import drift_angle_deg
from lensemble_spec.strategies import (
    embeddings,
    haar_orthogonal,
    near_degenerate_matrices,
    orthogonal_matrices,
    plane_rotations,
    rotated_embeddings,
)

PROPS = settings(max_examples=25, deadline=None, derandomize=True)


@PROPS
@given(orthogonal_matrices(st.integers(1, 40)), orthogonal_matrices(st.integers(2, 40), proper=True))
def test_orthogonal_and_proper(q, r):
    assert np.allclose(q.T @ q, np.eye(q.shape[0]), atol=1e-12)
    assert np.allclose(r.T @ r, np.eye(r.shape[0]), atol=1e-12)
    assert np.linalg.det(r) > 0


# Catches: QR without the sign fix (numpy's Householder QR biases the first column — not Haar),
# and an "SO(d)" sampler that simply never produces a reflection-composed draw.
def test_haar_first_moments():
    rng = np.random.default_rng(0)
    qs = np.stack([haar_orthogonal(rng, 3) for _ in range(3000)])
    assert np.max(np.abs(qs.mean(axis=0))) < 0.05  # E[Q] = 0 under Haar
    dets = np.linalg.det(qs)
    assert 0.45 < np.mean(dets < 0) < 0.55
    so = np.stack([haar_orthogonal(rng, 3, proper=True) for _ in range(3000)])
    assert np.all(np.linalg.det(so) > 0)
    # Haar SO(3): the rotation angle has density (1 − cos θ)/π, so E[tr Q] = 1 + 2E[cos θ] = 0
    assert abs(np.mean(np.trace(so, axis1=1, axis2=2))) < 0.06


@PROPS
@given(plane_rotations(st.integers(2, 32), min_angle=0.1, max_angle=3.0))
def test_plane_rotations_read_their_angle(data):
    theta, q = data
    assert np.allclose(q.T @ q, np.eye(q.shape[0]), atol=1e-12)
    assert np.linalg.det(q) > 0
    assert abs(drift_angle_deg(q) - math.degrees(theta)) < 1e-3
    assert np.linalg.matrix_rank(q - np.eye(q.shape[0]), tol=1e-9) == 2  # exactly one plane moves


@PROPS
@given(st.integers(2, 16).flatmap(lambda d: rotated_embeddings(3 * d, d, proper=True)))
def test_rotated_embeddings_are_consistent(data):
    s, q, t = data
    assert np.array_equal(t, s @ q)
    assert np.linalg.det(q) > 0


@PROPS
@given(embeddings(st.integers(8, 40), st.integers(2, 8), max_condition=5.0))
def test_embeddings_are_finite_full_rank(z):
    assert np.all(np.isfinite(z))
    assert np.linalg.matrix_rank(z) == z.shape[1]


@PROPS
@given(st.integers(3, 12).flatmap(lambda d: near_degenerate_matrices(2 * d, d, tail=1e-9)))
def test_near_degenerate_spectrum(m):
    sv = np.linalg.svd(m, compute_uv=False)
    assert abs(sv[0] - 1.0) < 1e-9
    assert 1 <= int(np.sum(sv > 0.5)) <= m.shape[1] - 1
    assert np.all((np.abs(sv - 1.0) < 1e-9) | (sv < 1e-8))
