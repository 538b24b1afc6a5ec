# The two commands a newcomer runs: `make demo` and `make test` (and `make web`, the camera page).
# Both create .venv and install the project with its dev extras when missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo web test docs docs-serve docs-screenshot lint typecheck layers unit interop-setup web-setup jsclient-setup scale-setup venv clean bench bench-scale conformance cluster soak fuzz bench-flood bench-instructions bench-stream bench-workers

demo: $(STAMP)
	$(BIN)/warmwire demo

# The camera page: a browser streams its camera through a real face-detection model.
# Builds the page's JavaScript (npm ci + esbuild) when missing, then serves it and
# prints its URL; WEB_PORT=0 picks a free port.
WEB_PORT ?= 8765

web: $(STAMP)
	bash web/setup.sh
	$(BIN)/warmwire demo --web --port $(WEB_PORT)

test: $(STAMP) lint typecheck layers docs unit

# The documentation site (mkdocs.yml, docs/): a strict build, so a broken link, a missing
# reference or an unknown generated table fails it; the site goes to build/site.
# docs-serve serves it on DOCS_ADDR and rebuilds on change.
DOCS_ADDR ?= 127.0.0.1:8000

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 PYTHONPATH=src $(BIN)/mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 PYTHONPATH=src $(BIN)/mkdocs serve --strict --dev-addr $(DOCS_ADDR)

# docs/site-front-page.png: the built site's front page in headless Chromium (make web-setup
# installs it).
CHROMIUM ?= chromium

docs-screenshot: docs
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900 \
		--screenshot=$(CURDIR)/docs/site-front-page.png file://$(CURDIR)/build/site/index.html

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,web,ray,docs]'
	touch $(STAMP)

# docs/: only its Python files (the site's hooks, example modules); the pages' code blocks are
# run by tests/docs, and the reports' blocks (benchmarks, scaling...) are their generators'.
lint: $(STAMP)
	$(BIN)/ruff check src tests bench deploy
	$(BIN)/ruff format --check src tests bench deploy
	$(BIN)/ruff check --extend-exclude '*.md' docs
	$(BIN)/ruff format --check --extend-exclude '*.md' docs

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/warmwire

layers: $(STAMP)
	$(BIN)/lint-imports --no-cache

unit: $(STAMP) interop-setup web-setup jsclient-setup scale-setup
	$(BIN)/pytest

# What tests/scale needs: nginx (apt-get install when missing and root).
scale-setup:
	bash deploy/setup.sh

# What tests/web needs: the page's npm packages and bundle, and Chromium to open it.
web-setup:
	bash web/setup.sh --chromium

# What tests/jsclient needs: warmwire's JavaScript client (clients/js), its npm packages and build.
jsclient-setup:
	bash clients/js/setup.sh

# The peers tests/interop drives: Chromium, the npm packages, the fal runtime's venv.
interop-setup:
	PYTHON=$(PYTHON) bash tests/interop/setup.sh

# valgrind (callgrind) for the instructions counts of make bench and make bench-instructions.
VALGRIND_SETUP := bash deploy/debian-package.sh valgrind "the instructions counts" valgrind callgrind_control

# The benchmark (bench/): every contender, interleaved; writes docs/benchmarks.md and .png.
# About 15 minutes; `make bench BENCH_ARGS=--quick` is a smoke run under 2 minutes.
# interop-setup provides fal's own venv, from which the bench's fal endpoint runs.
bench: $(STAMP) interop-setup
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(VALGRIND_SETUP) || echo "make bench: without valgrind, the instructions row says not measured"
	$(BIN)/python -m bench $(BENCH_ARGS)

# Time to first event of a progressive output (bench/stream.py): warmwire's /stream vs the same
# output over its WebSocket and vs the fal runtime's own streaming endpoint, as ratios.
bench-stream: $(STAMP) interop-setup
	$(BIN)/python -m bench.stream $(BENCH_STREAM_ARGS)

# Runner instructions per 32 B round trip under callgrind (bench/instructions.py), beside the
# websockets echo server's in the same run: repeatable on a busy machine.
# BENCH_INSTRUCTIONS_ARGS="--tree /path/to/other/checkout --tree ." compares checkouts in one
# run (e.g. a git worktree of the commit before a hot-path change).
BENCH_INSTRUCTIONS_ARGS ?=

bench-instructions: $(STAMP)
	$(VALGRIND_SETUP)
	$(BIN)/python -m bench.instructions $(BENCH_INSTRUCTIONS_ARGS)

# A local scale-out cluster: token service + CLUSTER_RUNNERS runners of the echo app
# behind nginx on 127.0.0.1:CLUSTER_PORT (docs/scaling.md).  Prints the URL and a
# dev key; Ctrl-C stops everything.
CLUSTER_RUNNERS ?= 2
CLUSTER_PORT ?= 8080

cluster: $(STAMP) scale-setup
	$(BIN)/python deploy/cluster.py --runners $(CLUSTER_RUNNERS) --port $(CLUSTER_PORT)

# The scale-out figures (bench/scale.py): round trips direct vs nginx vs Ray Serve's Python
# proxy vs Ray Serve's HAProxy direct ingress (one run, interleaved), cold starts from zero,
# and sessions per second through each path.  About 4 minutes; BENCH_SCALE_ARGS=--quick is
# a smoke run, --write-docs updates the Measured section of docs/scaling.md.
BENCH_SCALE_ARGS ?= --write-docs

bench-scale: $(STAMP) scale-setup
	$(BIN)/python -m bench.scale $(BENCH_SCALE_ARGS)

# `warmwire serve --workers N`: sessions/s and messages/s at 1 and 2 workers, interleaved
# (bench/workers.py; about 2 minutes).
bench-workers: $(STAMP)
	$(BIN)/python -m bench.workers $(BENCH_WORKERS_ARGS)

# Autobahn TestSuite cases (kosoku) against warmwire as a server and as a client;
# prints "ROLE: N passed, N failed" per run and fails on any failed case.  About a
# minute; each run is bounded by CONFORMANCE_TIMEOUT seconds.
CONFORMANCE_TIMEOUT ?= 300

conformance: $(STAMP)
	$(BIN)/python conformance/run.py --timeout $(CONFORMANCE_TIMEOUT)

# The full soak (bench/soak.py): a `warmwire serve` runner in its own process and
# SOAK_WORKERS load-generator processes, SOAK_SESSIONS x SOAK_SECONDS at SOAK_RATE
# numbered messages/s each, under asyncio and trio; prints the figures and fails on
# any loss, duplicate, misordering or leak.  `make test` runs a short form
# (tests/reliability/test_soak_processes.py).  SOAK_ARGS passes more options
# (e.g. --backend asyncio, --client warmwire, --json out.json).
SOAK_SESSIONS ?= 500
SOAK_SECONDS ?= 60
SOAK_RATE ?= 20
SOAK_WORKERS ?= 2

soak: $(STAMP)
	$(BIN)/python -m bench.soak --sessions $(SOAK_SESSIONS) --seconds $(SOAK_SECONDS) \
		--rate $(SOAK_RATE) --workers $(SOAK_WORKERS) $(SOAK_ARGS)

# Good sessions' latency, quiet and under a flood of 5,000 bad-token connection
# attempts from separate processes (bench/flood.py); prints p50/p99 and the ratio.
FLOOD_ARGS ?=

bench-flood: $(STAMP)
	$(BIN)/python -m bench.flood $(FLOOD_ARGS)

# atheris over the handshake parser, the frame path, the codecs, the URL/app-id parsers
# and token verification; FUZZ_SECONDS in total.  Not part of `make test`.
FUZZ_SECONDS ?= 60

fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[fuzz]'
	$(BIN)/python fuzz/fuzz_targets.py -max_total_time=$(FUZZ_SECONDS) -max_len=4096

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
