"""The interval of a success rate over episodes: the two-sided 95% Wilson score interval.

For ``k`` successes in ``n`` episodes, ``p̂ = k/n`` and ``z = 1.959964``::

    centre = (p̂ + z²/(2n)) / (1 + z²/n)
    half   = z · sqrt(p̂(1 − p̂)/n + z²/(4n²)) / (1 + z²/n)

Unlike the normal (Wald) interval it stays inside [0, 1] and does not collapse to a point at 0 or
``n`` successes, which is where a planner's success rate often sits.
"""

from __future__ import annotations

import math

from ..errors import InputError

#: Two-sided 95% normal quantile.
Z_975 = 1.959964
METHOD = "two-sided 95% Wilson score interval over episodes (z = 1.959964)"


def wilson_interval(successes: int, n: int, z: float = Z_975) -> tuple[float, float]:
    """``(low, high)`` of the Wilson score interval; raises InputError for ``n < 1`` or ``k ∉ [0, n]``."""
    if isinstance(n, bool) or isinstance(successes, bool) or int(n) != n or int(successes) != successes:
        raise InputError(
            f"successes and n must be integers, got {successes!r}, {n!r}",
            remediation="Count episodes and successes as integers.",
        )
    n, k = int(n), int(successes)
    if n < 1 or not 0 <= k <= n:
        raise InputError(
            f"need n >= 1 and 0 <= successes <= n, got {k} of {n}", remediation="Evaluate at least one episode."
        )
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # the exact ends at 0 and n successes (the formula gives them up to rounding)
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


__all__ = ["METHOD", "Z_975", "wilson_interval"]
