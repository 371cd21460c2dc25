"""Hypothesis strategies for gauge / metric property tests (import these in your own tests).

All strategies draw a 32-bit seed from Hypothesis and build the array with a dedicated
``numpy.random.Generator(PCG64(seed))``: shrinking then works on the seed, examples are
reproducible, and no global RNG is touched. Conventions follow ``lensemble_spec.metrics``: row
latents ``(n, d)``, gauge ``z -> z @ Q``, Procrustes ``S @ Q ≈ T``.

* :func:`orthogonal_matrices` — Haar-distributed on O(d) (or SO(d) with ``proper=True``);
* :func:`plane_rotation` / :func:`plane_rotations` — rotation by exactly θ in one 2-plane;
* :func:`embeddings` — Gaussian ``(n, d)`` latents with a controllable spectrum;
* :func:`rotated_embeddings` — ``(S, Q, S @ Q)`` triples;
* :func:`near_degenerate_matrices` — ``(n, d)`` matrices of a chosen rank plus a tiny tail.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


def _rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def _as_strategy(value: int | st.SearchStrategy[int]) -> st.SearchStrategy[int]:
    return value if isinstance(value, st.SearchStrategy) else st.just(int(value))


def haar_orthogonal(rng: np.random.Generator, d: int, *, proper: bool = False) -> np.ndarray:
    """Haar sample on O(d) (SO(d) if ``proper``): QR of a Gaussian matrix with the sign fix.

    ``G = Q R``; multiplying the columns of ``Q`` by ``sign(diag R)`` makes the factorisation
    unique, which is what makes the result Haar (Mezzadri 2007). For SO(d), a det −1 draw has its
    first column negated: that map is a measure-preserving bijection between the two components.
    """
    g = rng.standard_normal((d, d))
    q, r = np.linalg.qr(g)
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    q = q * signs
    if proper and np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


@st.composite
def orthogonal_matrices(draw: Any, d: int | st.SearchStrategy[int], *, proper: bool = False) -> np.ndarray:
    """Haar-random ``(d, d)`` float64 orthogonal matrices (det +1 only when ``proper=True``)."""
    dim = draw(_as_strategy(d))
    return haar_orthogonal(_rng(draw(SEEDS)), dim, proper=proper)


def plane_rotation(d: int, theta: float, *, basis: np.ndarray | None = None) -> np.ndarray:
    """Rotation by ``theta`` radians in one 2-plane of R^d, identity on its complement.

    The plane is spanned by the first two columns of ``basis`` (an orthogonal ``(d, d)``;
    default the coordinate axes e_0, e_1): ``basis @ G(θ) @ basisᵀ`` with ``G`` a Givens block.
    Its eigen-angles are ``±θ`` and ``d − 2`` zeros, so its drift angle is exactly ``|θ|``.
    """
    if d < 2:
        raise ValueError("a plane rotation needs d >= 2")
    g = np.eye(d)
    c, s = math.cos(theta), math.sin(theta)
    g[0, 0], g[0, 1], g[1, 0], g[1, 1] = c, -s, s, c
    if basis is None:
        return g
    return basis @ g @ basis.T


@st.composite
def plane_rotations(
    draw: Any,
    d: int | st.SearchStrategy[int],
    *,
    min_angle: float = 0.0,
    max_angle: float = math.pi,
) -> tuple[float, np.ndarray]:
    """``(theta, R)``: a rotation by ``theta`` ∈ [min_angle, max_angle] radians in a Haar-random plane."""
    dim = draw(_as_strategy(d))
    theta = draw(st.floats(min_value=min_angle, max_value=max_angle, allow_nan=False, allow_infinity=False))
    basis = haar_orthogonal(_rng(draw(SEEDS)), dim)
    return theta, plane_rotation(dim, theta, basis=basis)


def gaussian_embeddings(rng: np.random.Generator, n: int, d: int, *, condition: float = 1.0,
                        scale: float = 1.0) -> np.ndarray:
    """``(n, d)`` Gaussian latents whose per-direction std spans ``[scale/condition, scale]``
    (log-spaced), in a random orthonormal basis."""
    stds = scale * np.geomspace(1.0, 1.0 / condition, d)
    basis = haar_orthogonal(rng, d)
    return (rng.standard_normal((n, d)) * stds) @ basis.T


@st.composite
def embeddings(
    draw: Any,
    n: int | st.SearchStrategy[int],
    d: int | st.SearchStrategy[int],
    *,
    max_condition: float = 10.0,
    scale: float = 1.0,
) -> np.ndarray:
    """Gaussian ``(n, d)`` float64 latents with a spread of per-direction std up to ``max_condition``."""
    nn, dd = draw(_as_strategy(n)), draw(_as_strategy(d))
    cond = draw(st.floats(min_value=1.0, max_value=max_condition))
    return gaussian_embeddings(_rng(draw(SEEDS)), nn, dd, condition=cond, scale=scale)


@st.composite
def rotated_embeddings(
    draw: Any,
    n: int | st.SearchStrategy[int],
    d: int | st.SearchStrategy[int],
    *,
    proper: bool = False,
    max_condition: float = 10.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(S, Q, S @ Q)`` with ``S`` from :func:`embeddings` and ``Q`` Haar on O(d) / SO(d)."""
    dd = draw(_as_strategy(d))
    s = draw(embeddings(n, dd, max_condition=max_condition))
    q = draw(orthogonal_matrices(dd, proper=proper))
    return s, q, s @ q


@st.composite
def near_degenerate_matrices(
    draw: Any,
    n: int | st.SearchStrategy[int],
    d: int | st.SearchStrategy[int],
    *,
    max_rank: int | None = None,
    tail: float = 1e-9,
) -> np.ndarray:
    """``(n, d)`` matrices with ``rank`` unit singular values and ``d − rank`` equal to ``tail``.

    ``rank`` is drawn from ``[1, min(max_rank, d − 1)]``; with ``tail = 0`` the matrix is exactly
    rank-deficient (up to round-off), with a small ``tail`` it is near-degenerate: its
    cross-covariance with any well-conditioned frame has condition ≈ ``1/tail``.
    """
    nn, dd = draw(_as_strategy(n)), draw(_as_strategy(d))
    if dd < 2 or nn < dd:
        raise ValueError("near_degenerate_matrices needs d >= 2 and n >= d")
    top = dd - 1 if max_rank is None else max(1, min(max_rank, dd - 1))
    rank = draw(st.integers(min_value=1, max_value=top))
    rng = _rng(draw(SEEDS))
    u, _ = np.linalg.qr(rng.standard_normal((nn, dd)))
    v = haar_orthogonal(rng, dd)
    sv = np.full(dd, float(tail))
    sv[:rank] = 1.0
    return (u * sv) @ v.T
