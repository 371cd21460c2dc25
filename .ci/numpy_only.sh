#!/usr/bin/env bash
# The numpy-only install a third party gets from `pip install lensemble-spec` (no extras): no torch,
# datasets, pyarrow or matplotlib. Proves the metrics, the gauge checks and a gauge-only adapter
# run on it, from the installed package (tests run from a copy outside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
py="$work/venv/bin/python"
PIP_CONSTRAINT= "$py" -m pip install -q --disable-pip-version-check "$repo"
"$py" - <<'PY'
import importlib.util, sys, sysconfig, subprocess
absent = ("torch", "datasets", "pyarrow", "matplotlib")
present = [m for m in absent if importlib.util.find_spec(m) is not None]
assert not present, f"a plain install pulled {present}"
site = sysconfig.get_paths()["purelib"]
size = subprocess.run(["du", "-sm", site], capture_output=True, text=True).stdout.split()[0]
print(f"numpy-only install: no {', '.join(absent)}; site-packages {size} MB")
PY
# the reference trainer needs the [reference] extra: a typed error naming it, not a traceback
if "$work/venv/bin/lensemble-spec" train --control anchored --out "$work/run" > "$work/train.log" 2>&1; then
  echo "lensemble-spec train ran without torch?"; exit 1
fi
grep -q "lensemble-spec\[reference\]" "$work/train.log" || { cat "$work/train.log"; exit 1; }
cp -r tests/metrics "$work/tests_metrics"
cp tests/plugin/numpy_gauge.py "$work/"
cd "$work"
export LENSEMBLE_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$py" -m pytest tests_metrics -q -p no:cacheprovider
"$py" -m pytest --pyargs lensemble_spec.conformance --lensemble-impl numpy_gauge \
  --lensemble-parts gauge --lensemble-require conformant -q -p no:cacheprovider
