"""The REST service (issue 13) against a real uvicorn server process on 127.0.0.1.

One workspace and one server (2 workers, 5 models) per test session; the SIGTERM test starts its own.
"""
import json, os, signal, threading, time, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor
import numpy as np, pandas as pd, pytest

pytest.importorskip("fastapi"); pytest.importorskip("uvicorn"); pytest.importorskip("prometheus_client")

import mlwork as mw
from mlwork import audit
from mlwork.keys import create_key, revoke_key
from mlwork.serve import serve_in_background

SETTINGS = """
[serving]
reload_interval = 0.2
max_rows = 6000
max_body_mb = 1
[serving.churn]
unseen_categories = reject
[serving.nulls]
extra_columns = refuse
[serving.sleepy]
timeout = 0.05
details = false
"""
ROW = {"customer_id": "C1", "period": "2026-01-01", "tenure_months": 12, "monthly_charges": 70.5, "total_charges": 846.0,
       "contract": "month-to-month", "payment_method": "electronic check", "internet_service": "fiber",
       "support_calls": 2, "region": "east", "age": 40, "has_partner": False}


def call(url, body=None, key=None, ctype="application/json", headers=None, method=None, timeout=30):
    "(status, parsed body or text, headers) of one request."
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    h = {"content-type": ctype, **(headers or {})}
    if key: h["authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r: status, raw, hd = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e: status, raw, hd = e.code, e.read(), e.headers
    try: out = json.loads(raw)
    except ValueError: out = raw.decode()
    return status, out, hd


def _train_churn(ws, dv, C, pickle=False):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    df = dv.load()
    feats = [c for c in df.columns if c not in ("customer_id", "period", "churned")]
    num = [c for c in feats if df[c].dtype.kind in "biuf"]
    cat = [c for c in feats if c not in num]
    m = make_pipeline(ColumnTransformer([("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
                                         ("cat", OneHotEncoder(handle_unknown="ignore"), cat)]),
                      LogisticRegression(C=C, max_iter=2000)).fit(df[feats], df.churned)
    return _log(ws, dv, m, "churn", pickle=pickle), m


def _log(ws, dv, model, name, pickle=False):
    with ws.start_run(name) as run:
        run.use_dataset(dv, role="train")
        run.log_model(model, pickle=pickle)
    return ws.registry.register(run, name)


@pytest.fixture(scope="session")
def ws(tmp_path_factory):
    from mlwork.synthetic import churn_pair
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    root = tmp_path_factory.mktemp("serve-ws")
    w = mw.Workspace.init(root)
    with open(w.settings.file, "a") as f: f.write(SETTINGS)
    w.close()
    w = mw.Workspace.open(root)
    ref, _ = churn_pair(n_customers=1500, seed=0)
    dv = w.datasets.log(ref, "churn", target="churned", id="customer_id", time="period")
    (v1, m1), (v2, m2) = (_train_churn(w, dv, C) for C in (1.0, 0.02))
    with pytest.warns(UserWarning, match="pickle"):
        v3, _ = _train_churn(w, dv, 0.5, pickle=True)          # the server refuses to load it (untrusted pickle)
    w.registry.promote("churn", v1.version, reason="test: first")
    # nullable ints and bools (all numeric: the V2 2-D tensor works)
    rng = np.random.default_rng(1)
    n = 400
    nulls = pd.DataFrame({"n": pd.array(np.where(rng.random(n) < .2, None, rng.integers(0, 9, n)), dtype="Int64"),
                          "b": pd.array(np.where(rng.random(n) < .2, None, rng.random(n) < .5), dtype="boolean"),
                          "x": rng.normal(size=n), "y": rng.integers(0, 2, n)})
    dn = w.datasets.log(nulls, "nulls", target="y")
    X = nulls[["n", "b", "x"]].astype("float64")
    vn = _log(w, dn, HistGradientBoostingClassifier(max_iter=20).fit(X, nulls.y), "nulls")
    w.registry.promote("nulls", vn.version, reason="test")
    ok = X.dropna().index                        # a model that raises on a null its schema allows
    _log(w, dn, LogisticRegression().fit(X.loc[ok], nulls.y[ok]), "fragile")
    big = pd.DataFrame({"a": rng.normal(size=20000), "c": rng.normal(size=20000), "y": rng.integers(0, 2, 20000)})
    db = w.datasets.log(big, "big", target="y")
    knn = KNeighborsClassifier(n_neighbors=15, algorithm="brute").fit(big[["a", "c"]], big.y)
    _log(w, db, knn, "slow"); _log(w, db, knn, "sleepy")
    w.test = {"v": (v1.version, v2.version, v3.version), "models": (m1, m2)}
    w.test_keys = {k: create_key(w.store, k, **kw).token for k, kw in {
        "all": {}, "churn-only": {"models": "churn"}, "feedback": {"scopes": "feedback"}, "admin": {"scopes": "admin"}}.items()}
    yield w
    w.close()


@pytest.fixture(scope="session")
def server(ws):
    h = serve_in_background(ws, "churn@production", "nulls@production", "fragile@1", "slow@1", "sleepy@1", workers=2)
    yield h
    code = h.stop()
    assert code in (0, -signal.SIGTERM), h.logs()[-3000:]     # uvicorn re-raises the signal after a clean shutdown
    assert "Traceback" not in h.logs(), h.logs()[-3000:]


@pytest.fixture(scope="session")
def key(ws): return ws.test_keys["all"]


def test_predict_endpoint(server, key):
    url = server.url + "/models/churn/predict"
    s, out, h = call(url, [ROW, dict(ROW, customer_id="C2", age=70)], key, headers={"x-request-id": "abc-1"})
    assert s == 200, out
    assert out["version"] == 1 and out["request_id"] == "abc-1" and h["x-request-id"] == "abc-1" and h["x-model-version"] == "1"
    assert len(out["predictions"]) == 2 and out["classes"] == [0, 1] and abs(sum(out["probabilities"][0]) - 1) < 1e-9
    assert out["ids"] == {"customer_id": ["C1", "C2"], "period": ["2026-01-01", "2026-01-01"]}
    cols = {k: [v] for k, v in ROW.items()}
    for body in ({"records": [ROW]}, {"columns": cols}, cols, ROW):
        s2, out2, _ = call(url, body, key)
        assert s2 == 200 and out2["probabilities"][0] == out["probabilities"][0], (body, out2)
    s, out, _ = call(url, ("\n".join([",".join(ROW), ",".join(map(str, ROW.values()))]) + "\n").encode(), key, ctype="text/csv")
    assert s == 200, out


def test_mlflow_protocol(server, key):
    url = server.url + "/models/churn/invocations"
    feats = [c for c in ROW if c not in ("customer_id", "period")]
    bodies = [{"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}},
              {"dataframe_records": [ROW]},
              {"instances": [ROW]},
              {"inputs": {k: [v] for k, v in ROW.items()}},
              {"instances": [[ROW[f] for f in feats]]}]
    for body in bodies:
        s, out, h = call(url, body, key)
        assert s == 200 and out["predictions"] in ([0], [1]) and h["x-model-version"] == "1", (body, out)
    s, out, _ = call(url, ",".join(ROW).encode() + b"\n" + ",".join(map(str, ROW.values())).encode(), key, ctype="text/csv")
    assert s == 200, out
    s, out, _ = call(server.url + "/invocations", bodies[0], key)      # several models: /invocations is ambiguous
    assert s == 400 and "/models/churn/invocations" in out["error"] and "nulls" in out["error"]
    assert call(server.url + "/ping")[0] == 200


def test_v2_protocol(server, key):
    tensors = [{"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "BOOL" if isinstance(v, bool)
                else "INT64" if isinstance(v, int) else "FP64", "data": [v]} for k, v in ROW.items()]
    s, out, _ = call(server.url + "/v2/models/churn/infer", {"id": "r1", "inputs": tensors}, key)
    assert s == 200 and out["model_name"] == "churn" and out["model_version"] == "1" and out["id"] == "r1", out
    assert [o["name"] for o in out["outputs"]] == ["predict", "predict_proba"] and out["outputs"][1]["shape"] == [1, 2]
    s, out, _ = call(server.url + "/v2/models/nulls/infer",                       # one 2-D tensor: every input numeric
                     {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [1, 0, 0.5, None, None, 1.5]}]}, key)
    assert s == 200 and out["outputs"][0]["shape"] == [2], out
    s, meta, _ = call(server.url + "/v2/models/churn")
    assert s == 200 and meta["versions"] == ["1"] and {"name": "age", "datatype": "INT64", "shape": [-1]} in meta["inputs"]
    for path in ("/v2/models/churn/ready", "/v2/health/live", "/v2/health/ready", "/health", "/ready"):
        assert call(server.url + path)[0] == 200, path
    assert call(server.url + "/v2/models/nope/ready")[0] == 404


def test_nullable_ints_and_bools(server, key):
    s, out, _ = call(server.url + "/models/nulls/predict", {"n": [None, 3, None], "b": [None, True, False], "x": [0.1, 0.2, 0.3]}, key)
    assert s == 200 and len(out["predictions"]) == 3, out


@pytest.mark.parametrize("change, status, column, rule", [
    ({"age": "forty"}, 422, "age", "kind"),
    ({"age": None}, 422, "age", "nulls"),
    ({"contract": "weekly"}, 422, "contract", "unseen_category"),
    ({"has_partner": "yes"}, 422, "has_partner", "kind"),
    ({"age": 40.5}, 422, "age", "kind"),
    ({"monthly_charges": 1e400}, 422, "monthly_charges", "kind"),
    ("drop:region", 422, "region", "missing_column"),
])
def test_bad_input_names_the_column(server, key, change, status, column, rule):
    row = dict(ROW)
    if isinstance(change, str): row.pop(change.split(":")[1])
    else: row.update(change)
    body = json.dumps([row]).replace("1e+400", "1e400").replace("Infinity", "1e400").encode()
    s, out, _ = call(server.url + "/models/churn/predict", body, key)
    assert s == status and any(p["column"] == column and p["rule"] == rule for p in out["problems"]), out
    assert column in out["error"]


def test_every_problem_at_once_and_limits(server, key):
    s, out, _ = call(server.url + "/models/churn/predict", [dict(ROW, age="x", contract="weekly", region=None)], key)
    assert s == 422 and {(p["column"], p["rule"]) for p in out["problems"]} == \
        {("age", "kind"), ("contract", "unseen_category"), ("region", "nulls")}
    s, out, _ = call(server.url + "/models/nulls/predict", [{"n": 1, "b": True, "x": 0.0, "note": "hi"}], key)
    assert s == 422 and out["problems"][0]["rule"] == "extra_column" and "note" in out["problems"][0]["column"]
    s, out, _ = call(server.url + "/models/churn/predict", [dict(ROW, note="hi")], key)     # default: ignored, with a warning
    assert s == 200 and out["warnings"][0]["rule"] == "extra_column"
    s, out, _ = call(server.url + "/models/nulls/predict", {"n": [1] * 7000, "b": [True] * 7000, "x": [0.0] * 7000}, key)
    assert s == 413 and out["problems"][0]["rule"] == "too_many_rows"
    import http.client                       # announced too large: refused before the body is read
    conn = http.client.HTTPConnection(server.url.split("//")[1], timeout=10)
    conn.putrequest("POST", "/models/churn/predict")
    for k, v in {"content-type": "application/json", "content-length": "1100000", "authorization": f"Bearer {key}"}.items(): conn.putheader(k, v)
    conn.endheaders(b"[ ")
    r = conn.getresponse()
    assert r.status == 413 and json.loads(r.read())["problems"][0]["rule"] == "body_too_large"
    conn.close()
    for bad in (b"{not json", b"[]", b"[1, 2]", b'"x"', b'{"a": [1], "b": [1, 2]}'):
        s, out, _ = call(server.url + "/models/churn/predict", bad, key)
        assert s == 400 and out["problems"], (bad, out)
    s, out, _ = call(server.url + "/models/nope/predict", [ROW], key)
    assert s == 404 and "churn" in out["error"]


def test_model_error_and_timeout(server, key):
    s, out, _ = call(server.url + "/models/fragile/predict", [{"n": None, "b": True, "x": 0.0}], key)
    assert s == 422 and "fragile@1 could not predict" in out["error"], out
    assert call(server.url + "/models/fragile/predict", [{"n": 1, "b": True, "x": 0.0}], key)[0] == 200   # the worker lives on
    s, out, _ = call(server.url + "/models/sleepy/predict", {"a": [0.1] * 5000, "c": [0.2] * 5000}, key)
    assert s == 504 and "did not answer within" in out["error"], out
    assert call(server.url + "/models/sleepy/predict", {"a": [0.1], "c": [0.2]}, key)[0] == 200
    s, out, h = call(server.url + "/models/sleepy/predict", {"a": ["x"], "c": [0.2]}, key)     # details = false: logged, not shown
    assert s == 422 and "problems" not in out and h["x-request-id"] in out["error"] and "'x'" not in out["error"], out
    time.sleep(0.2)
    assert f"request {h['x-request-id']} to sleepy refused (422): a: kind: expected float" in server.logs()


def test_auth(ws, server):
    k, url = ws.test_keys, server.url + "/models/churn/predict"
    assert call(url, [ROW])[0] == 401
    assert call(url, [ROW], key="mlw_000000000000_" + "x" * 43)[0] == 401
    s, out, _ = call(url, [ROW], key=k["feedback"])
    assert s == 403 and "scope 'predict'" in out["error"]
    s, out, _ = call(server.url + "/models/nulls/predict", {"n": [1], "b": [True], "x": [0.0]}, key=k["churn-only"])
    assert s == 403 and "may not use model 'nulls'" in out["error"]
    assert call(url, [ROW], headers={"x-api-key": k["churn-only"]})[0] == 200
    assert call(url, [ROW], key=k["admin"])[0] == 200
    new = create_key(ws.store, "temp")
    deadline = time.time() + 5
    while call(url, [ROW], key=new.token)[0] != 200: assert time.time() < deadline; time.sleep(0.1)
    revoke_key(ws.store, "temp", reason="test")
    t0 = time.time()
    while call(url, [ROW], key=new.token)[0] != 401: assert time.time() - t0 < 3, "revoked key still accepted"; time.sleep(0.05)
    assert new.token.split("_", 2)[2] not in server.logs()


def test_metrics_and_docs(server, key):
    call(server.url + "/models/churn/predict", [ROW], key)
    s, text, _ = call(server.url + "/metrics")
    assert s == 200 and 'mlwork_requests_total{code="200",model="churn",protocol="predict"}' in text
    assert "mlwork_request_seconds_bucket" in text and 'mlwork_model_version{model="churn"' in text
    assert len({l.split('pid="')[1].split('"')[0] for l in text.splitlines() if l.startswith("mlwork_model_version{")}) == 2
    s, doc, _ = call(server.url + "/openapi.json")
    row = doc["paths"]["/models/churn/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]["anyOf"][0]["items"]
    assert row["properties"]["contract"]["enum"] == ["month-to-month", "one-year", "two-year"] and "age" in row["required"]
    assert call(server.url + "/docs")[0] == 200


def test_schemathesis(server, ws):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    headers = {"authorization": f"Bearer {ws.test_keys['admin']}"}
    ran = 0
    for result in schema.get_all_operations():
        op = result.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=op.as_strategy())
        def check(case):
            if "/sleepy/" in case.path:     # this model always outlives its 0.05 s timeout: a valid row gets the 504 it should
                r = case.call(headers=headers)
                assert r.status_code < 500 or r.status_code == 504, (case.path, r.status_code, r.text[:500])
            else: case.call_and_validate(headers=headers, checks=[not_a_server_error])
        check()
        ran += 1
    assert ran >= 10


def test_reload_under_load(ws, server, key):
    v1, v2, v3 = ws.test["v"]
    feats = [c for c in ROW if c not in ("customer_id", "period")]
    expect = {v: m.predict_proba(pd.DataFrame([{f: ROW[f] for f in feats}]))[0].tolist() for v, m in zip((v1, v2), ws.test["models"])}
    assert abs(expect[v1][1] - expect[v2][1]) > 1e-6
    seen, failures, stop = [], [], threading.Event()

    def load():
        while not stop.is_set():
            try:
                s, out, h = call(server.url + "/models/churn/predict", [ROW], key, timeout=10)
                if s != 200: failures.append((s, out)); continue
                seen.append((time.time(), out["version"], int(h["x-model-version"]), out["probabilities"][0]))
            except Exception as e: failures.append(repr(e))

    def wait_for(version, since, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            recent = [v for t, v, _, _ in seen if t > since + 1.0]
            if len(recent) >= 20 and all(v == version for v in recent[-20:]): return
            time.sleep(0.1)
        raise AssertionError(f"v{version} not serving after {timeout}s: {[v for _, v, _, _ in seen[-30:]]}")

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads: t.start()
    try:
        time.sleep(0.5)
        t0 = time.time(); ws.registry.promote("churn", v2, reason="test: reload"); wait_for(v2, t0)
        t1 = time.time(); ws.registry.rollback("churn", reason="test: back"); wait_for(v1, t1)
        # a version that cannot load (an untrusted pickle): the old one keeps serving, and the refusal is recorded
        t2 = time.time(); ws.registry.promote("churn", v3, reason="test: cannot load", gates=[])
        end = time.time() + 10
        while not [e for e in audit.events(ws.store, model="churn", actions="serve_load_failed") if e["version"] == v3]:
            assert time.time() < end, "no serve_load_failed event"; time.sleep(0.1)
        time.sleep(0.5)
        assert all(v == v1 for t, v, _, _ in seen if t > t2)
        ws.registry.rollback("churn", reason="test: away from the broken version")
    finally:
        stop.set()
        for t in threads: t.join()
    assert not failures, failures[:5]
    assert len(seen) > 50
    for _, v, hv, proba in seen:                     # each answer wholly from the version it names
        assert v == hv and max(abs(a - b) for a, b in zip(proba, expect[v])) < 1e-9


def test_sigterm_drains(ws, key):
    h = serve_in_background(ws, "slow@1", workers=1)
    body = json.dumps({"a": list(np.linspace(-1, 1, 1500)), "c": [0.0] * 1500}).encode()
    s, out, _ = call(h.url + "/models/slow/predict", body, key)
    assert s == 200, out
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(call, h.url + "/models/slow/predict", body, key) for _ in range(4)]
        time.sleep(0.15)
        h.proc.send_signal(signal.SIGTERM)
        results = [f.result() for f in futures]
    assert [r[0] for r in results] == [200] * 4, [r[1] for r in results if r[0] != 200]
    assert h.proc.wait(20) in (0, -signal.SIGTERM)
    with pytest.raises(urllib.error.URLError): call(h.url + "/health", timeout=2)


def test_no_auth_and_servers(ws):
    from mlwork.serve import check_host, serve_cli
    from mlwork.serving import list_servers
    from click.testing import CliRunner
    with pytest.raises(mw.errors.MlworkError, match="Refusing --no-auth"): check_host("0.0.0.0", auth=False)
    r = CliRunner().invoke(serve_cli, ["-w", str(ws.root), "churn@production", "--host", "0.0.0.0", "--no-auth"])
    assert r.exit_code != 0 and "Refusing --no-auth" in r.output
    with serve_in_background(ws, "nulls@production", auth=False) as h:
        assert call(h.url + "/models/nulls/predict", {"n": [1], "b": [True], "x": [0.0]})[0] == 200
        assert h.url in set(list_servers(ws.store).url)
        r = CliRunner().invoke(serve_cli, ["-w", str(ws.root), "ls"])
        assert r.exit_code == 0 and h.url in r.output and "nulls@production (v1)" in r.output
    r = CliRunner().invoke(serve_cli, ["-w", str(ws.root), "keys", "create", "cli-key", "--models", "churn", "--expires", "30d"])
    assert r.exit_code == 0 and "mlw_" in r.output, r.output
    token = [l for l in r.output.splitlines() if l.startswith("mlw_")][0]
    r = CliRunner().invoke(serve_cli, ["-w", str(ws.root), "keys", "ls"])
    assert "cli-key" in r.output and token not in r.output and token.split("_", 2)[2] not in r.output
    r = CliRunner().invoke(serve_cli, ["-w", str(ws.root), "keys", "revoke", "cli-key"])
    assert r.exit_code == 0 and "Revoked" in r.output
