# Two commands do all of the set-up on a fresh Debian machine (see README.md):
#   make demo   creates .venv, installs edgepose, runs `edgepose demo`
#   make test   the same set-up, then ruff and the whole test suite
# Both are idempotent: a second run only re-installs when pyproject.toml or setup.py changed.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgepose-installed
# System toolchains: Cortex-M compiler and C library, emulated boards, GDB flashing, the loopback sshd
# the Raspberry Pi tests talk to.
SYSTEM_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gdb-multiarch openssh-server
PYTEST_ARGS ?=

.PHONY: setup system demo test test-fast lint clean

setup: system $(STAMP)

system:
	@missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; \
	done; \
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing system toolchains:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
	  echo "warning: system toolchains missing; the parts that need them will not run. Install with:"; \
	  echo "  sudo apt-get install -y$$missing"; \
	fi

$(STAMP): pyproject.toml setup.py
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "edgepose needs Python >= 3.11; found $$($(PYTHON) --version). Set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

demo: setup
	$(BIN)/edgepose demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -n auto $(PYTEST_ARGS)

# The quick loop while developing: everything but the end-to-end tests marked slow.
test-fast: lint
	$(BIN)/pytest -n auto -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
