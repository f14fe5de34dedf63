"""Monitoring and continuous training with real parts: real train and monitor jobs (papermill kernels), a real
SQLite store shared by several processes, the `mlwork monitor` and `mlwork report` commands."""
import json, subprocess, sys, textwrap
import pytest
from mlwork.workspace import Workspace
from mlwork.synthetic import churn_pair
from conftest import mlwork_cli, clean_env

ROLES = dict(target="churned", id="customer_id", time="period")
DRIFT = dict(covariate_drift=1.0, new_category=True, missing_burst=0.2)


def _setup(ws_root, policy: str, n=2500):
    "A champion trained by the real train job on month 1, registered and promoted; returns the drifted month."
    (ws_root / "settings.ini").write_text((ws_root / "settings.ini").read_text() + policy)
    m1, _ = churn_pair(n, seed=21)
    _, m2 = churn_pair(n, seed=22, start="2026-02", **DRIFT)
    with Workspace.open(ws_root) as ws:
        ws.datasets.log(m1, "churn", **ROLES)
        job = ws.jobs.run("train", {"dataset": "churn", "version": "1", "model": "logreg", "experiment": "churn"})
        assert job.status == "FINISHED", job.error
        ws.registry.register(job.runs().run_id.iloc[0], "churn")
        ws.registry.promote("churn", 1, reason="first model", gates=[])
    return m2


def _events(ws, action):
    h = ws.registry.history("churn")
    return h[h.action == action]


def test_drift_trips_one_retrain_then_cool_down(ws_root):
    m2 = _setup(ws_root, "\n[monitoring]\nretrain_on = drift\nauto_promote = true\ncooldown_hours = 24\n")
    with Workspace.open(ws_root) as ws:
        dv = ws.datasets.log(m2, "churn", **ROLES)                 # the fresh month, labelled
        rep = ws.monitor.check("churn", dv)
        assert rep.dataset_drift and rep.meta["triggers"] and len(rep.meta["actions"]) == 1
        act = rep.meta["actions"][0]
        assert act["status"] == "promoted", act                      # no gates configured: auto_promote moves the alias
        assert ws.registry.get("churn@production").version == 2 == act["version"]
        # the lineage: report -> job -> run -> version -> alias move
        job = ws.jobs.get(act["job_id"])
        assert job.status == "FINISHED" and job.parameters["dataset"] == "churn" and job.parameters["version"] == "2"
        assert job.parameters["model"] == "logreg"                  # the champion's own train parameters
        run = ws.get_run(act["run_id"])
        assert run.info["job_id"] == job.id and list(run.datasets().version) == [2]
        assert ws.registry.get("churn", 2).run_id == run.id
        promo = _events(ws, "promote")
        assert list(promo.version) == [1, 2] and f"drift report {rep.meta['id']}" in promo.reason.iloc[-1]
        lin = ws.monitor.lineage("churn")
        assert list(lin.action[lin.action.str.startswith("retrain")]) == ["retrain_started", "retrain_finished"]
        # the new champion learnt this month: no drift for it
        assert not ws.monitor.check("churn", dv).meta["triggers"]
        # the old version on the same data again: the trigger trips, the cool-down holds it (no loop)
        again = ws.monitor.check("churn", dv, alias="1")
        assert again.meta["triggers"] and again.meta["actions"][0]["status"] == "skipped"
        assert "cool-down" in again.meta["actions"][0]["why"]
        assert len(_events(ws, "retrain_started")) == 1 and len(ws.registry.versions("churn")) == 2
        assert len(ws.monitor.reports("churn")) == 3


def test_one_retrain_in_flight_across_processes(ws_root):
    "Three processes check the same drifted data at once: exactly one retrain starts, the others are held."
    m2 = _setup(ws_root, "\n[monitoring]\nretrain_on = drift\ncooldown_hours = 24\n")
    with Workspace.open(ws_root) as ws:
        ws.datasets.log(m2, "churn", **ROLES)
    code = textwrap.dedent("""
        import json, mlwork as mw
        ws = mw.Workspace.open()
        rep = ws.monitor.check("churn", "churn@2")
        print(json.dumps([a["status"] for a in rep.meta["actions"]]))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ws_root, env=clean_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    statuses = sorted(json.loads(o.strip().splitlines()[-1])[0] for o, _ in outs)
    assert statuses.count("skipped") == 2 and len(statuses) == 3, statuses
    with Workspace.open(ws_root) as ws:
        assert len(_events(ws, "retrain_started")) == 1 and len(_events(ws, "retrain_skipped")) == 2
        # held because one is in flight, or (if it already finished) by the cool-down: never a second retrain
        assert all("in flight" in r or "cool-down" in r for r in _events(ws, "retrain_skipped").reason)
        assert len(ws.registry.versions("churn")) == 2                 # one candidate, waiting (auto_promote is off)
        assert ws.registry.get("churn@production").version == 1
        assert len(_events(ws, "retrain_finished")) == 1


def test_failed_retrain_is_recorded_and_does_not_block(ws_root):
    m2 = _setup(ws_root, "\n[monitoring]\nretrain_on = drift\ncooldown_hours = 0\ntrain_job = no-such-job\n")
    with Workspace.open(ws_root) as ws:
        dv = ws.datasets.log(m2, "churn", **ROLES)
        act = ws.monitor.check("churn", dv).meta["actions"][0]
        assert act["status"] == "failed" and "no-such-job" in act["why"]
        fin = _events(ws, "retrain_finished")
        assert len(fin) == 1 and "no-such-job" in fin.reason.iloc[0]
        act2 = ws.monitor.check("churn", dv).meta["actions"][0]       # not stuck "in flight"
        assert act2["status"] == "failed" and len(_events(ws, "retrain_started")) == 2


def test_monitor_and_report_commands(ws_root, tmp_path):
    m2 = _setup(ws_root, "\n[monitoring]\nretrain_on = never\n")
    m2.to_parquet(tmp_path / "month2.parquet")
    res = mlwork_cli("monitor", "run", "churn", "--data", tmp_path / "month2.parquet", cwd=ws_root, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "DRIFT" in res.stdout and "report 1" in res.stdout and "payment_method" in res.stdout and "notebook:" in res.stdout
    with Workspace.open(ws_root) as ws:
        rep = ws.monitor.report(1)
        job = ws.jobs.get(ws.monitor.reports("churn").job_id.iloc[0])
        assert rep.meta["current"] == "churn-monitored@1" and rep.meta["job_id"] == job.id
        page = job.html_path.read_text()
        assert "DRIFT" in page and "plotly" in page                    # the executed notebook shows the plots
    res = mlwork_cli("monitor", "ls", "churn", "--format", "json", cwd=ws_root)
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert len(rows) == 1 and rows[0]["dataset_drift"] is True and "payment_method" in rows[0]["drifted"]
    out = tmp_path / "d.html"
    res = mlwork_cli("report", "drift", "-o", out, cwd=ws_root)
    assert res.returncode == 0 and "Drift report #1" in out.read_text()
    res = mlwork_cli("report", "model", "churn", "--intended-use", "rank customers by churn risk", "-o", tmp_path / "c.html", cwd=ws_root)
    card = (tmp_path / "c.html").read_text()
    assert res.returncode == 0 and "rank customers by churn risk" in card and "report #1" in card and "first model" in card
    bad = mlwork_cli("monitor", "run", "nope", "--data", tmp_path / "month2.parquet", cwd=ws_root, timeout=600)
    assert bad.returncode != 0 and "nope" in (bad.stdout + bad.stderr)
    bad = mlwork_cli("report", "drift", "42", cwd=ws_root)
    assert bad.returncode != 0 and "42" in bad.stderr


def test_retrain_on_labels_that_arrived_later(ws_root):
    "Scored data without labels plus labels joined on the id: the retrain trains on the joined, versioned data."
    m2 = _setup(ws_root, "\n[monitoring]\nretrain_on = drift\n")
    with Workspace.open(ws_root) as ws:
        rep = ws.monitor.check("churn", m2.drop(columns="churned"), labels=m2[["customer_id", "churned"]])
        act = rep.meta["actions"][0]
        assert act["status"] == "waiting" and act["dataset"] == "churn-labelled@1", act   # no gates; auto_promote off
        dv = ws.datasets.get("churn-labelled@1")
        assert dv.rows == len(m2) and dv.schema.role("target") == "churned" and dv.schema.role("id") == "customer_id"
        assert list(ws.get_run(act["run_id"]).datasets().dataset) == ["churn-labelled"]
        assert ws.registry.get("churn@production").version == 1 and len(ws.registry.versions("churn")) == 2


def test_retrain_waits_for_labels_then_starts_when_they_come(ws_root):
    "Drifted data without labels: the retrain waits (one event) and says so; a later check that brings labels starts it."
    from mlwork.monitor import example_model
    (ws_root / "settings.ini").write_text((ws_root / "settings.ini").read_text() + "\n[monitoring]\nretrain_on = drift\n")
    with Workspace.open(ws_root) as ws:
        _, _, drifted = example_model(ws, n_customers=1500)
        scored = drifted.drop(columns="churned")
        first = ws.monitor.check("churn", scored).meta["actions"]
        second = ws.monitor.check("churn", scored).meta["actions"]
        assert [a["status"] for a in first + second] == ["waiting for labels"] * 2, first + second
        assert "no labels yet" in first[0]["why"] and f"waiting since event {first[0]['waiting_event']}" in second[0]["why"]
        assert len(_events(ws, "retrain_waiting")) == 1 and _events(ws, "retrain_skipped").empty
        done = ws.monitor.check("churn", scored, labels=drifted[["customer_id", "churned"]]).meta["actions"][0]
        assert done["status"] == "waiting" and done["dataset"] == "churn-labelled@1", done     # no gates: it waits for a person
        assert done["holdout"].startswith("churn-labelled@1, held out: the latest 300 of 1,500 rows by period")
        assert ws.jobs.get(done["job_id"]).parameters["holdout"] == 0.2
        assert ws.monitor.retrainer.waiting("churn") is None and len(_events(ws, "retrain_started")) == 1
