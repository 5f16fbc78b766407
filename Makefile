# bnstudy: `make study` runs the whole study, `make test` runs the tests (both set up first).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON_VERSION := 3.11
UV_VERSION := 0.13.8
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# The system python3 and uv, never the venv's (it has no pip and no uv), even with the venv
# activated: uv from PATH, else the uv package of python3 (pip --user on first use).
SYSTEM_PYTHON := $(shell PATH="$$(echo "$$PATH" | tr : '\n' | grep -vxF '$(BIN)' | paste -sd:)" \
  command -v python3)
UV := $(shell command -v uv 2>/dev/null || echo "$(SYSTEM_PYTHON) -m uv")
export PATH := $(BIN):$(PATH)
# uv leaves bytecode uncompiled; with PYTHONDONTWRITEBYTECODE set, every TensorFlow import would
# then cost ~17 s instead of ~6 s on this machine.
export UV_COMPILE_BYTECODE := 1

.PHONY: help setup params study studies test test-fast test-services services-deps bench \
	bench-equivalence bench-families bench-grid ui server server-stop server-status plots plots-template lint format clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(SYSTEM_PYTHON) -m pip install --quiet --user "uv==$(UV_VERSION)"
	$(UV) sync --frozen --python $(PYTHON_VERSION)
	@touch $@

setup: $(VENV)/.synced ## create .venv from uv.lock (exact pinned versions)

params: setup ## compose conf/ into params.yaml
	bnstudy params

study: setup ## the main study (placement) and the claims ledger; says if it reproduced
	bnstudy params
	dvc repro report@placement
	dvc repro --single-item ledger
	bnstudy check
	@echo "report: reports/placement/report.md   ledger: reports/claims.md   runs: make ui"

studies: setup ## every study in conf/pipeline.yaml and the ledger (dvc repro)
	bnstudy params
	dvc repro
	bnstudy check

# Two pytest-xdist workers, a test module each at a time (module fixtures built once): one
# pytest process kept one of the 2 cores busy (user time = wall time, 20 min on this machine).
test: setup ## run the test suite (tiny configs, temporary stores; 2 workers)
	pytest -n 2 --dist loadscope

test-fast: setup ## the tests that train no model
	pytest -m "not slow and not services"

# Debian packages the service tests drive: a real PostgreSQL, and Chromium for Playwright.
SERVICE_PACKAGES := postgresql chromium chromium-driver

services-deps: ## install Debian's PostgreSQL and Chromium if missing (apt-get, as root)
	@missing=$$(for p in $(SERVICE_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing" $$missing; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi

test-services: setup services-deps ## tests against real PostgreSQL, mlflow server and Chromium
	pytest -m services --durations=10

bench: setup ## benchmark (about 10 minutes on 2 cores); writes reports/benchmark.{json,md}
	python -m bnstudy.bench

bench-grid: setup ## learning_rate grid per condition vs grouped (~4 min); reports/benchmark_grid.*
	python -m bnstudy.bench --only-grid

bench-equivalence: setup ## keras fit vs vectorized over 30 seeds; writes reports/equivalence.{json,md}
	python -m bnstudy.bench --only-equivalence

bench-families: setup ## each family study's clean rebuild vs one fit process per run (~15 min)
	python -m bnstudy.bench --only-family-studies

ui: setup ## serve the MLflow UI on the study's store (http://127.0.0.1:5000)
	python -m bnstudy.server ui --backend-store-uri "sqlite:///$(CURDIR)/mlflow.db" \
	  --default-artifact-root "$(CURDIR)/mlartifacts" --port 5000

server: setup ## start PostgreSQL + MLflow tracking server in the background (.server/)
	python -m bnstudy.server start

server-stop: setup ## stop the tracking server and its PostgreSQL (the data is kept)
	python -m bnstudy.server stop

server-status: setup ## is the tracking server running?
	python -m bnstudy.server status

plots: setup ## dvc plots show -> dvc_plots/index.html (draws offline: Vega is inlined)
	dvc plots show

plots-template: setup ## rebuild .dvc/plots.html (Vega from the npm registry, via npm pack)
	python -m bnstudy.plots_template

lint: setup ## ruff lint and format check
	ruff check .
	ruff format --check .

format: setup ## ruff format and autofix
	ruff format .
	ruff check --fix .

clean: ## remove the studies' outputs and the MLflow store (not the venv)
	rm -rf results data mlflow.db mlflow.db.lock mlartifacts outputs multirun .bnstudy
