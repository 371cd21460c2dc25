"""The SIGReg sketch generator (RFC-0003 §6.2): ``build_sketch(seed, d, m)``, defined bit for bit.

A stranger must be able to rebuild the sketch's bytes from the RFC text in any language, so the
generator uses nothing but 64-bit integer arithmetic and IEEE-754 binary64 operations that every
conforming language rounds the same way (``+ − × ÷`` and ``sqrt``, correctly rounded, no fused
multiply-add). The one transcendental function, ``log``, only *decides* whether a candidate is
accepted; the accepted value itself is a single division. Two ``log`` implementations that differ
in the last bit disagree on a decision only when ``x²`` lies within an ulp of ``−4·log(u)``
(probability ~1e-16 per draw), so the bytes do not depend on the platform's maths library.

1. **Uniform words — SplitMix64** (Steele, Lea & Flood 2014), state ``s = seed`` (an unsigned
   64-bit integer; all arithmetic mod 2⁶⁴)::

       s ← s + 0x9E3779B97F4A7C15
       z ← (s ⊕ (s >> 30)) · 0xBF58476D1CE4E5B9
       z ← (z ⊕ (z >> 27)) · 0x94D049BB133111EB
       x ← z ⊕ (z >> 31)                     the next word

   The ``k``-th word (``k = 1, 2, …``) is the mix of ``seed + k·0x9E3779B97F4A7C15``, which is how
   :func:`splitmix64` computes a whole block at once.

2. **Standard normals — Kinderman–Monahan ratio of uniforms**: take the next two words ``x₁``,
   ``x₂`` (in that order) and their top 53 bits ``w_i = x_i >> 11``::

       u = (w₁ + 1) · 2⁻⁵³                    in (0, 1], exact
       v = C · ((w₂ − 2⁵²) · 2⁻⁵²)            C = 0.8578 (≥ √(2/e)), one rounding
       x = v / u                              one rounding
       accept x if  x · x ≤ −4 · log(u)       (x·x rounded once; −4·log(u): log rounded, ×−4 exact)

   otherwise discard both words and try the next two. Accepted ``x`` are i.i.d. N(0, 1).

3. **Layout**: ``G[i, j]`` is the ``(i·m + j)``-th accepted normal (row-major, row 0 first).

4. **Unit columns**: ``n_j = sqrt(((G₀ⱼ·G₀ⱼ + G₁ⱼ·G₁ⱼ) + G₂ⱼ·G₂ⱼ) + …)`` — squares rounded, summed
   in ascending ``i`` from ``0.0``; ``A[i, j] = G[i, j] / n_j`` (a division, not a multiplication by
   ``1/n_j``); a column with ``n_j = 0`` (every entry exactly 0, probability 2⁻⁵³ᵈ) becomes
   ``(1, 0, …, 0)``.

5. ``A`` is rounded to float32, round to nearest, ties to even.

This replaced NumPy's ``PCG64`` + ziggurat (lensemble-spec 0.1), whose bytes could only be
reproduced by porting NumPy; :data:`SKETCH_GENERATOR` names the generator (runs record it, see
RFC-0003 §6.3).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

#: Name of this generator (RFC-0003 §6.2); a run records it so a reader knows which sketches it trained with.
SKETCH_GENERATOR = "splitmix64-ratio-of-uniforms"
#: Name of the generator of lensemble-spec 0.1 (NumPy PCG64 + ziggurat), recognised only to refuse it.
LEGACY_SKETCH_GENERATOR = "numpy-pcg64-ziggurat"

#: SplitMix64's increment (the golden-ratio gamma) and its two multipliers.
SPLITMIX_GAMMA = 0x9E3779B97F4A7C15
SPLITMIX_MUL1 = 0xBF58476D1CE4E5B9
SPLITMIX_MUL2 = 0x94D049BB133111EB

#: Half-width of the ratio-of-uniforms rectangle: the decimal 0.8578 read as the nearest binary64
#: (``0x1.b7318fc504817p-1``), just above √(2/e) = 0.85776388…, so the acceptance region lies inside
#: the rectangle (any C ≥ √(2/e) is exact; a larger C only rejects a little more).
ROU_HALF_WIDTH = 0.8578

_MASK64 = (1 << 64) - 1


def splitmix64(seed: int, start: int, count: int) -> np.ndarray:
    """Words ``start + 1 … start + count`` of SplitMix64 seeded with ``seed`` (uint64 array)."""
    with np.errstate(over="ignore"):
        k = np.arange(start + 1, start + count + 1, dtype=np.uint64)
        s = np.uint64(seed & _MASK64) + k * np.uint64(SPLITMIX_GAMMA)
        z = (s ^ (s >> np.uint64(30))) * np.uint64(SPLITMIX_MUL1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(SPLITMIX_MUL2)
        return z ^ (z >> np.uint64(31))


def standard_normals(seed: int, count: int) -> np.ndarray:
    """The first ``count`` accepted ratio-of-uniforms normals of the SplitMix64 stream (float64)."""
    out: list[np.ndarray] = []
    have, used = 0, 0
    while have < count:
        pairs = max(16, int((count - have) * 1.4) + 16)  # acceptance is π/(4·C·√2·…) ≈ 0.73
        words = splitmix64(seed, used, 2 * pairs)
        used += 2 * pairs
        w1 = (words[0::2] >> np.uint64(11)).astype(np.float64)
        w2 = (words[1::2] >> np.uint64(11)).astype(np.float64)
        u = (w1 + 1.0) * 2.0**-53
        v = ROU_HALF_WIDTH * ((w2 - 2.0**52) * 2.0**-52)
        x = v / u
        accepted = x[x * x <= -4.0 * np.log(u)]
        out.append(accepted)
        have += accepted.size
    return np.concatenate(out)[:count]


def build_sketch(seed: int, d: int, n_directions: int) -> np.ndarray:
    """Deterministic ``(d, n_directions)`` float32 matrix of unit columns (module docstring, RFC-0003 §6.2)."""
    for name, value, low in (("seed", seed, 0), ("d", d, 1), ("n_directions", n_directions, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(
                f"{name} must be an int >= {low}, got {value!r}",
                remediation="Pass build_sketch(seed >= 0, d >= 1, n_directions >= 1) as integers.",
            )
    if int(seed) > _MASK64:
        raise InputError(
            f"seed must be < 2**64, got {seed!r}", remediation="Pass a sketch seed from derive_seed (63 bits)."
        )
    d, m = int(d), int(n_directions)
    g = standard_normals(int(seed), d * m).reshape(d, m)
    sq = g * g
    total = np.zeros(m)
    for i in range(d):  # ascending i, one rounding per addition (np.sum would sum pairwise)
        total = total + sq[i]
    norm = np.sqrt(total)
    zero = norm == 0.0
    if np.any(zero):
        g[:, zero] = 0.0
        g[0, zero] = 1.0
        norm[zero] = 1.0
    return (g / norm).astype(np.float32)
