"""The same code on a real PostgreSQL server: tracking, queries, migrations, many writers."""
import math, subprocess, sys, time, uuid
import pytest
import sqlalchemy as sa
from alembic import command
import mlwork as mw
from mlwork.store import REVISIONS, HEAD_REVISION, _alembic_config
from conftest import clean_env


@pytest.fixture
def pg_ws(ws_root, pg_url, monkeypatch):
    monkeypatch.setenv("MLWORK_STORE", pg_url)
    with mw.Workspace.open(ws_root) as ws:
        assert ws.store.dialect == "postgresql"
        yield ws


def test_tracking_and_queries_on_postgres(pg_ws):
    ws = pg_ws
    with ws.start_run("pg", name="a", params={"lr": 0.1, "model": "rf", "n": 3}, tags={"t": "x"}) as r:
        for i in range(5): r.log_metric("loss", 1 / (i + 1))
        r.log_metrics({"auc": 0.9, "nan_metric": float("nan")})
        r.log_batch(metrics=[("b", float(i), i) for i in range(2000)])
        r.log_text("hi", "a.txt")
        r.set_tag("t", "y")
        with pytest.raises(mw.ParamConflictError):
            r.log_param("lr", 0.2)
        with r.start_run("child") as c: c.log_metric("x", 1)
    with pytest.raises(ValueError):
        with ws.start_run("pg", name="b", params={"model": "lr"}) as r2: raise ValueError("boom")
    df = ws.runs("pg", where="metrics.auc > 0.5 and params.model = 'rf' and tags.t = 'y'", order_by="-metrics.auc")
    assert list(df.name) == ["a"] and df["params.n"][0] == 3 and df["metrics.b"][0] == 1999.0
    assert math.isnan(df["metrics.nan_metric"][0]) and df["metrics.loss"][0] == 0.2
    assert list(ws.runs("pg", order_by="name").status) == ["FINISHED", "FAILED", "FINISHED"]
    assert list(ws.metric_history(df.run_id, "loss").step) == [0, 1, 2, 3, 4]
    assert ws.get_run(r.id).load_artifact("a.txt") == b"hi"
    assert len(ws.runs("pg", where="params.model = 'x'' or 1=1 --'")) == 0


def test_many_processes_write_to_postgres(pg_ws, pg_url, ws_root):
    code = """
import sys, mlwork as mw
ws = mw.Workspace.open(sys.argv[1])
with ws.start_run("race", params={"w": int(sys.argv[2])}) as run:
    for i in range(500): run.log_metric("v", float(i), step=i)
"""
    procs = [subprocess.Popen([sys.executable, "-c", code, str(ws_root), str(i)], env=clean_env(MLWORK_STORE=pg_url),
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    df = pg_ws.runs("race")
    assert len(df) == 8 and set(df.status) == {"FINISHED"} and (df["metrics.v"] == 499.0).all()
    assert len(pg_ws.metric_history(df.run_id, "v")) == 4000


def test_first_schema_upgrades_on_postgres(ws_root, pg_url, monkeypatch):
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), REVISIONS[0])
        conn.execute(sa.text("INSERT INTO experiments (name, created_at) VALUES ('old', 0)"))
        rid = uuid.uuid4().hex
        conn.execute(sa.text("INSERT INTO runs (id, experiment_id, status, start_time, end_time) "
                             "VALUES (:id, 1, 'FINISHED', 0, 1)"), {"id": rid})
        conn.execute(sa.text("INSERT INTO params (run_id, key, value, num) VALUES (:id, 'lr', '0.1', 0.1)"), {"id": rid})
    engine.dispose()
    monkeypatch.setenv("MLWORK_STORE", pg_url)
    with mw.Workspace.open(ws_root) as ws:
        assert ws.store.revision() == HEAD_REVISION
        assert ws.runs("old")["params.lr"].tolist() == [0.1]


def test_monitor_and_retrain_guard_on_postgres(pg_ws, ws_root):
    "Drift reports, events and the retrain guard (a row lock on the model) on a real PostgreSQL server."
    from mlwork.monitor import example_model
    (ws_root / "settings.ini").write_text((ws_root / "settings.ini").read_text() +
                                          "\n[monitoring]\nretrain_on = drift\ncooldown_hours = 24\n")
    ws = mw.Workspace.open(ws_root)
    _, quiet, drifted = example_model(ws, n_customers=1500)
    ok = ws.monitor.check("churn", quiet.drop(columns="churned"))
    assert not ok.dataset_drift and ok.meta["actions"] == []
    rep = ws.monitor.check("churn", drifted.drop(columns="churned"))       # no labels yet: the retrain waits for them
    assert rep.dataset_drift and rep.meta["actions"][0]["status"] == "waiting for labels" and "no labels" in rep.meta["actions"][0]["why"]
    assert list(ws.monitor.reports("churn").dataset_drift) == [True, False]
    again = ws.monitor.report(rep.meta["id"])
    assert again.drifted_columns == rep.drifted_columns and again.meta["estimated"] == rep.meta["estimated"]
    h = ws.registry.history("churn")
    assert list(h.action) == ["register", "promote", "drift_check", "drift_check", "retrain_waiting"]
    ws.close()
