# The two commands of the README quick start:
#   make demo   set up .venv and run the main job on the embedded default store
#   make test   set up everything the tests need (apt packages too) and run all tests
# Other targets: make bench (benchmarks against the peers), make sync (export + clean notebooks).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test bench sync check-sync nbtest pytest apt clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# Re-install when the packaging changes.
$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[ml,jobs,widgets]"
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name mlwork --display-name "Python (mlwork)" >/dev/null
	touch $@ $(VENV)/.core

demo: $(VENV)/.core
	$(BIN)/mlwork demo

# System packages the tests use: git (code versions), a PostgreSQL server (the store's
# team backend, started by the tests on 127.0.0.1) and Chromium + a font (real-browser widget
# tests; driven by the pip package playwright, as `playwright install` cannot download here).
# Installed only when missing.
APT_PACKAGES := git postgresql chromium fonts-dejavu-core
apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

test: apt $(VENV)/.dev check-sync nbtest pytest

# Notebooks are the source: exporting and cleaning them must not change any tracked file.
check-sync: $(VENV)/.dev
	@bash .ci/check-sync

nbtest: $(VENV)/.dev
	$(BIN)/nbdev-test --n-workers 2

pytest: $(VENV)/.dev
	$(BIN)/python -m pytest -q

sync: $(VENV)/.dev
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean && $(BIN)/python .ci/readme.py

bench: $(VENV)/.dev
	bash bench/setup_peers.sh
	$(BIN)/python bench/tracking.py
	$(BIN)/python bench/profile.py
	$(BIN)/python bench/jobs.py
	$(BIN)/python bench/compare.py
	$(BIN)/python bench/drift.py

clean:
	rm -rf $(VENV) .mlwork demo-out build *.egg-info
