"""benchmarks/polar_schedule.py: the step counts docs/metrics-speed.md quotes for a polynomial polar factor."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("polar_schedule", ROOT / "benchmarks" / "polar_schedule.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quoted_schedules_from_kappa_100(capsys):
    assert _load().main(["--kappa", "100"]) == 0
    out = capsys.readouterr().out
    assert "degree 3: 8 steps, 16 products" in out
    assert "degree 5: 5 steps, 15 products" in out
    assert "degree 7: 5 steps, 20 products" in out
    assert "degree 9: 4 steps, 16 products" in out


def test_a_step_never_widens_the_interval_and_the_optimum_beats_plain_newton_schulz():
    import numpy as np
    from scipy.optimize import linprog

    mod = _load()
    lo, hi, err = mod._step(np, linprog, 0.01, 1.0, 5)
    x = np.geomspace(0.01, 1.0, 4000)
    plain = (15 * x - 10 * x**3 + 3 * x**5) / 8  # the classical quintic Newton–Schulz step
    assert 0 < lo <= hi and err < 1.0
    assert err <= float(np.max(np.abs(1 - plain))) + 1e-9
    assert abs(1 - lo) <= err + 1e-9 and abs(hi - 1) <= err + 1e-9
