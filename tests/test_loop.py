"""The continuous-training loop (issue 16) from REST requests to a promotion decided by a live gate, on a real
uvicorn server, real papermill train jobs and the embedded store; two drivers at once act once; a canary that
fails early is rolled back.

The story: churn@1 is trained on January. February and March arrive through REST with a concept drift; February's
labels come back one window late. A tick of the loop finds the drift in the live log, retrains on the labelled
window, and the candidate becomes `challenger` under a 50% canary. April goes through REST split between the two
versions; its labels come back; the next tick's live gate finds the challenger better and promotes it.
"""
import json, os, subprocess, sys, time
import numpy as np, pandas as pd, pytest

pytest.importorskip("fastapi"); pytest.importorskip("uvicorn"); pytest.importorskip("papermill")

import mlwork as mw
from mlwork import audit, loop, traffic as tr
from mlwork.keys import create_key
from mlwork.serve import serve_in_background
from mlwork.synthetic import churn_pair
from test_serve import call

N = 1500
DRIFT = dict(concept_drift=1.0, covariate_drift=0.5)
SETTINGS = """
[monitoring]
retrain_on = drift
release = canary
auto_promote = true
cooldown_hours = 0
[promotion]
live_min_labelled = 200
live_min_effect = 0.05
[serving]
reload_interval = 0.2
heartbeat = 0.5
[serving.churn]
log_flush_seconds = 0.2
traffic = canary
canary_steps = 50
"""


def _send(url, df, token, batch=250):
    "Send `df` (without the target) through REST in batches; [(request id, row, label)] to send back later."
    out, recs = [], json.loads(df.drop(columns=["churned"]).to_json(orient="records", date_format="iso"))
    for i in range(0, len(recs), batch):
        s, body, _ = call(url + "/models/churn/predict", recs[i:i + batch], key=token)
        assert s == 200, body
        out += [(body["request_id"], j, int(y)) for j, y in enumerate(df.churned.iloc[i:i + batch])]
    return out


def _labels(url, token, sent):
    for i in range(0, len(sent), 1000):
        body = {"labels": [{"request_id": r, "row": j, "label": y} for r, j, y in sent[i:i + 1000]]}
        s, out, _ = call(url + "/models/churn/feedback", body, key=token)
        assert s == 200, out


def _wait_logged(ws, n, timeout=20):
    from mlwork import predlog
    end = time.time() + timeout
    while time.time() < end:
        if len(predlog.window(ws.store, ws.blobs, "churn", on="request")) >= n: return
        time.sleep(0.2)
    raise AssertionError("the log did not catch up")


def _tick_in_process(root, since):
    "One tick in a new Python process (another driver); its result as JSON on stdout."
    code = ("import json, mlwork as mw; from mlwork import loop; ws = mw.Workspace.open(%r); "
            "print(json.dumps(loop.tick(ws, 'churn', since=%r), default=str))" % (str(root), since))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_loop_from_rest_requests_to_a_promotion_by_the_live_gate(tmp_path):
    ws = mw.Workspace.init(tmp_path / "ws")
    with open(ws.settings.file, "a") as f: f.write(SETTINGS)
    ws.close()
    ws = mw.Workspace.open(tmp_path / "ws")
    jan, feb = churn_pair(n_customers=N, seed=1, start="2026-01", **DRIFT)
    _, mar = churn_pair(n_customers=N, seed=2, start="2026-02", **DRIFT)
    _, apr = churn_pair(n_customers=N, seed=3, start="2026-03", **DRIFT)
    dv = ws.datasets.log(jan, "churn", target="churned", id="customer_id", time="period")
    job = ws.jobs.run("train", {"model": "logreg", "C": 1.0, "dataset": "churn", "version": str(dv.version), "experiment": "loop"})
    assert job.status == "FINISHED", job.error
    v1 = ws.registry.register(job.runs().run_id.iloc[0], "churn")
    ws.registry.promote("churn", v1.version, reason="the January model")
    token = create_key(ws.store, "loop", scopes="predict,feedback").token
    with serve_in_background(ws, "churn@production").wait_ready(120) as srv:
        feb_sent = _send(srv.url, feb, token)
        mar_sent = _send(srv.url, mar, token)
        _labels(srv.url, token, feb_sent)                  # February's labels come back one window late
        _wait_logged(ws, 2 * N)
        # two drivers at once: one checks the window and retrains, the other finds the lease taken
        a, b = _tick_in_process(ws.root, "2026-02-01"), _tick_in_process(ws.root, "2026-02-01")
        outs = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in (a, b)]
        steps = sorted(o["step"] for o in outs)
        assert steps == ["checked", "skipped"], outs
        did = next(o for o in outs if o["step"] == "checked")
        assert did["actions"] and did["actions"][0]["status"] == "canary", did
        ev = audit.events(ws.store, model="churn", actions=["retrain_started"])
        assert len(ev) == 1                                  # retrained once
        v2 = did["actions"][0]["version"]
        assert ws.registry.get("churn", "challenger").version == v2
        p = tr.policy(ws.store, ws.settings, "churn")
        assert (p.kind, p.alias, p.steps) == ("canary", "challenger", (50,))
        # April through REST, split between the versions; its labels (and March's) come back
        end = time.time() + 10
        while time.time() < end:
            s, m, _ = call(srv.url + "/models", key=token)
            if (m["churn"].get("traffic") or {}).get("versions", {}).get("challenger") == v2: break
            time.sleep(0.2)
        apr_sent = _send(srv.url, apr, token)
        _labels(srv.url, token, mar_sent + apr_sent)
        _wait_logged(ws, 3 * N)
        time.sleep(1.2)                                      # a heartbeat with the variants' counters
        r = loop.tick(ws, "churn")
        assert r["step"] == "promoted" and r["version"] == v2, r
        assert ws.registry.get("churn", "production").version == v2
        assert tr.policy(ws.store, ws.settings, "churn").kind == "none"        # the canary ended with the promotion
        promo = audit.events(ws.store, model="churn", actions=["promote"])[-1]
        gates = {g["gate"]: g["passed"] for g in promo["details"]["gates"]}
        assert gates["live_beat_champion"] and gates["live_min_labelled"] and gates["live_errors"], gates
        # the server answers from v2 soon after
        end = time.time() + 10
        while time.time() < end:
            s, body, hd = call(srv.url + "/models/churn/predict", json.loads(apr.drop(columns=["churned"]).head(1).to_json(orient="records")), key=token)
            if body.get("version") == v2: break
            time.sleep(0.2)
        assert body["version"] == v2
    # one lineage from the requests to the new version serving
    lin = ws.monitor.lineage("churn").action.tolist()
    for a in ("drift_check", "retrain_started", "register", "traffic_set", "retrain_finished", "promote", "canary_promoted"):
        assert a in lin, (a, lin)
    assert lin.index("traffic_set") < lin.index("canary_promoted")
    ws.close()


def test_a_canary_that_errors_is_stopped_early_and_rolled_back(tmp_path):
    "Before any label: the challenger fails on the callers' rows (it needs a column they do not send); the tick stops it."
    from test_serve import _train_churn
    ws = mw.Workspace.init(tmp_path / "ws")
    with open(ws.settings.file, "a") as f: f.write("\n[serving]\nreload_interval = 0.2\nheartbeat = 0.3\n")
    ws.close()
    ws = mw.Workspace.open(tmp_path / "ws")
    jan, feb = churn_pair(n_customers=600, seed=5)
    dv = ws.datasets.log(jan, "churn", target="churned", id="customer_id", time="period")
    v1, _ = _train_churn(ws, dv, 1.0)
    ws.registry.promote("churn", v1.version, reason="champion")
    dv2 = ws.datasets.log(jan.assign(extra=1.0), "churn-extra", target="churned", id="customer_id", time="period")
    v2, _ = _train_churn(ws, dv2, 1.0)
    ws.registry.promote("churn", v2.version, alias="challenger", reason="needs a new column")
    tr.set_policy(ws.store, "churn", tr.Policy("canary", alias="challenger", steps=(50,)), reason="canary")
    token = create_key(ws.store, "loop").token
    with serve_in_background(ws, "churn@production").wait_ready(120) as srv:
        recs = json.loads(feb.drop(columns=["churned"]).to_json(orient="records", date_format="iso"))
        for r in recs[:500]:
            s, body, _ = call(srv.url + "/models/churn/predict", [r], key=token)
            assert s == 200 and body["version"] == v1.version          # every caller answered (by production)
        time.sleep(1.0)                                                  # a heartbeat with the counters
        r = loop.tick(ws, "churn")
    assert r["step"] == "rolled back" and r["guard"] == "stop" and r["labelled"] == 0, r
    assert tr.policy(ws.store, ws.settings, "churn").kind == "none"
    ev = audit.events(ws.store, model="churn", actions=["canary_rolled_back", "reject"])
    assert [e["action"] for e in ev] == ["canary_rolled_back", "reject"] and "error" in ev[0]["reason"], ev
    ws.close()
