# The verbs people type. `make test` is the project's test command (README, .ci/run).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBIAN_PACKAGES := docker-registry runc containernetworking-plugins busybox-static prometheus apache2-utils libgit2-dev pkg-config gcc libc6-dev iproute2 iptables procps buildah mmdebstrap skopeo libseccomp-dev conmon e2fsprogs

.PHONY: help venv system-deps binaries ci-runtimes image lint unit e2e test bench cluster-up cluster-down cluster-status crds deploy demo demo-down clean matrix

help:
	@echo "make demo          the product end to end: 2 real nodes, helm install (FAKE=1: kwok, fast)"
	@echo "make test          lint + unit + e2e tests (builds what it needs)"
	@echo "make image IMAGE=<registry>/<repo>:<tag>  build the Dockerfile (no Docker), push it"
	@echo "make cluster-up    local control plane + kwok fake nodes + OCI registries"
	@echo "make cluster-down  stop it and clean up"
	@echo "make bench         benchmarks under e2e/bench/"
	@echo "make matrix        the runtime table on containerd 2.3.7, 2.4.2 and Kubernetes 1.36 (real nodes)"

$(BIN)/python: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(BIN)/python

venv: $(BIN)/python

# Debian packages the e2e tests use (registry, runc, CNI plugins, busybox, prometheus).
system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# kube-apiserver & co, etcd, kwok, helm, containerd, crane, oras, and modctl (interop
# tests): built once from the Go module proxy, cached outside the checkout.
binaries: system-deps
	bash e2e/cluster/build.sh
	bash e2e/oci/build_modctl.sh
	nice -n 10 bash e2e/oci/build_gopack.sh

# CI_RUNTIMES: the runtimes `make test` runs the runtime table on besides the default
# containerd 2.2.9: the floor we claim and CRI-O (docs/runtimes.md). CI_RUNTIMES= skips them.
CI_RUNTIMES ?= containerd-v2.1.9 crio-v1.35.2
ci-runtimes: system-deps
	@for r in $(CI_RUNTIMES); do nice -n 10 bash e2e/cluster/build.sh --runtime $$r >/dev/null || exit 1; done

# The Dockerfile as an OCI image without Docker (buildah), pushed to IMAGE=<registry>/<repo>:<tag>;
# the last line printed is the digest-pinned reference. Cached under ~/.cache/modelprefetch/image.
image: system-deps
	@bash hack/image.sh "$(IMAGE)"

lint: venv
	$(BIN)/ruff check operator tests e2e
	$(BIN)/ruff format --check operator tests e2e
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: venv
	$(BIN)/pytest tests -q

e2e: venv system-deps binaries
	$(BIN)/pytest e2e -q

# One pytest run for unit + e2e so there is one summary line; pytest fails on 0 tests.
# TEST_WORKERS pytest-xdist workers, each with its own control plane and registries:
# every e2e module stays on one worker, every real-node test on the same one (e2e/conftest.py),
# so the kwok-only modules run beside the real-node suite. TEST_WORKERS=0: one process.
# --durations: the slowest tests, to keep the CI budget honest.
TEST_WORKERS ?= 3
test: venv system-deps binaries ci-runtimes lint
	MODELPREFETCH_TABLE_RUNTIMES="$(CI_RUNTIMES)" $(BIN)/pytest tests e2e -q -rfE -n $(TEST_WORKERS) --dist loadgroup --durations=25

bench: venv system-deps binaries
	@for b in e2e/bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# REAL_NODES=N also joins N real nodes (containerd + runc + kubelet + kube-proxy, each in
# its own network namespace; root): e2e/realnode. REAL_NODE=1 is REAL_NODES=1.
cluster-up: venv system-deps binaries
	$(BIN)/python -m e2e.cluster up $(if $(REAL_NODES),--real-nodes $(REAL_NODES),$(if $(REAL_NODE),--real-nodes 1))

cluster-down: venv
	$(BIN)/python -m e2e.cluster down

cluster-status: venv
	$(BIN)/python -m e2e.cluster status

# Regenerate the CRD from the pydantic models, copy it into the chart, re-render deploy/.
crds: venv
	$(BIN)/python -m modelprefetch crd -o crds/modelprefetch.io_modeldeployments.yaml
	bash hack/render-deploy.sh

deploy: crds

# The product end to end on this machine: image built, cluster with 2 real nodes, helm
# install (operator in the cluster), pack, ModelDeployment Ready, pods reading the model.
# FAKE=1: the fast mode (kwok fake nodes, the operator as a local process).
demo: venv system-deps binaries
	FAKE=$(FAKE) bash hack/demo.sh

demo-down: venv
	-@[ -f .tmp/demo/operator.pid ] && kill $$(cat .tmp/demo/operator.pid) 2>/dev/null; rm -f .tmp/demo/operator.pid
	$(BIN)/python -m e2e.cluster down

clean: cluster-down
	rm -rf .tmp .mypy_cache .ruff_cache .pytest_cache

# The runtime table (e2e/realnode/test_runtime_table.py) on the real-node setups that
# `make test` does not run: newer containerd releases, and Kubernetes 1.36 (control plane
# + kubelet) on the default containerd; each is built once and cached (hack/matrix.sh).
# Observations land in .tmp/observations; adopt them with `python hack/compatibility.py update`.
MATRIX_RUNTIMES ?= containerd-v2.3.7 containerd-v2.4.2 kubernetes-v1.36.3
matrix: venv system-deps binaries
	bash hack/matrix.sh $(MATRIX_RUNTIMES)
