"""Traffic policies (issue 16) on a real uvicorn server on 127.0.0.1: canary split and stickiness, A/B, shadow,
a challenger that fails, a policy set while serving, a promotion racing a traffic change.

One workspace: churn v1 (production), v2 (challenger, C=0.05), v3 (trained with a column callers do not send).
"""
import json, math, time
import numpy as np, pandas as pd, pytest

pytest.importorskip("fastapi"); pytest.importorskip("uvicorn")

import mlwork as mw
from mlwork import audit, predlog
from mlwork import traffic as tr
from mlwork.keys import create_key
from mlwork.serve import serve_in_background
from test_serve import call, _train_churn, _log

SETTINGS = """
[serving]
reload_interval = 0.2
[serving.churn]
log_flush_seconds = 0.2
"""


@pytest.fixture(scope="module")
def tws(tmp_path_factory):
    from mlwork.synthetic import churn_pair
    root = tmp_path_factory.mktemp("traffic-ws")
    w = mw.Workspace.init(root)
    with open(w.settings.file, "a") as f: f.write(SETTINGS)
    w.close()
    w = mw.Workspace.open(root)
    cur, _ = churn_pair(n_customers=1500, seed=3)
    dv = w.datasets.log(cur, "churn", target="churned", id="customer_id", time="period")
    v1, m1 = _train_churn(w, dv, 1.0)
    v2, m2 = _train_churn(w, dv, 0.05)
    w.registry.promote("churn", v1.version, reason="champion")
    w.registry.promote("churn", v2.version, alias="challenger", reason="challenger")
    first = cur.drop_duplicates("customer_id").head(600)
    w.rows, w.labels = first.drop(columns=["churned"]), first.churned
    w.token = create_key(w.store, "traffic", scopes="predict,feedback").token
    w.m1, w.m2 = m1, m2
    yield w
    w.close()


@pytest.fixture(scope="module")
def server(tws):
    h = serve_in_background(tws, "churn@production").wait_ready(120)
    yield h
    h.stop()


def _records(df):
    return json.loads(df.to_json(orient="records", date_format="iso"))


def _wait_policy(url, token, want_kind, timeout=10):
    "Until /models shows the policy (a change is picked up at the next poll)."
    end = time.time() + timeout
    while time.time() < end:
        s, body, _ = call(url + "/models", key=token)
        t = (body.get("churn") or {}).get("traffic")
        if (t or {}).get("policy", {}).get("kind", "none") == want_kind: return t
        time.sleep(0.1)
    raise AssertionError(f"policy {want_kind} not picked up: {body}")


def test_canary_split_is_sticky_within_binomial_bounds_and_picked_up_without_restart(tws, server):
    rows = _records(tws.rows)
    tr.set_policy(tws.store, "churn", tr.Policy("canary", alias="challenger", steps=(20, 50)), reason="test canary")
    _wait_policy(server.url, tws.token, "canary")
    first = {}
    for r in rows:
        s, body, hd = call(server.url + "/models/churn/predict", [r], key=tws.token)
        assert s == 200, body
        first[r["customer_id"]] = body["version"]
    share = sum(v == 2 for v in first.values()) / len(first)
    se = math.sqrt(0.2 * 0.8 / len(first))
    assert abs(share - 0.2) < 4 * se, share                           # 20% within 4 standard errors
    # the same customers again, one request of all of them: each row answered by the same version as before
    s, body, hd = call(server.url + "/models/churn/predict", rows, key=tws.token)
    assert s == 200 and body["versions"] == [first[r["customer_id"]] for r in rows]
    assert set(hd["x-model-version"].split(",")) == {"1", "2"}
    # each row's answer is what its version's model says
    X = tws.rows.drop(columns=["customer_id", "period"])
    p1, p2 = tws.m1.predict_proba(X)[:, 1], tws.m2.predict_proba(X)[:, 1]
    got = np.array([p[1] for p in body["probabilities"]])
    want = np.where(np.array(body["versions"]) == 2, p2, p1)
    assert np.abs(got - want).max() < 1e-6
    # the next step moves customers from production to the challenger, never back
    tr.advance(tws.store, tws.settings, "churn", reason="step 2")
    _wait_policy(server.url, tws.token, "canary")
    time.sleep(0.5)
    s, body, _ = call(server.url + "/models/churn/predict", rows, key=tws.token)
    after = dict(zip([r["customer_id"] for r in rows], body["versions"]))
    assert all(after[c] == 2 for c, v in first.items() if v == 2)
    assert abs(sum(v == 2 for v in after.values()) / len(after) - 0.5) < 4 * math.sqrt(0.25 / len(after))
    # the log: every row under the version that answered it, rows of the split request at their places
    rid = body["request_id"]
    end = time.time() + 10
    while time.time() < end:
        w = predlog.window(tws.store, tws.blobs, "churn")
        mine = w[w._request_id == rid]
        if len(mine) == len(rows): break
        time.sleep(0.2)
    mine = mine.sort_values("_row")
    assert list(mine._row) == list(range(len(rows))) and list(mine._version) == body["versions"]
    s, models, _ = call(server.url + "/models", key=tws.token)
    assert models["churn"]["variants"]["challenger"]["requests"] > 0 and models["churn"]["variants"]["production"]["requests"] > 0
    tr.stop(tws.store, "churn", reason="done")
    _wait_policy(server.url, tws.token, "none")


def test_ab_weights(tws, server):
    rows = _records(tws.rows)
    tr.set_policy(tws.store, "churn", tr.Policy("ab", weights={"production": 1, "challenger": 3}), reason="A/B")
    _wait_policy(server.url, tws.token, "ab")
    s, body, _ = call(server.url + "/models/churn/predict", rows, key=tws.token)
    share = sum(v == 2 for v in body["versions"]) / len(rows)
    assert abs(share - 0.75) < 4 * math.sqrt(0.75 * 0.25 / len(rows)), share
    tr.stop(tws.store, "churn", reason="done")
    _wait_policy(server.url, tws.token, "none")


def test_shadow_never_changes_an_answer_and_logs_beside_it(tws, server):
    rows = _records(tws.rows.head(50))
    before = [call(server.url + "/models/churn/predict", rows[i:i + 10], key=tws.token)[1] for i in range(0, 50, 10)]
    tr.set_policy(tws.store, "churn", tr.Policy("shadow", alias="challenger", queue=100), reason="shadow")
    _wait_policy(server.url, tws.token, "shadow")
    rids = []
    for i in range(0, 50, 10):
        s, body, _ = call(server.url + "/models/churn/predict", rows[i:i + 10], key=tws.token)
        assert s == 200 and body["version"] == 1 and "versions" not in body
        assert body["probabilities"] == before[i // 10]["probabilities"]        # the shadow never changes an answer
        assert body["predictions"] == before[i // 10]["predictions"]
        rids.append(body["request_id"])
    end = time.time() + 15
    while time.time() < end:
        seg = predlog.segments(tws.store, "churn", shadow=True)
        if seg.requests.sum() >= 5: break
        time.sleep(0.2)
    assert set(seg.version) == {2}
    sh = pd.concat([predlog.read_segment(tws.blobs, d) for d in seg.digest])
    sh = sh[sh._request_id.isin(rids)]
    assert len(sh) == 50 and set(sh._version) == {2}
    X = tws.rows.head(50).drop(columns=["customer_id", "period"])
    want = dict(zip(tws.rows.head(50).customer_id, tws.m2.predict_proba(X)[:, 1]))
    assert max(abs(r["_proba_1"] - want[r["customer_id"]]) for _, r in sh.iterrows()) < 1e-6
    served_log = predlog.window(tws.store, tws.blobs, "churn")
    assert not served_log[served_log._request_id.isin(rids)]._version.isin([2]).any()   # served answers: v1 only
    # the labels come back: the live comparison pairs each shadow row with the champion's row it shadowed
    from mlwork import live
    labels = [{"request_id": rid, "row": j, "label": int(y)} for k, rid in enumerate(rids)
              for j, y in enumerate(tws.labels.head(50).iloc[10 * k:10 * k + 10])]
    s, out, _ = call(server.url + "/models/churn/feedback", {"labels": labels}, key=tws.token)
    assert s == 200 and out.get("matched", len(labels)) == len(labels), out
    rep = live.compare(tws.store, tws.blobs, tws.settings, "churn")
    champ, shadow = rep.variant("champion"), rep.variant("shadow")
    assert (champ.version, shadow.version, shadow.labelled, champ.labelled) == (1, 2, 50, 50), rep.variants
    want_agree = np.mean((tws.m1.predict_proba(X)[:, 1] >= 0.5) == (tws.m2.predict_proba(X)[:, 1] >= 0.5))
    assert abs(rep.agreement - want_agree) < 1e-9
    assert rep.verdict["paired"] and rep.verdict["n_challenger"] == 50 and rep.verdict["decision"] == "not yet"   # 50 < 200 rows
    assert rep.decision == "wait" and not rep.gates[0]["passed"]          # live_min_labelled
    tr.stop(tws.store, "churn", reason="done")
    _wait_policy(server.url, tws.token, "none")


def test_failing_challenger_falls_back_and_counts(tws, server):
    # a challenger trained with a column the callers do not send yet: it cannot answer their rows
    from mlwork.synthetic import churn_pair
    cur, _ = churn_pair(n_customers=300, seed=4)
    dv = tws.datasets.log(cur.assign(extra=1.0), "churn-extra", target="churned", id="customer_id", time="period")
    mv, _ = _train_churn(tws, dv, 1.0)
    tws.registry.promote("churn", mv.version, alias="broken", reason="a challenger that needs a new column")
    tr.set_policy(tws.store, "churn", tr.Policy("canary", alias="broken", steps=(50,)), reason="canary of a broken one")
    t = _wait_policy(server.url, tws.token, "canary")
    rows = _records(tws.rows.head(100))
    s, body, _ = call(server.url + "/models/churn/predict", rows, key=tws.token)
    assert s == 200 and set(body["versions"]) == {1}                  # the broken rows answered by production
    s, models, _ = call(server.url + "/models", key=tws.token)
    var = models["churn"]["variants"]["broken"]
    assert var["errors"] >= 1 and var["errors"] == var["requests"]
    tr.stop(tws.store, "churn", reason="done")
    _wait_policy(server.url, tws.token, "none")


def test_canary_restarts_when_its_alias_moves_and_a_promotion_races_a_traffic_change(tws, server):
    import threading
    tr.set_policy(tws.store, "churn", tr.Policy("canary", alias="challenger", steps=(5, 20, 50)), reason="canary")
    tr.advance(tws.store, tws.settings, "churn", reason="step 2")
    assert tr.stored(tws.store, "churn")[0].step == 1
    tws.registry.promote("churn", 1, alias="challenger", reason="another challenger")   # the alias moves
    p = tr.policy(tws.store, tws.settings, "churn")
    with tws.store.transaction(write=False) as conn: now = tr._alias_version(conn, "churn", "challenger")
    assert p.effective(now).step == 0                                 # the canary restarts at its first step
    # a promotion and a traffic change at once: both land, each audited, the server follows the last state
    errs = []
    def promote():
        try: tws.registry.promote("churn", 2, alias="challenger", reason="race")
        except Exception as e: errs.append(e)
    def change():
        try: tr.set_policy(tws.store, "churn", tr.Policy("canary", alias="challenger", steps=(10,)), reason="race")
        except Exception as e: errs.append(e)
    ts = [threading.Thread(target=promote), threading.Thread(target=change)]
    for t in ts: t.start()
    for t in ts: t.join()
    assert not errs, errs
    t = _wait_policy(server.url, tws.token, "canary")
    end = time.time() + 10
    while time.time() < end and t["versions"].get("challenger") != 2:
        time.sleep(0.2); t = _wait_policy(server.url, tws.token, "canary")
    assert t["versions"] == {"challenger": 2} and t["policy"]["steps"] == [10]
    ev = audit.events(tws.store, model="churn", actions=["traffic_set"], limit=1)
    assert ev[-1]["details"]["policy"]["steps"] == [10]
    tr.stop(tws.store, "churn", reason="done")
