#!/usr/bin/env bash
# stable-worldmodel PushT in its own venv (extra 'pusht'): torchvision never enters the main venv.
# Builds (or reuses) the venv, runs the smoke comparison (1 round, 2 evaluation episodes, all four
# controls + baselines, `lensemble-spec pusht --smoke`) and tests/pusht, which must not skip here.
# PUSHT_VENV picks the venv directory (default .venv-pusht, reused while pyproject.toml and
# constraints.txt are unchanged).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
PYTHON=${PYTHON:-python3}
venv=${PUSHT_VENV:-.venv-pusht}
stamp="$venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
export PIP_CONSTRAINT= PIP_DISABLE_PIP_VERSION_CHECK=1
if [ ! -e "$stamp" ]; then
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q -U pip
  if ! "$venv/bin/python" -m pip install -q -c constraints.txt -e '.[pusht]' > "$venv/install.log" 2>&1; then
    cat "$venv/install.log" >&2; exit 1
  fi
  touch "$stamp"
fi
py="$venv/bin/python"
"$py" - <<'PY'
from importlib.metadata import version
tv, t = version("torchvision"), version("torch")
assert t.startswith("2.13.0") and "+cu" not in t, f"expected the CPU torch 2.13.0, got {t}"
print(f"pusht venv: torch {t}, torchvision {tv}, stable-worldmodel {version('stable-worldmodel')}")
PY
echo "pusht venv ready in $(( $(date +%s) - start ))s"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SDL_VIDEODRIVER=dummy HF_HUB_OFFLINE=1 STABLEWM_HOME="$work/stablewm" MPLCONFIGDIR="$work/mpl"
export LENSEMBLE_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$venv/bin/lensemble-spec" pusht --smoke --quiet --out "$work/smoke"
"$py" -m pytest tests/pusht -q -p no:cacheprovider -rs | tee "$work/pytest.log"
if grep -Eq "[0-9]+ skipped" "$work/pytest.log"; then
  echo "error: tests/pusht skipped tests in the pusht venv (stable-worldmodel should be importable here)" >&2
  exit 1
fi
echo "pusht smoke + tests passed in $(( $(date +%s) - start ))s"
