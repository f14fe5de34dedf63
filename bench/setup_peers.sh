#!/usr/bin/env bash
# Create the peer virtualenvs used by the benchmarks in bench/ (idempotent).
#   bash bench/setup_peers.sh
# MLflow lives in its own venv so its dependencies never leak into mlwork's.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${PYTHON:-python3}"

# MLflow: pin 3.17.2 (3.18.0 pins an mlflow-skinny that is not on the index).
venv="$here/.venv-mlflow"
export MLFLOW_DISABLE_TELEMETRY=true
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import mlflow" 2>/dev/null; then
    echo "mlflow already installed: $("$venv/bin/python" -c 'import mlflow; print(mlflow.__version__)')"
else
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "mlflow==3.17.2" plotly
    "$venv/bin/python" -c "import mlflow; print('installed mlflow', mlflow.__version__)"
fi
# plotly too: the comparison benchmark draws MLflow's selection with it
"$venv/bin/python" -c "import plotly" 2>/dev/null || "$venv/bin/python" -m pip install --quiet plotly

# Evidently (drift): pip resolves pandas 3, with which `import evidently` fails
# (`cannot import name 'infer_dtype_from_object'`), so pin "pandas<3" in its venv.
venv="$here/.venv-evidently"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import evidently, pandas, pyarrow, psutil" 2>/dev/null; then
    echo "evidently already installed: $("$venv/bin/python" -c 'import evidently; print(evidently.__version__)')"
else
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "evidently==0.7.23" "pandas<3" pyarrow psutil
    "$venv/bin/python" -c "import evidently; print('installed evidently', evidently.__version__)"
fi
