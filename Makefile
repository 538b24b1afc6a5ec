# The two commands a newcomer runs: `make demo` and `make test` (and `make web`, the camera page).
# Both create .venv and install the project with its dev extras when missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo web test lint typecheck layers unit interop-setup web-setup venv clean bench conformance

demo: $(STAMP)
	$(BIN)/warmwire demo

# The camera page: a browser streams its camera through a real face-detection model.
# Builds the page's JavaScript (npm ci + esbuild) when missing, then serves it and
# prints its URL; WEB_PORT=0 picks a free port.
WEB_PORT ?= 8765

web: $(STAMP)
	bash web/setup.sh
	$(BIN)/warmwire demo --web --port $(WEB_PORT)

test: $(STAMP) lint typecheck layers unit

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,web]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/warmwire

layers: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP) interop-setup web-setup
	$(BIN)/pytest

# What tests/web needs: the page's npm packages and bundle, and Chromium to open it.
web-setup:
	bash web/setup.sh --chromium

# The peers tests/interop drives: Chromium, the npm packages, the fal runtime's venv.
interop-setup:
	PYTHON=$(PYTHON) bash tests/interop/setup.sh

# The benchmark (bench/): every contender, interleaved; writes docs/benchmarks.md and .png.
# About 15 minutes; `make bench BENCH_ARGS=--quick` is a smoke run under 2 minutes.
# interop-setup provides fal's own venv, from which the bench's fal endpoint runs.
bench: $(STAMP) interop-setup
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench $(BENCH_ARGS)

# Autobahn TestSuite cases (kosoku) against warmwire as a server and as a client;
# prints "ROLE: N passed, N failed" per run and fails on any failed case.  About a
# minute; each run is bounded by CONFORMANCE_TIMEOUT seconds.
CONFORMANCE_TIMEOUT ?= 300

conformance: $(STAMP)
	$(BIN)/python conformance/run.py --timeout $(CONFORMANCE_TIMEOUT)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
