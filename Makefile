# onduty — `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Test processes for the integration and e2e tiers: each has its own control plane. The tests wait
# on API servers and operators far more than they compute, so two halve the wall-clock time on two
# cores (make test TEST_WORKERS=0 runs them in one process).
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadgroup --durations=25

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
	$(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: install ## Unit tests only (pure domain, milliseconds)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

.PHONY: test-integration
test-integration: install controlplane argocd-crd ## Integration tests on the real local control plane
	$(BIN)/pytest tests/integration $(XDIST) $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: install controlplane monitoring ## The full chain with real Prometheus and Alertmanager
	$(BIN)/pytest tests/e2e $(XDIST) $(PYTEST_ARGS)

.PHONY: bench
bench: install controlplane ## Webhook → restart latency over 200 incidents, against the direct-API floor (make bench-all: every benchmark)
	$(PY) hack/bench_latency.py --incidents 200

.PHONY: bench-rest
bench-rest: install controlplane ## 1,000 Runbooks and 1,000 waiting incidents at rest: RSS, CPU, API requests/s, a new alert's latency vs an idle operator
	$(PY) hack/bench_rest.py --incidents 1000 --runbooks 1000

.PHONY: bench-all
bench-all: bench bench-rest bench-storm bench-faults bench-chaos bench-fuzz ## Every benchmark, one after another (about an hour on 2 cores)

.PHONY: bench-storm
bench-storm: install controlplane ## Alert storm: 10,000 alerts from an HA pair through the bridge vs the direct-API floor; prints alerts/s, p99, API writes, first action (SEED=…)
	$(PY) hack/bench_storm.py --alerts $${ONDUTY_STORM_ALERTS:-10000} $(if $(SEED),--seed $(SEED))

.PHONY: bench-chaos
bench-chaos: install controlplane ## SIGKILL onduty 20 times while it remediates 50 incidents (SEED=… replays); prints restarts counted, violations
	$(PY) hack/bench_chaos.py --incidents 50 --kills 20 $(if $(SEED),--seed $(SEED))

.PHONY: bench-fuzz
bench-fuzz: install controlplane ## Hypothesis: 10,000 webhook bodies at a running bridge, 2,000 specs to lint and the API server; prints seed, counts, status histogram
	ONDUTY_FUZZ_EXAMPLES=$${ONDUTY_FUZZ_BODIES:-10000} \
		$(BIN)/pytest tests/integration/test_fuzz_bridge.py -p no:cacheprovider $(PYTEST_ARGS)
	ONDUTY_FUZZ_EXAMPLES=$${ONDUTY_FUZZ_SPECS:-2000} \
		$(BIN)/pytest tests/integration/test_fuzz_specs.py -p no:cacheprovider $(PYTEST_ARGS)

.PHONY: bench-faults
bench-faults: install controlplane ## API server faults in a 60-incident storm (kill kube-apiserver, kill etcd, stall/drop/slow the link); prints time down, 503s, recovery, requests
	ONDUTY_FAULT_INCIDENTS=$${ONDUTY_FAULT_INCIDENTS:-60} ONDUTY_FAULT_SECONDS=$${ONDUTY_FAULT_SECONDS:-20} \
		$(BIN)/pytest tests/integration/test_api_faults.py -p no:cacheprovider $(PYTEST_ARGS)
