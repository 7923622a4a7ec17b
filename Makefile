# onduty — `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTEST_ARGS ?=

##@ General
.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Run
.PHONY: run
run: install controlplane ## Run onduty (operator + bridge on :9095) on an embedded local control plane
	$(PY) hack/dev.py

.PHONY: cluster-up
cluster-up: controlplane ## Start the local control plane (kubeconfig in .run/cluster/kubeconfig)
	$(PYTHON) hack/controlplane.py up

.PHONY: cluster-down
cluster-down: ## Stop the local control plane (by the PIDs it recorded)
	$(PYTHON) hack/controlplane.py down

.PHONY: monitoring
monitoring: ## Install Debian's prometheus and prometheus-alertmanager (for the e2e tier; no-op when present)
	@bash hack/install-monitoring.sh

.PHONY: controlplane
controlplane: ## Build and cache etcd, kube-apiserver, controller-manager, scheduler, kubectl, kwok, helm (instant when cached)
	@bash hack/build-controlplane.sh >/dev/null

.PHONY: argocd-crd
argocd-crd: ## Fetch and cache Argo CD's own Application CRD from its Go module, for the tests (instant when cached)
	@bash hack/fetch-argocd-crd.sh >/dev/null

##@ Development
.PHONY: install
install: $(VENV)/.installed ## Create .venv and install onduty with its development tools

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

.PHONY: lint
lint: install ## ruff (lint + format check), mypy --strict, import layering, CRD drift
	$(BIN)/ruff check operator/src tests hack
	$(BIN)/ruff format --check operator/src tests hack
	$(BIN)/mypy
	$(BIN)/lint-imports
	bash hack/sync-crds.sh --check

.PHONY: fmt
fmt: install ## Format the code
	$(BIN)/ruff format operator/src tests hack
	$(BIN)/ruff check --fix operator/src tests hack

.PHONY: crds
crds: ## Copy crds/ into the Helm chart
	bash hack/sync-crds.sh

##@ Test
.PHONY: test
test: install controlplane argocd-crd monitoring lint ## Everything CI runs: lint, then every test tier (unit, integration, e2e)
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: install ## Unit tests only (pure domain, milliseconds)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

.PHONY: test-integration
test-integration: install controlplane argocd-crd ## Integration tests on the real local control plane
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: install controlplane monitoring ## The full chain with real Prometheus and Alertmanager
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

.PHONY: bench
bench: install controlplane ## Webhook → restart latency over 200 incidents, against the direct-API floor
	$(PY) hack/bench_latency.py --incidents 200
