# layerserve: `make run` serves models/ on http://127.0.0.1:8000, `make test` runs the suite.
# Both set up everything they need from scratch (a virtualenv in .venv, every dependency pinned in
# constraints.txt, the lock that the image uses too).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
GRPC_PORT ?= 8001

.PHONY: install install-dev run test test-fast lint format docs system-deps clean bench lock image compose-up compose-down

# `make install` (what `make run` uses): the runtime dependencies only. `make install-dev`
# (what `make test`, `make lint` and `make docs` use) adds the dev extras: test tools, the
# browser driver, ONNX, scikit-learn, the deployment linters and MkDocs.
DEV_INSTALLED := $(VENV)/.installed-dev

install: $(INSTALLED)

install-dev: $(DEV_INSTALLED)

$(INSTALLED): pyproject.toml setup.py constraints.txt service/grpc_api/grpc_predict_v2.proto
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(DEV_INSTALLED): $(INSTALLED)
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0 -e '.[dev]'
	touch $@

# constraints.txt pins every dependency, the extras included (dev, export, train): pip-tools compiles
# it from pyproject.toml and the hand-chosen pins in constraints.in. requirements.txt is the runtime
# part of it, which the image installs. Run after changing either; LOCK_ARGS=--upgrade moves every
# pin to the newest release the ranges allow.
LOCK_ARGS ?=
PIP_COMPILE = $(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links --annotation-style line
lock:  # not `install`: that installs with the lock being replaced
	test -x $(BIN)/pip || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet pip-tools==7.6.2
	$(PIP_COMPILE) --all-extras --constraint constraints.in --output-file constraints.txt $(LOCK_ARGS) pyproject.toml
	$(PIP_COMPILE) --constraint constraints.txt --output-file requirements.txt pyproject.toml

# Tools the tests drive as real programs (Debian packages): docker-compose, nginx (in front of
# two real instances, on loopback), the headless Chromium at /usr/bin/chromium that the
# browser tests launch (never a downloaded browser), jq for the docs examples, and podman with
# podman-compose, runc, netavark and aardvark-dns (its network and DNS), iptables and mmdebstrap
# (the local base image) for the compose stack in real containers.
CONTAINER_DEPS := podman podman-compose runc netavark aardvark-dns iptables mmdebstrap
system-deps:
	@{ command -v docker-compose && command -v jq && test -x /usr/sbin/nginx && test -x /usr/bin/chromium \
		&& command -v podman-compose && command -v mmdebstrap && command -v runc && command -v iptables; } >/dev/null || \
		{ apt-get update && apt-get install -y --no-install-recommends docker-compose jq nginx chromium $(CONTAINER_DEPS); }

# The image and the compose stack (docs/deployment.md), with Docker when its engine answers and
# podman otherwise. STACK_ARGS=--hub builds from Docker Hub and PyPI (Docker's default),
# STACK_ARGS=--local from this machine's apt sources and pip (podman's default).
STACK_ARGS ?=
image: install
	$(BIN)/python -m deploy.stack build $(STACK_ARGS)

compose-up: install
	$(BIN)/python -m deploy.stack up $(STACK_ARGS)

compose-down: install
	$(BIN)/python -m deploy.stack down

run: install
	$(BIN)/layerserve serve --models models --host $(HOST) --port $(PORT) --grpc-port $(GRPC_PORT)

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
	@{ command -v wrk && command -v h2load; } >/dev/null || \
		{ apt-get update && apt-get install -y --no-install-recommends wrk nghttp2-client; }
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The documentation site (MkDocs, Material theme) into site/; --strict fails on broken links.
docs: install-dev
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info test-artifacts site build
