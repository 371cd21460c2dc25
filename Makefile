# Two commands a newcomer needs: `make demo` and `make test`. Both create or update .venv
# idempotently (re-installing only when pyproject.toml, constraints.txt or this file change).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip
export PIP_CONSTRAINT :=
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export FLWR_TELEMETRY_ENABLED := 0
export RAY_USAGE_STATS_ENABLED := 0
export HF_HUB_OFFLINE := 1

.PHONY: venv demo test conformance bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip
	$(PIP) install -q -c constraints.txt -e '.[dev,reference,plots,lerobot,flower]'
	$(PIP) install -q -c constraints.txt --no-deps lerobot==0.4.4
	touch $(STAMP)

demo: venv
	$(BIN)/lensemble-spec headline --seeds 0-4 --rounds 8 --inner-steps 25 --out runs/headline

test: venv
	$(BIN)/python -m pytest tests -q -p no:cacheprovider

conformance: venv
	$(BIN)/python -m pytest conformance --impl reference_impl -q

bench: venv
	$(BIN)/python benchmarks/metrics.py --out benchmarks/results/metrics.json
	$(BIN)/python benchmarks/trainer.py --out benchmarks/results/trainer.json

clean:
	rm -rf $(VENV) runs .lensemble-spec
