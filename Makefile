# pdcompose developer entry points. Everything a test needs is installed from here (`make setup`).
SHELL  := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PDC    := $(BIN)/pdcompose
EXAMPLE ?= examples/deepseek-r1-gb200.yaml
# The vLLM releases the shipped bundles pin: their real parsers judge every rendered argv in `make test`.
VLLM_VERSIONS ?= 0.13.0 0.32.0

.PHONY: setup run test e2e bench images images-vllm lint clean vllm catalog

## setup: virtualenv with pdcompose (editable) + test tools, the Docker Compose v2 CLI plugin, and (as root)
## what `pdcompose lab` needs from Debian (sshd, fuse-overlayfs, iptables), when missing
setup: $(VENV)/.setup-done
	@scripts/install-compose-plugin.sh "$(BIN)/python"
	@scripts/install-lab-deps.sh

$(VENV)/.setup-done: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,mock,report]'
	@touch $@

## run: set up, validate and render the built-in example, print its plan and command lines
run: setup
	$(PDC) validate $(EXAMPLE)
	$(PDC) render $(EXAMPLE) -o out
	$(PDC) plan $(EXAMPLE)
	$(PDC) plan $(EXAMPLE) --commands

## test: unit, golden, real-vLLM-parser and Docker integration tests (images are built on demand, once)
test: setup vllm
	$(BIN)/pytest -m "not e2e" --durations=25

## e2e: the guide's whole 7-host deployment on a lab of 7 Docker hosts reached only over SSH, with host
## faults and a scan from outside; the real engine (vLLM on CPU, ~17 GB) across 4 lab hosts; rehearsals on
## the local engine (mock vLLM)
e2e: setup images images-vllm
	$(BIN)/pytest -m e2e --durations=0 tests/e2e

## bench: whole-process benchmarks (medians), printed and written to bench-results/
bench: setup images
	$(BIN)/python benchmarks/run.py

## images: the offline base image, the mock vLLM image and the vllm-router image
images: setup
	PYTHON="$(BIN)/python" images/build.sh all

## images-vllm: the real-engine image (CPU build of vLLM, a tiny Llama; ~10 min once, 13 GB) for `make e2e`
images-vllm: setup
	PYTHON="$(BIN)/python" images/build.sh vllm

## vllm: a cached venv per pinned vLLM release (CPU build from PyPI, ~6.5 GB each) for the parser tests
vllm: setup
	@for v in $(VLLM_VERSIONS); do $(BIN)/python scripts/vllm_venv.py $$v || exit 1; done

## catalog: add or refresh vLLM releases in pdcompose's catalog, e.g. `make catalog VLLM="0.14.0"`
catalog: setup
	$(BIN)/python scripts/vllm_catalog.py $(VLLM)

## lint: ruff, then mypy (strict on topology, plan and render: [tool.mypy] in pyproject.toml)
lint: setup
	$(BIN)/ruff check pdcompose tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) out build dist bench-results .pytest_cache .hypothesis
