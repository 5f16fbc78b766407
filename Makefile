# bnstudy: `make study` runs the whole study, `make test` runs the tests (both set up first).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON_VERSION := 3.11
UV_VERSION := 0.13.8
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
# uv leaves bytecode uncompiled; with PYTHONDONTWRITEBYTECODE set, every TensorFlow import would
# then cost ~17 s instead of ~6 s on this machine.
export UV_COMPILE_BYTECODE := 1
# uv from PATH, else the uv package of python3 (installed with pip --user on first use).
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)

.PHONY: help setup params study studies test test-fast bench bench-equivalence ui lint format clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet --user "uv==$(UV_VERSION)"
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

test: setup ## run the test suite (tiny configs, temporary stores)
	pytest

test-fast: setup ## the tests that train no model
	pytest -m "not slow"

bench: setup ## benchmark (about 10 minutes); writes reports/benchmark.{json,md}
	python -m bnstudy.bench

bench-equivalence: setup ## keras fit vs vectorized over 30 seeds; writes reports/equivalence.{json,md}
	python -m bnstudy.bench --only-equivalence

ui: setup ## serve the MLflow UI on the study's store (http://127.0.0.1:5000)
	mlflow server --backend-store-uri "sqlite:///$(CURDIR)/mlflow.db" \
	  --default-artifact-root "$(CURDIR)/mlartifacts" --host 127.0.0.1 --port 5000

lint: setup ## ruff lint and format check
	ruff check .
	ruff format --check .

format: setup ## ruff format and autofix
	ruff format .
	ruff check --fix .

clean: ## remove the studies' outputs and the MLflow store (not the venv)
	rm -rf results data mlflow.db mlflow.db.lock mlartifacts outputs multirun .bnstudy
