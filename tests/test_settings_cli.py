"""Settings errors and the command line, through real `mlwork` processes."""
import pytest
from mlwork.workspace import Workspace
from conftest import mlwork_cli


def test_init_writes_commented_defaults(tmp_path):
    res = mlwork_cli("init", tmp_path / "w", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "w/settings.ini").read_text()
    assert text.startswith("[mlwork]")
    for key in ("store", "artifacts", "jobs", "executor"):
        assert f"# {key} = " in text
    assert (tmp_path / "w/jobs").is_dir() and (tmp_path / "w/.mlwork/mlwork.db").exists()


@pytest.mark.parametrize("line, needles", [
    ("stor = sqlite:///x.db", ["Unknown setting stor", "Did you mean 'store'"]),
    ("store = mysql://db", ["store = 'mysql://db'", "SQLAlchemy URL"]),
    ("store = sqlite://", ["store = 'sqlite://'", "in-memory"]),
    ("artifacts = nosuch://bucket", ["artifacts = 'nosuch://bucket'", "fsspec"]),
    ("executor = kubernetes", ["executor = 'kubernetes'", "dask://HOST:PORT"]),
    ("store = postgresql+psycopg://u:hunter2@127.0.0.1:9/db", ["store", "127.0.0.1:9", "Cannot"]),
])
def test_settings_errors_name_key_value_and_file(tmp_path, line, needles):
    root = tmp_path / "w"
    root.mkdir()
    (root / "settings.ini").write_text(f"[mlwork]\n{line}\n")
    res = mlwork_cli("runs", "ls", cwd=root)
    assert res.returncode == 1, res.stdout + res.stderr
    for needle in needles + [str(root / "settings.ini")]:
        assert needle in res.stderr, (needle, res.stderr)
    assert "hunter2" not in res.stderr and "Traceback" not in res.stderr


def test_env_override_is_named_in_errors(ws_root):
    res = mlwork_cli("runs", "ls", cwd=ws_root, MLWORK_STORE="oracle://x")
    assert res.returncode == 1 and "MLWORK_STORE" in res.stderr and "'oracle://x'" in res.stderr


def test_unreachable_sqlite_folder(tmp_path):
    root = tmp_path / "w"
    root.mkdir()
    (tmp_path / "blocker").write_text("a file where a folder should be")
    (root / "settings.ini").write_text(f"[mlwork]\nstore = sqlite:///{tmp_path}/blocker/sub/m.db\n")
    res = mlwork_cli("runs", "ls", cwd=root)
    assert res.returncode == 1 and "store" in res.stderr and "settings.ini" in res.stderr, res.stderr


def test_exit_codes_and_help(ws_root):
    res = mlwork_cli("--help", cwd=ws_root)
    assert res.returncode == 0 and "runs" in res.stdout and "db" in res.stdout
    assert mlwork_cli("runs", "ls", "--limit", "x", cwd=ws_root).returncode == 2
    assert mlwork_cli("nosuchcommand", cwd=ws_root).returncode == 2
    res = mlwork_cli("runs", "show", "0000000000", cwd=ws_root)
    assert res.returncode == 1 and "No run" in res.stderr


def test_runs_ls_and_show(ws_root):
    with Workspace.open(ws_root) as ws:
        for m, auc in (("rf", 0.9), ("lr", 0.7)):
            with ws.start_run("exp", name=m, params={"model": m}) as r: r.log_metric("auc", auc)
    res = mlwork_cli("runs", "ls", "exp", "--where", "metrics.auc > 0.8", cwd=ws_root)
    assert res.returncode == 0 and "rf" in res.stdout and " lr " not in res.stdout, res.stdout
    res = mlwork_cli("runs", "ls", "exp", "--format", "csv", "--order-by", "metrics.auc", cwd=ws_root)
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("run_id,experiment,name") and ",lr," in lines[1] and ",rf," in lines[2]
    res = mlwork_cli("runs", "show", r.id[:10], cwd=ws_root)
    assert res.returncode == 0 and "auc" in res.stdout and "0.7" in res.stdout
    res = mlwork_cli("experiments", "ls", cwd=ws_root)
    assert res.returncode == 0 and "exp" in res.stdout


def test_params_conflict_message(ws_root):
    from mlwork.errors import ParamConflictError
    with Workspace.open(ws_root) as ws, ws.start_run("exp", params={"depth": 3}) as run:
        with pytest.raises(ParamConflictError) as e:
            run.log_params({"depth": 5, "new": 1})
        assert "'depth'" in str(e.value) and "'3'" in str(e.value) and "'5'" in str(e.value)
        assert run.params == {"depth": "3"}                 # nothing of the refused call was written
