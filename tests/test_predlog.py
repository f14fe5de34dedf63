"""The prediction log and feedback (issue 14) through a real uvicorn server process on 127.0.0.1.

One workspace (churn in two versions, the same model as churnl/churnq with other log settings, and a model on personal
data) and one server for the session; the SIGTERM/full-queue and kill -9 tests start their own.
The request helpers and the churn training come from tests/test_serve.py.
"""
import json, os, signal, threading, time, urllib.error
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import numpy as np, pandas as pd, pytest

pytest.importorskip("fastapi"); pytest.importorskip("uvicorn"); pytest.importorskip("prometheus_client")

import mlwork as mw
from mlwork import predlog
from mlwork.keys import create_key
from mlwork.serve import serve_in_background
from test_serve import ROW, call, _train_churn, _log

SETTINGS = """
[serving]
reload_interval = 0.2
log_flush_seconds = 0.2
[serving.people]
log_hash_columns = email
log_drop_columns = zip
[serving.churnl]
log_flush_seconds = 600
log_batch_rows = 1000000
[serving.churnq]
log_queue_rows = 5
log_flush_seconds = 600
log_batch_rows = 1000000
"""
SECRET = "secret.person.{}@example.org"


@pytest.fixture(scope="session")
def pws(tmp_path_factory):
    from mlwork.synthetic import churn_pair
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    root = tmp_path_factory.mktemp("predlog-ws")
    w = mw.Workspace.init(root)
    with open(w.settings.file, "a") as f: f.write(SETTINGS)
    w.close()
    w = mw.Workspace.open(root)
    ref, _ = churn_pair(n_customers=800, seed=0)
    dv = w.datasets.log(ref, "churn", target="churned", id="customer_id", time="period")
    (v1, _), (v2, _) = (_train_churn(w, dv, C) for C in (1.0, 0.02))
    w.registry.promote("churn", v1.version, reason="test: first")
    for name in ("churnl", "churnq"): w.registry.register(v1.run_id, name)
    rng = np.random.default_rng(2)
    n = 300
    people = pd.DataFrame({"email": [f"p{i}@example.org" for i in range(n)], "zip": rng.choice(["10115", "80331", "20095"], n),
                           "age": rng.integers(18, 80, n), "plan": rng.choice(["basic", "pro"], n)})
    people["y"] = ((people.age > 45) ^ (rng.random(n) < .1)).astype(int)
    dp = w.datasets.log(people, "people", target="y", id="email")
    m = make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["zip", "plan"]), remainder="passthrough"),
                      LogisticRegression()).fit(people[["zip", "age", "plan"]], people.y)
    w.registry.promote("people", _log(w, dp, m, "people").version, reason="test")
    w.test = {"v": (v1.version, v2.version)}
    w.test_keys = {"app": create_key(w.store, "app").token, "labeller": create_key(w.store, "labeller", scopes="feedback").token}
    yield w
    w.close()


@pytest.fixture(scope="session")
def srv(pws):
    h = serve_in_background(pws, "churn@production", "people@production", workers=1)
    yield h
    code = h.stop()
    assert code in (0, -signal.SIGTERM), h.logs()[-3000:]
    assert "Traceback" not in h.logs(), h.logs()[-3000:]


def wait_logged(ws, name, rids, timeout=15):
    "The window of `name` once every request id of `rids` is in it."
    end = time.time() + timeout
    while True:
        w = predlog.window(ws.store, ws.blobs, name, on="request")
        missing = set(rids) - set(w._request_id) if len(w) else set(rids)
        if not missing: return w
        assert time.time() < end, f"not logged after {timeout}s: {sorted(missing)[:5]}"
        time.sleep(0.1)


def test_requests_are_logged_with_version_and_key(pws, srv):
    v1, v2 = pws.test["v"]
    key, url = pws.test_keys["app"], srv.url
    answers = {}
    for i in range(4):
        s, out, h = call(url + "/models/churn/predict", [ROW, dict(ROW, customer_id="C2")], key, headers={"x-request-id": f"a-{i}"})
        assert s == 200, out
        answers[f"a-{i}"] = (out["version"], out["predictions"])
    s, out, h = call(url + "/models/churn/invocations", {"dataframe_records": [ROW]}, key, headers={"x-request-id": "m-1"})
    assert s == 200; answers["m-1"] = (int(h["x-model-version"]), out["predictions"])
    tensors = [{"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "BOOL" if isinstance(v, bool)
                else "INT64" if isinstance(v, int) else "FP64", "data": [v]} for k, v in ROW.items()]
    s, out, h = call(url + "/v2/models/churn/infer", {"id": "v2-1", "inputs": tensors}, key)
    assert s == 200; answers["v2-1"] = (int(out["model_version"]), out["outputs"][0]["data"])
    assert call(url + "/models/churn/predict", [dict(ROW, age="old")], key, headers={"x-request-id": "bad-1"})[0] == 422
    pws.registry.promote("churn", v2, reason="test: the log names the version")
    try:
        end = time.time() + 15
        while call(url + "/models/churn/predict", [ROW], key)[1]["version"] != v2: assert time.time() < end; time.sleep(0.1)
        for i in range(3):
            s, out, _ = call(url + "/models/churn/predict", [ROW], key, headers={"x-request-id": f"b-{i}"})
            answers[f"b-{i}"] = (out["version"], out["predictions"])
    finally:
        pws.registry.rollback("churn", reason="test: back")
    w = wait_logged(pws, "churn", answers)
    assert "bad-1" not in set(w._request_id)                 # refused requests are not predictions
    for rid, (version, preds) in answers.items():
        rows = w[w._request_id == rid].sort_values("_row")
        assert rows._version.unique().tolist() == [version], (rid, rows._version.tolist())
        assert rows._prediction.tolist() == preds and set(rows._key) == {"app"}, rid
        assert (rows._latency_ms > 0).all() and rows._time.dt.tz is not None
    a0 = w[w._request_id == "a-0"]
    assert a0.customer_id.tolist() == ["C1", "C2"] and str(a0.period.dtype).startswith("datetime64")
    assert np.allclose(a0._proba_0 + a0._proba_1, 1) and a0.tenure_months.tolist() == [12, 12]
    assert {v1, v2} <= set(predlog.traffic(pws.store, "churn")["versions"])
    s, models, _ = call(url + "/models")
    assert models["churn"]["log"]["accepted"] >= 12 and models["churn"]["log"]["dropped"] == 0


def test_feedback_by_request_id_and_entity(pws, srv):
    key, lab, url = pws.test_keys["app"], pws.test_keys["labeller"], srv.url + "/models/churn"
    for rid, rows in (("fb-1", [dict(ROW, customer_id="K10")]), ("fb-2", [dict(ROW, customer_id="K10", age=60)]),
                      ("fb-3", [dict(ROW, customer_id="K11"), dict(ROW, customer_id="K12")])):
        assert call(url + "/predict", rows, key, headers={"x-request-id": rid})[0] == 200
        if rid == "fb-1": time.sleep(0.05); between = time.time(); time.sleep(0.05)
    labels = [{"request_id": "fb-3", "row": 1, "label": 1},
              {"customer_id": "K10", "at": between, "label": 0},          # the latest prediction for K10 at or before then: fb-1
              {"entity": "K10", "label": 1},                              # ... and now: fb-2
              {"request_id": "nope", "label": 1},
              {"customer_id": "never-seen", "label": 0},
              {"request_id": "fb-3", "row": 5, "label": 0}]
    assert call(url + "/feedback", labels, key)[0] == 403                 # a predict-only key
    assert call(url + "/feedback", labels)[0] == 401
    s, out, _ = call(url + "/feedback", [{"request_id": "fb-1"}, {"label": 1}], lab)
    assert s == 422 and [(p["column"], p["rule"]) for p in out["problems"]] == [("labels[0].label", "label"), ("labels[1]", "key")]
    s, out, _ = call(url + "/feedback", {"labels": labels}, lab)
    assert s == 200, out
    assert (out["received"], out["stored"], out["matched"], out["unmatched"]) == (6, 6, 3, 3), out
    assert [u["index"] for u in out["unmatched_labels"]] == [3, 4, 5]
    reasons = [u["reason"] for u in out["unmatched_labels"]]
    assert "request id 'nope'" in reasons[0] and "for this entity" in reasons[1] and "there is no row 5" in reasons[2], reasons
    with pws.store.transaction(write=False) as conn:
        stored = conn.execute(predlog.feedback_t.select().where(predlog.feedback_t.c.key == "labeller")).mappings().all()
    assert len(stored) == 6 and sum(r["pred_request_id"] is None for r in stored) == 3   # unmatched labels are kept
    lw = predlog.labelled(pws.store, pws.blobs, "churn")
    got = {(r, i): y for r, i, y in zip(lw._request_id, lw._row, lw.churned) if y == y}
    assert got == {("fb-3", 1): 1, ("fb-1", 0): 0, ("fb-2", 0): 1}, got
    dv = predlog.to_dataset(pws.store, pws.blobs, pws.datasets, "churn", dataset="churn-feedback")
    assert dv.rows == 3 and dv.schema.role("target") == "churned" and dv.schema.role("id") == "customer_id"
    assert sorted(dv.load().churned) == [0, 1, 1]
    s, text, _ = call(srv.url + "/metrics")
    assert 'mlwork_feedback_labels_total{model="churn",outcome="unmatched"} 3.0' in text


def test_hashed_and_dropped_columns_never_reach_disk(pws, srv):
    key, url = pws.test_keys["app"], srv.url + "/models/people"
    rows = [{"email": SECRET.format(i), "zip": "Z-SECRET-ZIP", "age": 30 + i, "plan": "pro"} for i in range(3)]
    s, out, _ = call(url + "/predict", rows, key, headers={"x-request-id": "pii-1"})
    assert s == 200, out
    s, out, _ = call(url + "/feedback", [{"email": SECRET.format(1), "label": 1}], pws.test_keys["labeller"])
    assert s == 200 and out["matched"] == 1, out
    w = wait_logged(pws, "people", ["pii-1"])
    assert "zip" not in w and w.email.tolist() == [predlog.hash_value(SECRET.format(i)) for i in range(3)]
    assert predlog.labelled(pws.store, pws.blobs, "people").y.tolist()[-2] == 1
    seg = predlog.segments(pws.store, "people")
    import pyarrow.parquet as pq
    for d in seg.digest.dropna():
        raw = Path(pws.blobs.path(d)).read_bytes()
        t = pq.read_table(pws.blobs.path(d))
        assert "zip" not in t.column_names and "email" in t.column_names
        assert b"secret.person" not in raw and b"Z-SECRET-ZIP" not in raw
    # nowhere on disk: no blob, not the store (the entity of the label is stored hashed), not the server's log
    files = [p for p in Path(pws.settings.artifacts).rglob("*") if p.is_file()] + \
            [p for p in Path(pws.root, ".mlwork").glob("mlwork.db*")]
    for p in files:
        data = p.read_bytes()
        assert b"secret.person" not in data and b"Z-SECRET-ZIP" not in data, p
    assert "secret.person" not in srv.logs()


def test_sigterm_writes_everything_accepted_and_a_full_queue_counts_drops(pws):
    """churnl and churnq never flush on their own (600 s): what is in the log after SIGTERM was written at shutdown.
    churnq's queue holds 5 rows per worker: a 10-row request and most single-row ones are answered, not logged, counted."""
    key = pws.test_keys["app"]
    h = serve_in_background(pws, "churnl@1", "churnq@1", workers=2)
    answered, stop = [], threading.Event()
    def load(t):
        i = 0
        while not stop.is_set():
            rid = f"l{t}-{i}"; i += 1
            try:
                s, out, _ = call(h.url + "/models/churnl/predict", [dict(ROW, customer_id=rid)], key, headers={"x-request-id": rid}, timeout=10)
                if s == 200: answered.append(rid)
            except (urllib.error.URLError, ConnectionError, OSError): pass
    try:
        s, out, _ = call(h.url + "/models/churnq/predict", [ROW] * 10, key)
        assert s == 200 and len(out["predictions"]) == 10
        codes = [call(h.url + "/models/churnq/predict", [ROW], key)[0] for _ in range(14)]
        assert codes == [200] * 14                                      # a full queue never refuses or fails a request
        s, text, _ = call(h.url + "/metrics")
        dropped = sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith('mlwork_log_rows_total{model="churnq",outcome="dropped"}'))
        logged = sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith('mlwork_log_rows_total{model="churnq",outcome="logged"}'))
        assert dropped >= 14 and dropped + logged == 24 and logged <= 10, (dropped, logged)
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(load, t) for t in range(4)]
            time.sleep(1.5)
            assert len(answered) > 10 and predlog.traffic(pws.store, "churnl")["rows"] == 0     # nothing written yet
            h.proc.send_signal(signal.SIGTERM)
            assert h.proc.wait(60) in (0, -signal.SIGTERM), h.logs()[-3000:]
            stop.set()
            for f in futures: f.result()
    finally:
        stop.set(); h.stop()
    assert "Traceback" not in h.logs(), h.logs()[-3000:]
    w = predlog.window(pws.store, pws.blobs, "churnl")
    assert sorted(w._request_id) == sorted(answered) and len(set(answered)) == len(answered)
    tq = predlog.traffic(pws.store, "churnq")
    assert (tq["rows"], tq["dropped_rows"]) == (logged, dropped) and tq["rows"] + tq["dropped_rows"] == 24, tq
    assert tq["dropped_requests"] >= 5


def test_kill9_loses_at_most_the_last_flush_interval(pws):
    "Flushed every 0.2 s: requests answered more than an interval before a kill -9 are in the log."
    key = pws.test_keys["app"]
    h = serve_in_background(pws, "churn@production", workers=1)
    try:
        rids = [f"k9-{i}" for i in range(20)]
        for rid in rids: assert call(h.url + "/models/churn/predict", [ROW], key, headers={"x-request-id": rid})[0] == 200
        time.sleep(1.0)
        h.proc.kill(); h.proc.wait(10)
    finally: h.stop()
    w = predlog.window(pws.store, pws.blobs, "churn", on="request")
    assert set(rids) <= set(w._request_id)
