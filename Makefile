# layerserve: `make run` serves models/ on http://127.0.0.1:8000, `make test` runs the suite.
# Both set up everything they need from scratch (a virtualenv in .venv, torch pinned in constraints.txt).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-dev run test test-fast lint format docs system-deps clean bench

# `make install` (what `make run` uses): the runtime dependencies only. `make install-dev`
# (what `make test`, `make lint` and `make docs` use) adds the dev extras: test tools, the
# browser driver, ONNX, scikit-learn, the deployment linters and MkDocs.
DEV_INSTALLED := $(VENV)/.installed-dev

install: $(INSTALLED)

install-dev: $(DEV_INSTALLED)

$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(DEV_INSTALLED): $(INSTALLED)
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0 -e '.[dev]'
	touch $@

# Tools the tests drive as real programs (Debian packages): docker-compose, nginx (in front of
# two real instances, on loopback), and the headless Chromium at /usr/bin/chromium that the
# browser tests launch (never a downloaded browser); jq for the docs examples.
system-deps:
	@{ command -v docker-compose && command -v jq && test -x /usr/sbin/nginx && test -x /usr/bin/chromium; } >/dev/null || \
		{ apt-get update && apt-get install -y --no-install-recommends docker-compose jq nginx chromium; }

run: install
	$(BIN)/layerserve serve --models models --host $(HOST) --port $(PORT)

test: install-dev system-deps lint
	$(BIN)/pytest

# The inner loop: unit and API tests, no server process, no browser (under a minute).
test-fast: install-dev
	$(BIN)/pytest -m "not integration" -q

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmark (not a test): layerserve vs a plain Flask app vs the bare forward pass; results in bench/results/.
# Options go through BENCH_ARGS, e.g. make bench BENCH_ARGS="--duration 3 --cases tiny".
BENCH_ARGS ?=
bench: install-dev
	@command -v wrk >/dev/null || { apt-get update && apt-get install -y --no-install-recommends wrk; }
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The documentation site (MkDocs, Material theme) into site/; --strict fails on broken links.
docs: install-dev
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info test-artifacts site
