"""Monitoring live traffic (issue 14, item 3) through a real uvicorn server process on 127.0.0.1.

A model trained on January (synthetic churn data) is served; a quiet February and a drifted March are sent through
REST, their labels through the feedback endpoint (February by request id and row, March by customer id). Then
`ws.monitor.check(name, source="live", since, until)` checks each month's window of the prediction log (cut on the
data's time column, `period`). The request helpers and the churn training come from tests/test_serve.py.
"""
import signal, time
import numpy as np, pandas as pd, pytest

pytest.importorskip("fastapi"); pytest.importorskip("uvicorn"); pytest.importorskip("prometheus_client")

import mlwork as mw
from mlwork import predlog
from mlwork.keys import create_key
from mlwork.serve import serve_in_background
from test_serve import call, _train_churn

SETTINGS = "\n[serving]\nreload_interval = 0.2\nlog_flush_seconds = 0.2\n"
ROLES = dict(target="churned", id="customer_id", time="period")
N, CHUNK = 1200, 400
FEB, MAR = dict(since="2026-02-01", until="2026-03-01"), dict(since="2026-03-01", until="2026-04-01")


def _records(df):
    "Rows as JSON objects: no target, dates as text."
    out = df.drop(columns="churned").assign(period=df.period.dt.strftime("%Y-%m-%d")).astype(object)
    return out.where(out.notna(), None).to_dict("records")


def _send(url, df, key, prefix):
    "Send `df` in requests of CHUNK rows; return the request ids."
    rids = []
    for i in range(0, len(df), CHUNK):
        rid = f"{prefix}-{i // CHUNK}"
        s, out, _ = call(url, _records(df.iloc[i:i + CHUNK]), key, headers={"x-request-id": rid})
        assert s == 200, out
        rids.append(rid)
    return rids


def _wait_logged(ws, rids, timeout=20):
    end = time.time() + timeout
    while True:
        w = predlog.window(ws.store, ws.blobs, "churn", on="request")
        if len(w) and set(rids) <= set(w._request_id): return w
        assert time.time() < end, f"not logged after {timeout}s"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from mlwork.synthetic import churn_pair
    root = tmp_path_factory.mktemp("live-monitor-ws")
    w = mw.Workspace.init(root)
    with open(w.settings.file, "a") as f: f.write(SETTINGS)
    w.close()
    w = mw.Workspace.open(root)
    jan, feb = churn_pair(n_customers=N, seed=4)                                              # January, a quiet February
    _, mar = churn_pair(n_customers=N, seed=4, start="2026-02", covariate_drift=1.0, new_category=True)   # a drifted March
    dv = w.datasets.log(jan, "churn", **ROLES)
    mv, _ = _train_churn(w, dv, 1.0)
    w.registry.promote("churn", mv.version, reason="test: first")
    keys = {"app": create_key(w.store, "app").token, "labeller": create_key(w.store, "labeller", scopes="feedback").token}
    h = serve_in_background(w, "churn@production", workers=1)
    try:
        url = h.url + "/models/churn"
        rids = {"feb": _send(url + "/predict", feb, keys["app"], "feb"), "mar": _send(url + "/predict", mar, keys["app"], "mar")}
        _wait_logged(w, rids["feb"] + rids["mar"])
        yield dict(ws=w, url=url, keys=keys, feb=feb, mar=mar, rids=rids, version=mv.version)
    finally:
        code = h.stop()
        w.close()
    assert code in (0, -signal.SIGTERM), h.logs()[-3000:]
    assert "Traceback" not in h.logs(), h.logs()[-3000:]


def test_live_windows_before_labels(live):
    "Drift in the drifted window, not in the quiet one; performance estimated from the logged probabilities only."
    ws = live["ws"]
    ws.settings.sections["monitoring"] = {"retrain_on": "drift"}
    try:
        quiet = ws.monitor.check("churn", source="live", **FEB)
        drifted = ws.monitor.check("churn", source="live", **MAR)
    finally:
        ws.settings.sections.pop("monitoring")
    assert not quiet.dataset_drift and not quiet.triggers and not quiet.prediction.drifted, quiet.summary()
    assert drifted.dataset_drift and drifted.prediction.drifted and "payment_method" in drifted.drifted_columns
    assert drifted["payment_method"].new_categories
    for rep, month in ((quiet, "feb"), (drifted, "mar")):
        m = rep.meta
        assert (m["source"], m["cut_on"], m["version"]) == ("live", "period", live["version"])
        assert m["traffic"]["rows"] == N and m["traffic"]["requests"] == len(live["rids"][month])
        assert m["traffic"]["versions"] == {live["version"]: N} and m["traffic"]["dropped_rows"] == 0
        assert m["estimated"]["roc_auc"] > 0.6 and m["performance"][0]["labelled"] == 0 and not m["labelled"]
        assert m["performance"][0]["realised_roc_auc"] is None
        cur = ws.datasets.get(m["current"])
        assert cur.name == "churn-live" and cur.rows == N and cur.schema.role("time") == "period"
    # the trigger fired; with no labels in the window, the retrain waits for them
    assert drifted.triggers and drifted.triggers[0].startswith("drift: ")
    assert [a["status"] for a in drifted.meta["actions"]] == ["waiting for labels"], drifted.meta["actions"]
    assert ws.monitor.reports("churn").source.tolist()[:2] == ["live", "live"]


def test_live_windows_with_feedback(live):
    "Labels sent to the feedback endpoint: the realised ROC AUC of each window is the AUC of the logged probabilities."
    from sklearn.metrics import roc_auc_score
    ws, url, key = live["ws"], live["url"], live["keys"]["labeller"]
    feb, mar = live["feb"], live["mar"]
    by_request = [{"request_id": f"feb-{i // CHUNK}", "row": i % CHUNK, "label": int(y)} for i, y in enumerate(feb.churned)]
    by_entity = [{"customer_id": c, "label": int(y)} for c, y in zip(mar.customer_id, mar.churned)]   # the latest prediction
    for labels in (by_request, by_entity):
        s, out, _ = call(url + "/feedback", {"labels": labels}, key)
        assert s == 200 and out["matched"] == N and out["unmatched"] == 0, out
    for window, month in ((FEB, feb), (MAR, mar)):
        rep = ws.monitor.check("churn", source="live", act=False, **window)
        perf = rep.meta["performance"][0]
        w = predlog.window(ws.store, ws.blobs, "churn", **window)
        truth = month.set_index("customer_id").churned.loc[w.customer_id.astype(month.customer_id.dtype)]
        expected = roc_auc_score(truth.to_numpy(), w._proba_1)
        assert perf["labelled"] == N and rep.meta["labelled"]
        assert perf["realised_roc_auc"] == pytest.approx(expected), (perf, expected)
        assert 0.6 < perf["realised_roc_auc"] and perf["realised_accuracy"] > 0.5
    assert ws.monitor.report("latest", "churn").meta["performance"][0]["realised_roc_auc"] == pytest.approx(perf["realised_roc_auc"])
    # the window with its labels is a dataset version to retrain on, in one call; the retrainer takes the same
    dv = ws.monitor.live_data("churn", **MAR)
    assert dv.rows == N and dv.schema.role("target") == "churned" and dv.load().churned.notna().all()
    fresh = ws.monitor.retrainer._live_data(rep.meta)
    assert fresh.name == "churn-live-labelled" and fresh.rows == N and fresh.schema.role("target") == "churned"
    t = ws.monitor.traffic("churn")
    assert t["rows"] == 2 * N and t["versions"] == {live["version"]: 2 * N}


def test_monitor_job_reads_a_live_window(live):
    "The monitor job template takes source, since and until."
    ws = live["ws"]
    job = ws.jobs.run("monitor", {"model": "churn", "source": "live", "since": MAR["since"], "until": MAR["until"], "act": False})
    assert job.status == "FINISHED", job.error
    rep = ws.monitor.report(int(ws.monitor.reports("churn", job_id=job.id).id.iloc[0]))
    assert rep.meta["source"] == "live" and rep.dataset_drift and rep.meta["job_id"] == job.id
