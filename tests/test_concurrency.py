"""Many processes write to one SQLite store at the same time: no error, no loss."""
import subprocess, sys, textwrap
import sqlalchemy as sa
from mlwork.workspace import Workspace
from conftest import clean_env

WRITER = """
import sys
import mlwork as mw
ws = mw.Workspace.open(sys.argv[1])
with ws.start_run("race", name=f"writer-{sys.argv[2]}", params={"writer": int(sys.argv[2])}) as run:
    for i in range(1000):
        run.log_metric("value", i * 0.5, step=i)     # one transaction per call: the worst case
print(run.id)
"""


def test_eight_processes_log_1000_metrics_each(ws_root):
    Workspace.open(ws_root).close()          # create the schema once, as `mlwork init` users would
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(ws_root), str(i)], env=clean_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(8)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "Traceback" not in err, err
    ids = {out.strip() for out, _ in outs}
    assert len(ids) == 8
    with Workspace.open(ws_root) as ws:
        df = ws.runs("race")
        assert len(df) == 8 and set(df.status) == {"FINISHED"}
        assert sorted(df["params.writer"]) == list(range(8))
        assert (df["metrics.value"] == 999 * 0.5).all()
        with ws.store.transaction(write=False) as conn:
            n = conn.execute(sa.text("SELECT count(*) FROM metrics WHERE key='value'")).scalar()
            per_run = conn.execute(sa.text("SELECT count(DISTINCT step) FROM metrics GROUP BY run_id")).scalars().all()
        assert n == 8000
        assert per_run == [1000] * 8


def test_parallel_first_open_of_an_empty_store(tmp_path):
    "Processes that open a brand-new store at once all succeed: one creates the schema, the rest wait."
    from mlwork.config import init_workspace
    root = init_workspace(tmp_path / "fresh")
    code = "import sys, mlwork as mw; ws = mw.Workspace.open(sys.argv[1]); print(ws.store.revision())"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(root)], env=clean_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    from mlwork.store import HEAD_REVISION
    assert {o.strip() for o, _ in outs} == {HEAD_REVISION}
