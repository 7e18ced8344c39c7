# Set-up and checks. `make demo` installs everything and runs the demo; `make test` runs the
# checks CI runs. Both create the virtual environment on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint pytest benchmark

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@# The browser tests drive Debian's Chromium (no browser download at test time).
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium > /dev/null; fi
	touch $@

demo: install
	$(BIN)/tasquencer demo

test: lint pytest

lint: install
	$(BIN)/ruff format --check src tests examples benchmarks
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/mypy
	$(BIN)/mypy --strict examples

pytest: install
	$(BIN)/pytest -q

# The peers (SpiffWorkflow) are not in this repository: `make benchmark PEERS_DIR=DIR`.
benchmark: install
	$(BIN)/python benchmarks/engine_vs_peers.py $(if $(PEERS_DIR),--peers-dir $(PEERS_DIR),--no-peers)
