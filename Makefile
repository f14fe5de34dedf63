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
	$(PIP) install -e ".[ml,jobs,widgets,serve,onnx]"   # serve and onnx: the README's steps after the demo (mlwork serve, models export)
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

test: apt $(VENV)/.dev $(VENV)/.mlflow check-sync nbtest pytest

# MLflow 3.17.2 in its own venv (3.18.0 pins an mlflow-skinny the index lacks): the MLflow import tests
# (tests/test_import_mlflow.py) make a real MLflow store with it; the benchmarks use the same venv.
MLFLOW_VENV := bench/.venv-mlflow
$(VENV)/.mlflow: | $(BIN)/python
	@[ -x $(MLFLOW_VENV)/bin/python ] || $(PYTHON) -m venv $(MLFLOW_VENV)
	@$(MLFLOW_VENV)/bin/python -c "import mlflow, sklearn, skops" 2>/dev/null || \
	  $(MLFLOW_VENV)/bin/python -m pip --disable-pip-version-check -q install "mlflow==3.17.2" scikit-learn skops
	touch $@

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
	@dpkg -s wrk >/dev/null 2>&1 || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk)   # serve.py's load client
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/onnx_latency.py
	$(BIN)/python bench/import_mlflow.py

clean:
	rm -rf $(VENV) .mlwork demo-out build *.egg-info
