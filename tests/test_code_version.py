"""Runs record their code version (git commit, dirty flag, script or notebook and its digest)."""
import hashlib, json, os, subprocess, sys
import nbformat
from mlwork.workspace import Workspace
from conftest import clean_env, run_py

SCRIPT = """
import mlwork as mw
ws = mw.Workspace.open()
with ws.start_run("code") as run: pass
print(run.id)
"""


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env=clean_env(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@x", GIT_COMMITTER_NAME="t",
                                 GIT_COMMITTER_EMAIL="t@x"))


def test_git_commit_dirty_flag_and_script_digest(ws_root):
    script = ws_root / "train.py"
    script.write_text(SCRIPT)
    _git(ws_root, "init", "-q")
    _git(ws_root, "add", "train.py")
    _git(ws_root, "commit", "-q", "-m", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ws_root, capture_output=True, text=True).stdout.strip()
    clean_id = subprocess.run([sys.executable, "train.py"], cwd=ws_root, env=clean_env(), capture_output=True,
                              text=True, check=True).stdout.strip()
    script.write_text(SCRIPT + "\n# edited\n")
    dirty_id = subprocess.run([sys.executable, "train.py"], cwd=ws_root, env=clean_env(), capture_output=True,
                              text=True, check=True).stdout.strip()
    with Workspace.open(ws_root) as ws:
        clean, dirty = ws.get_run(clean_id).info, ws.get_run(dirty_id).info
    assert clean["code_commit"] == head and clean["code_dirty"] is False
    assert dirty["code_commit"] == head and dirty["code_dirty"] is True
    assert clean["code_path"] == str(script) and clean["code_digest"] == hashlib.sha256(SCRIPT.encode()).hexdigest()
    assert dirty["code_digest"] == hashlib.sha256(script.read_bytes()).hexdigest()
    assert clean["python_version"] == ".".join(map(str, sys.version_info[:3])) and len(clean["env_digest"]) == 64


def test_environment_list_is_an_artifact(ws_root):
    with Workspace.open(ws_root) as ws, ws.start_run("code") as run:
        text = run.load_artifact("_mlwork/environment.txt").decode()
    assert "mlwork==" in text and "SQLAlchemy==" in text


def _notebook(path, code):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_notebook_path_under_papermill_not_the_kernel_launcher(ws_root):
    """A real papermill run in a real kernel (`mlwork`, the kernelspec `make test` pins to this venv):
    the notebook is recorded, never ipykernel_launcher.py."""
    nb = ws_root / "train.ipynb"
    _notebook(nb, "import mlwork as mw\nws = mw.Workspace.open()\n"
                  "with ws.start_run('nb') as run: pass\nprint(run.id)")
    for with_env in (True, False):
        env = clean_env(**({"MLWORK_NOTEBOOK": str(nb)} if with_env else {}))
        res = subprocess.run([sys.executable, "-m", "papermill", str(nb), str(ws_root / "out.ipynb"),
                              "-k", "mlwork", "--cwd", str(ws_root)], env=env, capture_output=True, text=True,
                             timeout=180)
        assert res.returncode == 0, res.stderr
        out = nbformat.read(ws_root / "out.ipynb", as_version=4)
        run_id = out.cells[-1].outputs[0]["text"].strip()
        with Workspace.open(ws_root) as ws:
            info = ws.get_run(run_id).info
        if with_env:
            assert info["code_path"] == str(nb)
            assert info["code_digest"] == hashlib.sha256(nb.read_bytes()).hexdigest()
        else:
            assert info["code_path"] is None             # unknown, rather than ipykernel_launcher.py


def test_notebook_path_in_a_jupyter_kernel_session(ws_root):
    """A real kernel started the way jupyter_server starts it for an open notebook: with
    JPY_SESSION_NAME set to the notebook's path (ipykernel exposes it as __session__)."""
    from jupyter_client.manager import start_new_kernel
    nb = ws_root / "explore.ipynb"
    _notebook(nb, "")
    km, kc = start_new_kernel(kernel_name="mlwork", cwd=str(ws_root), env=clean_env(JPY_SESSION_NAME=str(nb)))
    try:
        out = []
        kc.execute_interactive("import mlwork as mw\nws = mw.Workspace.open()\n"
                               "with ws.start_run('nb') as run: pass\nprint(run.id)",
                               output_hook=lambda m: out.append(m["content"].get("text", "")), timeout=120)
        run_id = "".join(out).strip()
    finally:
        kc.stop_channels(); km.shutdown_kernel(now=True)
    with Workspace.open(ws_root) as ws:
        info = ws.get_run(run_id).info
    assert info["code_path"] == str(nb) and info["code_digest"] == hashlib.sha256(nb.read_bytes()).hexdigest()
