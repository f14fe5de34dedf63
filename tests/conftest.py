"""Shared fixtures: real workspaces on real SQLite files, and helpers to run real processes."""
pytest_plugins = ["jupyter_browser"]   # JupyterLab + headless Chromium fixtures (tests/jupyter_browser.py)
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


# -- a real PostgreSQL server, started for the test session on 127.0.0.1 ---------------------------
import glob, shutil, socket, tempfile, uuid


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server():
    "The base URL of a throw-away PostgreSQL cluster (initdb + pg_ctl from Debian's postgresql)."
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not bins:
        pytest.fail("PostgreSQL is not installed: `make test` installs the Debian package postgresql.")
    bindir = Path(bins[-1]).parent
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    top = Path(tempfile.mkdtemp(prefix="mlwork-pg-"))
    data, port = top / "data", _free_port()
    data.mkdir()
    if as_pg: shutil.chown(top, "postgres"); shutil.chown(data, "postgres")
    subprocess.run([*as_pg, bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True)
    subprocess.run([*as_pg, bindir / "pg_ctl", "-D", data, "-l", top / "log", "-w", "-t", "60", "-o",
                    f"-h 127.0.0.1 -p {port} -k {top} -c fsync=off -c max_connections=60", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_pg, bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server):
    "A fresh, empty database on the test server."
    import sqlalchemy as sa
    name = "t_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(f"{pg_server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn: conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return f"{pg_server}/{name}"
