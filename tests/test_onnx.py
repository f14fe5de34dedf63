"""Issue 17: ONNX export checked for parity, and the standalone edge bundle.

Each demo pipeline (logistic regression, random forest, gradient boosting, built as the train job builds them) and a
ColumnTransformer with one-hot and scaling export and pass the parity gate; a refused pipeline names its step; the
bundle's runner, in a fresh virtual environment with only numpy and onnxruntime, predicts what the registry model
predicts; `mlwork models export` writes the bundle."""
import json, os, subprocess, sys, venv
from pathlib import Path
import numpy as np, pandas as pd
import pytest

pytest.importorskip("skl2onnx")
from conftest import mlwork_cli

FEATURES = ["tenure_months", "monthly_charges", "total_charges", "contract", "payment_method", "internet_service",
            "support_calls", "region", "age", "has_partner"]


def demo_pipeline(kind, X, n_estimators=60):
    "The train job's pipeline for `kind` (mlwork/jobs/train.ipynb), fewer trees to stay fast."
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    numeric = [c for c in X.columns if X[c].dtype.kind in "biuf"]
    categorical = [c for c in X.columns if c not in numeric]
    num = make_pipeline(SimpleImputer(strategy="median"), *([StandardScaler()] if kind == "logreg" else []))
    prep = ColumnTransformer([("num", num, numeric), ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])
    est = {"logreg": LogisticRegression(max_iter=2000),
           "random_forest": RandomForestClassifier(n_estimators=n_estimators, min_samples_leaf=5, random_state=0, n_jobs=1),
           "gradient_boosting": HistGradientBoostingClassifier(max_iter=100, random_state=0)}[kind]
    return make_pipeline(prep, est)


@pytest.fixture(scope="module")
def churn():
    from mlwork.synthetic import churn_pair
    from mlwork.synthetic import churn as month
    ref, cur = churn_pair(n_customers=3000, seed=0)
    return ref, cur


@pytest.mark.parametrize("kind", ["logreg", "random_forest", "gradient_boosting"])
def test_demo_pipelines_export_and_pass_parity(churn, kind):
    from mlwork.edge import export, DOUBLE_TOL, FLOAT_TOL
    ref, cur = churn
    cur = cur.copy()
    cur.loc[cur.index[:100], ["monthly_charges", "total_charges"]] = np.nan      # missing numbers are imputed
    model = demo_pipeline(kind, ref[FEATURES]).fit(ref[FEATURES], ref["churned"])
    ex = export(model, cur[FEATURES], data="churn month 2")
    p = ex.parity
    assert p.passed, p.detail
    assert p.rows == len(cur) and p.threshold == {"double": DOUBLE_TOL, "float": FLOAT_TOL}[p.precision]
    assert p.value <= p.threshold
    assert ex.signature["classes"] == [0, 1] and ex.opset["ai.onnx"] >= 13
    assert set(ex.converters) >= {"skl2onnx", "onnx", "onnxruntime", "scikit-learn"}
    rt = ex.runtime()
    assert np.abs(rt.predict_proba(cur[FEATURES]) - model.predict_proba(cur[FEATURES])).max() <= p.threshold
    if kind == "logreg": assert p.precision == "double"       # the linear model is exported in float64


def test_column_transformer_with_one_hot_and_scaling(churn):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from mlwork.edge import export
    ref, cur = churn
    cols = ["tenure_months", "age", "contract", "region"]
    model = make_pipeline(ColumnTransformer([("scale", StandardScaler(), ["tenure_months", "age"]),
                                             ("onehot", OneHotEncoder(handle_unknown="ignore"), ["contract", "region"])]),
                          LogisticRegression(max_iter=1000)).fit(ref[cols], ref["churned"])
    rows = cur[cols].copy()
    rows["region"] = rows["region"].astype(object)
    rows.loc[rows.index[:5], "region"] = "Atlantis"                  # unseen: all zeros, as in scikit-learn
    ex = export(model, rows)
    assert ex.parity.passed and ex.parity.precision == "double" and ex.parity.value <= 1e-5, ex.parity.detail
    cats = {s["name"]: s.get("categories") for s in ex.signature["inputs"]}
    assert cats["contract"] == sorted(map(str, ref.contract.cat.categories)) and cats["age"] is None


def test_refused_pipelines_name_their_step(churn):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from mlwork.edge import export, UnsupportedModel
    ref, _ = churn
    cols = ["tenure_months", "age"]
    model = make_pipeline(ColumnTransformer([("logs", FunctionTransformer(np.log1p), cols)]),
                          LogisticRegression()).fit(ref[cols], ref["churned"])
    with pytest.raises(UnsupportedModel, match="step 'columntransformer/logs' is a FunctionTransformer") as e:
        export(model, ref[cols])
    assert e.value.step == "columntransformer/logs" and "keeps serving with scikit-learn" in str(e.value)


@pytest.fixture(scope="session")
def edge_venv(tmp_path_factory):
    "A fresh virtual environment with only numpy and onnxruntime (no mlwork, scikit-learn or pandas)."
    d = tmp_path_factory.mktemp("edge-venv") / "venv"
    venv.EnvBuilder(with_pip=True).create(d)
    py = d / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "numpy", "onnxruntime"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    check = subprocess.run([str(py), "-c", "import importlib.util as u; print([m for m in ('sklearn', 'pandas', 'mlwork') if u.find_spec(m)])"],
                           capture_output=True, text=True, cwd=d.parent)
    assert check.stdout.strip() == "[]", check.stdout
    return py


@pytest.fixture(scope="module")
def edge_ws(tmp_path_factory, churn):
    "A workspace with the churn data and the demo's three models registered; the forest is production."
    from mlwork.workspace import Workspace
    ref, cur = churn
    ws = Workspace.init(tmp_path_factory.mktemp("edge-ws") / "ws")
    dv = ws.datasets.log(ref, "churn", target="churned", id="customer_id", time="period")
    ws.datasets.log(cur, "churn", target="churned", id="customer_id", time="period")
    for kind in ("logreg", "gradient_boosting", "random_forest"):
        with ws.start_run("edge") as run:
            run.use_dataset(dv, role="train")
            run.log_model(demo_pipeline(kind, ref[FEATURES]).fit(ref[FEATURES], ref["churned"]), signature=ref[FEATURES].head(200))
        ws.registry.register(run, "churn", description=kind)
    ws.registry.promote("churn", 3, reason="test: the forest")
    yield ws
    ws.close()


def test_bundle_runner_in_a_fresh_venv_predicts_like_the_registry(edge_ws, edge_venv, churn, tmp_path):
    ws = edge_ws
    res = mlwork_cli("models", "export", "churn@production", "--format", "onnx", "-o", tmp_path / "edge", "--sample", "churn@2",
                     cwd=ws.root)
    assert res.returncode == 0, res.stderr
    assert "parity PASSED" in res.stdout and "churn@2 (3,000 rows)" in res.stdout, res.stdout
    folder = tmp_path / "edge"
    assert sorted(p.name for p in folder.iterdir()) == ["MODEL_CARD.md", "model.onnx", "predict.py", "signature.json"]
    sig = json.loads((folder / "signature.json").read_text())
    assert sig["parity"]["passed"] and [s["name"] for s in sig["inputs"]] == FEATURES
    assert "churn version 3" in (folder / "MODEL_CARD.md").read_text()
    _, cur = churn
    rows = cur[FEATURES].head(300).copy()
    rows.loc[rows.index[:10], "monthly_charges"] = np.nan
    rows.to_csv(tmp_path / "rows.csv", index=False)
    json_rows = json.loads(rows.head(40).to_json(orient="records"))
    (tmp_path / "rows.json").write_text(json.dumps(json_rows))
    model = ws.registry.load("churn@production")
    want_p, want_l = model.predict_proba(rows)[:, 1], model.predict(rows)
    tol = sig["parity"]["threshold"]
    for src, n in (("rows.csv", 300), ("rows.json", 40)):
        out = subprocess.run([str(edge_venv), str(folder / "predict.py"), str(tmp_path / src)], capture_output=True, text=True,
                             cwd=tmp_path, env={"PATH": os.environ.get("PATH", "")})
        assert out.returncode == 0, out.stderr
        got = [json.loads(l) for l in out.stdout.splitlines()]
        assert [g["label"] for g in got] == want_l[:n].tolist()
        assert np.abs(np.array([g["probabilities"]["1"] for g in got]) - want_p[:n]).max() <= tol
    bad = [dict(json_rows[0], tenure_months="ten")]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    out = subprocess.run([str(edge_venv), str(folder / "predict.py"), str(tmp_path / "bad.json")], capture_output=True, text=True)
    assert out.returncode == 1 and "column 'tenure_months' expects a number, got 'ten'" in out.stderr
    # the registry recorded the export (table + audit) and serves it as an onnxruntime model
    da = ws.registry.derived("churn@production")
    assert da.passed and da.digest == sig["digest"] and da.gate.gate == "onnx_parity"
    rt = ws.registry.load_onnx("churn@production")
    assert np.abs(rt.predict_proba(rows)[:, 1] - want_p).max() <= tol
    assert ws.registry.history("churn").action.iloc[-1] == "export"


def test_registry_export_of_each_demo_model(edge_ws):
    for v in (1, 2, 3):
        da = edge_ws.registry.export(f"churn@{v}", max_rows=1000)
        assert da.passed and da.version == v, da.parity
        assert da.parity["data"] == "churn@1 (1,000 of 3,000 rows, sampled with seed 0)"


def test_onnx_runtime_serving_through_hot_reload(tmp_path, churn):
    """`--runtime onnx` answers from the parity-checked export, through alias moves with no failed request; a version the
    converter refuses is served by scikit-learn (an event says why); the prediction log and the heartbeat see both."""
    import threading, time, urllib.request
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from mlwork import audit
    from mlwork.predlog import window
    from mlwork.serving import served
    from mlwork.workspace import Workspace
    ref, cur = churn
    ws = Workspace.init(tmp_path / "ws")
    with open(ws.settings.file, "a") as f: f.write("\n[serving]\nreload_interval = 0.2\nheartbeat = 0.3\nlog_flush_seconds = 0.5\n")
    ws.close(); ws = Workspace.open(tmp_path / "ws")
    dv = ws.datasets.log(ref, "churn", target="churned", id="customer_id", time="period")
    models = {}
    refused = make_pipeline(ColumnTransformer([("logs", FunctionTransformer(np.log1p), ["tenure_months", "age"])]),
                            LogisticRegression())
    for kind, m in (("logreg", demo_pipeline("logreg", ref[FEATURES])), ("random_forest", demo_pipeline("random_forest", ref[FEATURES])),
                    ("refused", refused)):
        cols = ["tenure_months", "age"] if kind == "refused" else FEATURES
        m.fit(ref[cols], ref["churned"])
        with ws.start_run("onnx-serve") as run:
            run.use_dataset(dv, role="train"); run.log_model(m)
        models[ws.registry.register(run, "churn", description=kind).version] = (m, cols)
    ws.registry.promote("churn", 1, reason="test: logreg")
    rows = json.loads(cur[["customer_id"] + FEATURES].head(5).to_json(orient="records"))

    def ask(timeout=10):
        req = urllib.request.Request(h.url + "/models/churn/predict", json.dumps(rows).encode(), {"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r: return json.loads(r.read())

    seen, failures, stop = [], [], threading.Event()
    def load():
        while not stop.is_set():
            try: seen.append((time.time(), ask()))
            except Exception as e: failures.append(repr(e))

    def wait_for(version, since, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            recent = [o["version"] for t, o in seen if t > since]
            if len(recent) >= 10 and all(v == version for v in recent[-10:]): return
            time.sleep(0.1)
        raise AssertionError(f"v{version} not serving after {timeout}s: {[o['version'] for _, o in seen[-20:]]}")

    h = ws.serve("churn@production", auth=False, runtime="onnx")
    threads = [threading.Thread(target=load) for _ in range(2)]
    try:
        for t in threads: t.start()
        time.sleep(0.5)
        t0 = time.time(); ws.registry.promote("churn", 2, reason="test: the forest, exported on the way"); wait_for(2, t0)
        t1 = time.time(); ws.registry.promote("churn", 3, reason="test: not convertible", gates=[]); wait_for(3, t1)
        time.sleep(1.0)                                    # a heartbeat or two
        stats = served(ws.store, "churn")
    finally:
        stop.set()
        for t in threads: t.join()
        code = h.stop()
    assert code in (0, -15), h.logs()[-3000:]
    assert not failures, failures[:5]
    by_version = {}
    for _, o in seen: by_version.setdefault(o["version"], []).append(o)
    assert sorted(by_version) == [1, 2, 3], sorted(by_version)
    assert {o["runtime"] for o in by_version[1] + by_version[2]} == {"onnx"}
    assert {o["runtime"] for o in by_version[3]} == {"sklearn"}
    frame = pd.DataFrame(rows)
    for v, answers in by_version.items():                # each answer from the version it names, within the parity tolerance
        m, cols = models[v]
        want = m.predict_proba(frame[cols])
        got = np.array([o["probabilities"] for o in answers])
        assert np.abs(got - want[None]).max() <= 1e-4, (v, np.abs(got - want[None]).max())
        assert all(o["predictions"] == m.predict(frame[cols]).tolist() for o in answers)
    assert ws.registry.derived("churn@1").passed and ws.registry.derived("churn@2").passed
    ev = [e for e in audit.events(ws.store, model="churn", actions="serve_runtime_fallback") if e["version"] == 3]
    assert ev and "columntransformer/logs" in ev[0]["reason"] and "served by scikit-learn" in ev[0]["reason"], ev
    assert stats.version.tolist() == [3] and stats.runtime.tolist() == ["sklearn"] and stats.requests.iloc[0] > 0, stats
    logged = window(ws.store, ws.blobs, "churn", since=time.time() - 3600, on="request")
    assert set(logged["_version"]) == {1, 2, 3} and logged["_request_id"].nunique() == len(seen)
    ws.close()
