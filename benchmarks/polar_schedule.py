"""What a matrix-product polar factor would cost: greedy minimax odd-polynomial schedules.

A polynomial polar iteration ``X ← X·q(XᵀX)`` maps every singular value ``σ`` of the (scaled)
cross-covariance through an odd polynomial ``p``; all of them must end within ``--tol`` of 1. Each
step here takes the odd polynomial of the given degree closest to 1 in max-norm on the current
interval ``[ℓ, u]`` (a linear programme on a geometric grid; scipy's HiGHS), and the next interval
is the image ``[min p, max p]``. Starting from ``ℓ = 1/κ``, it prints per degree the error after
each step, the steps to reach ``--tol`` and the matrix products that costs (degree 3: ``XᵀX`` and
one more; degree 5: three; degrees 7 and 9: four, with ``q`` evaluated from ``A`` and ``A²``).
Errors below the solver's feasibility tolerance (~1e-7) print as 0. Deterministic, no timing.

Usage: ``python benchmarks/polar_schedule.py [--kappa 100 63] [--tol 1.5e-6]``.
docs/metrics-speed.md, "Session 6", quotes it.
"""

from __future__ import annotations

import argparse

PRODUCTS_PER_STEP = {3: 2, 5: 3, 7: 4, 9: 4}


def _step(np, linprog, lo: float, hi: float, degree: int, points: int = 4000):
    x = np.geomspace(lo, hi, points)
    powers = list(range(1, degree + 1, 2))
    v = np.stack([x**k for k in powers], 1)
    n = len(powers)
    cost = np.zeros(n + 1)
    cost[-1] = 1.0  # minimise t subject to |1 − p(x_i)| <= t
    a_ub = np.vstack([np.hstack([-v, -np.ones((points, 1))]), np.hstack([v, -np.ones((points, 1))])])
    b_ub = np.concatenate([-np.ones(points), np.ones(points)])
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=[(None, None)] * n + [(0, None)], method="highs")
    p = v @ res.x[:n]
    return float(p.min()), float(p.max()), float(res.x[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kappa", type=float, nargs="+", default=[100.0, 63.0])
    ap.add_argument("--tol", type=float, default=1.5e-6)
    ap.add_argument("--max-steps", type=int, default=12)
    args = ap.parse_args(argv)
    import numpy as np
    from scipy.optimize import linprog

    for kappa in args.kappa:
        for degree, per_step in PRODUCTS_PER_STEP.items():
            lo, hi, errors = 1.0 / kappa, 1.0, []
            while len(errors) < args.max_steps:
                lo, hi, err = _step(np, linprog, lo, hi, degree)
                errors.append(err)
                if err <= args.tol:
                    break
            reached = errors[-1] <= args.tol
            steps = f"{len(errors)} steps, {len(errors) * per_step} products" if reached else "not reached"
            trail = " ".join(f"{e:.1e}" for e in errors)
            print(f"kappa {kappa:g}, degree {degree}: {steps} to |1-p| <= {args.tol:g}  [{trail}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
