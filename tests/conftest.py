"""Shared fixtures: real workspaces on real SQLite files, and helpers to run real processes."""
import os, subprocess, sys, textwrap
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
def ws_root(tmp_path):
    "A fresh workspace folder (settings.ini + embedded store)."
    from mlwork.config import init_workspace
    return init_workspace(tmp_path / "ws")


def clean_env(**extra):
    "The environment for child processes, without MLWORK_* leaking in from the caller."
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWORK_")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_py(code, cwd, timeout=120, check=True, **env):
    "Run `code` in a fresh Python process of this venv; return the CompletedProcess."
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=clean_env(**env),
                         capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"child failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


def mlwork_cli(*args, cwd, timeout=300, **env):
    "Run the installed `mlwork` command."
    return subprocess.run([str(BIN / "mlwork"), *map(str, args)], cwd=cwd, env=clean_env(**env),
                          capture_output=True, text=True, timeout=timeout)
