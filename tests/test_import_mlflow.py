"""Importing a real MLflow store (issue 19): what MLflow shows is what mlwork shows, value by value.

MLflow (3.17.2) runs in its own virtualenv, bench/.venv-mlflow (`make .venv/.mlflow` creates it; this test runs
that target when the venv is missing). A script in that venv writes a small store with nested runs, metric
histories, artifacts, a logged dataset, a RUNNING run, a deleted run, and a registered model with two versions
(skops and cloudpickle), an alias and tags (of experiments, the model and its versions), then dumps what MLflow's own client reads back as JSON. The test imports
the store into a fresh workspace and compares.
"""
import json, math, os, shutil, signal, subprocess, sys, textwrap
from pathlib import Path
import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
MLFLOW_PY = ROOT / "bench" / ".venv-mlflow" / "bin" / "python"

MAKE_STORE = textwrap.dedent(r'''
import json, os, sys, time
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
import mlflow
from mlflow import MlflowClient
root = sys.argv[1]; os.chdir(root)
uri = f"sqlite:///{root}/mlflow.db"
mlflow.set_tracking_uri(uri)
from sklearn.linear_model import LogisticRegression
from sklearn.datasets import load_iris
X, y = load_iris(return_X_y=True, as_frame=True)
mlflow.set_experiment("imp-demo")
mlflow.set_experiment_tags({"team": "risk", "mlflow.note.content": "the demo experiment"})
os.makedirs("files/deep", exist_ok=True)
open("files/notes.txt", "w").write("hello")
open("files/deep/copy.txt", "w").write("hello")          # the same bytes: stored once by mlwork
open("files/other.txt", "w").write("other")
with mlflow.start_run(run_name="parent") as p:
    mlflow.log_params({"alpha": 0.5, "model": "lr", "n": 10})
    for s in range(5): mlflow.log_metric("loss", 1.0 / (s + 1), step=s)
    mlflow.set_tags({"team": "a", "mlflow.source.git.commit": "0123456789abcdef0123456789abcdef01234567"})
    mlflow.log_artifact("files/notes.txt"); mlflow.log_artifacts("files/deep", "sub"); mlflow.log_artifact("files/other.txt", "sub")
    mlflow.log_input(mlflow.data.from_pandas(X.head(20), source="iris.csv", name="iris"), context="training")
    with mlflow.start_run(run_name="child", nested=True) as c:
        for s in range(3): mlflow.log_metric("acc", 0.8 + s / 100, step=s)
        mlflow.log_metric("acc_nan", float("nan"), step=0)
        clf = LogisticRegression(max_iter=300).fit(X, y)
        mlflow.sklearn.log_model(clf, name="model", registered_model_name="iris", pip_requirements=[], input_example=X.head(2))
    clf2 = LogisticRegression(max_iter=300, C=0.1).fit(X, y)
    mlflow.sklearn.log_model(clf2, name="model", registered_model_name="iris", serialization_format="cloudpickle",
                             pip_requirements=[])
cl = MlflowClient()
running = cl.create_run(p.info.experiment_id, run_name="still-running").info.run_id
cl.log_metric(running, "loss", 3.0, step=0)
gone = cl.create_run(p.info.experiment_id, run_name="deleted").info.run_id
cl.set_terminated(gone); cl.delete_run(gone)
other = mlflow.create_experiment("other", tags={"owner": "bob"})
with mlflow.start_run(experiment_id=other, run_name="lonely"):
    mlflow.log_param("x", "1")
cl.set_registered_model_alias("iris", "champion", 1)
cl.set_model_version_tag("iris", "1", "validated", "yes")
cl.update_registered_model("iris", description="iris classifier")
cl.set_registered_model_tag("iris", "owner", "ann")
cl.update_model_version("iris", "2", description="smaller C")
cl.set_model_version_tag("iris", "2", "validated", "no")
cl.set_model_version_tag("iris", "2", "note", "pickled")

def listing(run_id, path=None):
    out = []
    for f in cl.list_artifacts(run_id, path):
        out += listing(run_id, f.path) if f.is_dir else [f.path]
    return out
runs = []
for r in cl.search_runs([p.info.experiment_id, other], run_view_type=1):
    i = r.info
    hist = {k: [[m.step, m.timestamp, None if m.value != m.value else m.value] for m in cl.get_metric_history(i.run_id, k)]
            for k in r.data.metrics}
    runs.append(dict(id=i.run_id, name=i.run_name, status=i.status, start=i.start_time, end=i.end_time, params=r.data.params,
                     tags=r.data.tags, latest={k: None if v != v else v for k, v in r.data.metrics.items()}, history=hist,
                     artifacts=sorted(listing(i.run_id))))
reg = cl.get_registered_model("iris")
vers = [dict(version=int(v.version), run_id=v.run_id, description=v.description, tags=v.tags, source=v.source)
        for v in cl.search_model_versions("name='iris'")]
champ = mlflow.sklearn.load_model("models:/iris@champion")
v2 = mlflow.sklearn.load_model("models:/iris/2")
experiments = {e.name: e.tags for e in cl.search_experiments()}
json.dump(dict(uri=uri, running=running, deleted=gone, runs=runs, experiments=experiments,
               registry=dict(description=reg.description, tags=reg.tags, aliases=reg.aliases, versions=vers),
               champion=champ.predict_proba(X.head(5)).tolist(), v2=v2.predict_proba(X.head(5)).tolist(),
               X=X.head(5).to_dict(orient="split")), open(f"{root}/expected.json", "w"))
''')


def _mlflow_python() -> Path:
    if not MLFLOW_PY.exists():
        if shutil.which("make") is None: pytest.skip("bench/.venv-mlflow is missing and make is not installed")
        subprocess.run(["make", "-s", ".venv/.mlflow"], cwd=ROOT, check=True, timeout=1200)
    return MLFLOW_PY


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    (root / "make.py").write_text(MAKE_STORE)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    subprocess.run([str(_mlflow_python()), str(root / "make.py"), str(root)], check=True, timeout=600, env=env,
                   capture_output=True)
    return root, json.loads((root / "expected.json").read_text())


@pytest.fixture
def ws(tmp_path):
    import mlwork as mw
    w = mw.Workspace.init(tmp_path / "ws")
    yield w
    w.close()


def _counts(ws):
    from mlwork import store as S
    with ws.store.transaction(write=False) as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                for t in (S.experiments, S.runs, S.params, S.metrics, S.tags, S.artifacts, S.model_versions, S.aliases,
                          S.alias_history, S.events, S.dataset_versions, S.run_datasets, S.experiment_tags, S.model_tags,
                          S.model_version_tags)}


def _experiment_tags(ws) -> dict:
    "{experiment name: {key: value}} as mlwork stores them."
    from mlwork import store as S
    out = {}
    with ws.store.transaction(write=False) as conn:
        for name, k, v in conn.execute(sa.select(S.experiments.c.name, S.experiment_tags.c.key, S.experiment_tags.c.value)
                                       .join(S.experiment_tags, S.experiment_tags.c.experiment_id == S.experiments.c.id)):
            out.setdefault(name, {})[k] = v
    return out


def test_runs_match_mlflow(mlflow_store, ws):
    from mlwork.importers import import_mlflow, IMPORT_HOST
    from mlwork.tracking import reap_dead_runs
    root, exp = mlflow_store
    s = import_mlflow(ws, exp["uri"])
    assert s.runs == len(exp["runs"]) == 4, s
    assert s.skipped.get("run deleted in MLflow") == 1
    for r in exp["runs"]:
        run = ws.get_run(r["id"])                                   # the same id as in MLflow
        assert (run.name, run.status) == (r["name"], r["status"])
        assert run.start_time == r["start"] / 1000
        assert run.end_time == (r["end"] / 1000 if r["end"] else None)
        assert run.params == r["params"]
        mine = {k: v for k, v in run.tags.items() if not k.startswith("mlwork.")}
        assert mine == r["tags"]
        assert run.parent_id == r["tags"].get("mlflow.parentRunId")
        assert run.info["code_commit"] == r["tags"].get("mlflow.source.git.commit")
        assert run.info["code_path"] == r["tags"].get("mlflow.source.name")
        assert run.info["host"] == IMPORT_HOST
        h = ws.metric_history([r["id"]])
        for key, values in r["history"].items():
            got = h[h.key == key]
            assert got.step.tolist() == [v[0] for v in values]
            assert [round(t.timestamp() * 1000) for t in got.timestamp] == [v[1] for v in values]
            assert [None if math.isnan(v) else v for v in got.value] == [v[2] for v in values]
        theirs = [p for p in run.artifacts().path if not p.startswith(("models/", "mlflow_models/"))]   # + converted models
        assert sorted(theirs) == r["artifacts"]
    # the runs query shows MLflow's latest values and params
    df = ws.runs("imp-demo").set_index("run_id")
    for r in exp["runs"]:
        if r["id"] not in df.index: continue
        for k, v in r["latest"].items():
            got = df.loc[r["id"], f"metrics.{k}"]
            assert (v is None and math.isnan(got)) or got == v, (k, got, v)
    # ... and so does the ExperimentBrowser (mw.compare)
    import mlwork as mw
    shown = mw.compare(ws, "imp-demo")._df.set_index("run_id")
    for r in exp["runs"]:
        if r["id"] not in df.index: continue
        assert shown.loc[r["id"], "status"] == r["status"]
        for k, v in r["latest"].items():
            got = shown.loc[r["id"], f"metrics.{k}"]
            assert (v is None and math.isnan(got)) or got == v, (k, got, v)
    parent = next(r for r in exp["runs"] if r["name"] == "parent")
    assert df.loc[parent["id"], "params.alpha"] == 0.5 and df.loc[parent["id"], "params.model"] == "lr"
    # identical files are one blob
    arts = ws.get_run(parent["id"]).artifacts().set_index("path")
    assert arts.loc["notes.txt", "digest"] == arts.loc["sub/copy.txt", "digest"] != arts.loc["sub/other.txt", "digest"]
    assert ws.get_run(parent["id"]).load_artifact("sub/copy.txt") == b"hello"
    # the logged dataset is lineage of the parent run
    ds = ws.get_run(parent["id"]).datasets()
    assert ds.dataset.tolist() == ["iris"] and ds.role.tolist() == ["train"]
    dv = ws.datasets.get("iris@1")
    assert dv.rows == 20 and "iris.csv" in dv.description and list(dv.schema.columns)[0] == "sepal length (cm)"
    # the run MLflow shows as RUNNING stays RUNNING: no mlwork process owns it
    assert ws.get_run(exp["running"]).status == "RUNNING"
    assert exp["running"] not in reap_dead_runs(ws.store)
    with pytest.raises(Exception): ws.get_run(exp["deleted"])
    # every imported experiment has MLflow's tags, value by value (its note is also its description)
    imported = set(ws.experiments().experiment)
    assert imported == {"imp-demo", "other"}
    assert _experiment_tags(ws) == {name: exp["experiments"][name] for name in imported}
    assert exp["experiments"]["imp-demo"]["team"] == "risk" and exp["experiments"]["other"] == {"owner": "bob"}
    from mlwork import store as S
    with ws.store.transaction(write=False) as conn:
        assert conn.execute(sa.select(S.experiments.c.description).where(S.experiments.c.name == "imp-demo")).scalar() \
            == "the demo experiment"


def test_registry_and_load_by_alias(mlflow_store, ws):
    import numpy as np, pandas as pd
    from mlwork.importers import import_mlflow
    from mlwork import audit
    root, exp = mlflow_store
    s = import_mlflow(ws, exp["uri"], registry=True)
    reg = exp["registry"]
    assert (s.models, s.versions, s.aliases) == (1, 2, 1), s
    assert any("trust_pickle=True" in r for r in s.skipped)          # version 2 is a cloudpickle
    vs = ws.registry.versions("iris").set_index("version")
    for v in reg["versions"]:
        assert vs.loc[v["version"], "run_id"] == v["run_id"]
        d = vs.loc[v["version"], "description"]
        assert (None if pd.isna(d) else d) == (v["description"] or None)
    assert ws.registry.resolve("iris@champion").version == reg["aliases"]["champion"]
    X = pd.DataFrame(**exp["X"])
    got = ws.load_model("iris@champion").predict_proba(X)
    np.testing.assert_allclose(got, exp["champion"], rtol=0, atol=1e-12)
    assert list(ws.model_info("iris@champion").schema.columns) == list(X.columns)    # MLflow's signature
    with pytest.raises(Exception): ws.load_model("iris@2")           # not imported without trust_pickle
    hist = ws.registry.history("iris")
    first = hist[hist.alias == "champion"].iloc[0]
    assert first.action == "imported" and "mlflow sqlite:///" in first.reason
    # the tags of the model and of each version, value by value, through the registry
    assert ws.registry.tags("iris") == reg["tags"] == {"owner": "ann"}
    for v in reg["versions"]: assert ws.registry.tags(f"iris@{v['version']}") == v["tags"], v
    assert ws.registry.tags("iris@champion") == {"validated": "yes"}
    ev = {e["version"]: e for e in audit.events(ws.store, model="iris", actions="imported") if e["alias"] is None}
    assert ev[None]["details"]["mlflow_tags"] == reg["tags"] and ev[None]["details"]["description"] == reg["description"]
    assert ev[1]["details"]["mlflow_tags"] == next(v["tags"] for v in reg["versions"] if v["version"] == 1)
    from mlwork import store as S
    with ws.store.transaction(write=False) as conn:
        row = conn.execute(sa.select(S.alias_history.c.event_id).where(S.alias_history.c.alias == "champion")).first()
        assert conn.execute(sa.select(S.events.c.action).where(S.events.c.id == row[0])).scalar() == "imported"
    # with trust_pickle the pickled version comes across, re-saved with skops, and the trust is audited
    s2 = import_mlflow(ws, exp["uri"], registry=True, trust_pickle=True)
    assert s2.runs == 0 and s2.versions == 0
    np.testing.assert_allclose(ws.load_model("iris@2").predict_proba(X), exp["v2"], rtol=0, atol=1e-12)
    assert ws.model_info("iris@2").format == "skops"
    trust = audit.events(ws.store, actions="import_trust_pickle")
    assert len(trust) == 1 and trust[0]["details"]["saved_as"] == "skops"


def test_import_twice_and_resume(mlflow_store, ws):
    from mlwork.importers import import_mlflow
    root, exp = mlflow_store
    calls = []
    def boom(done, total, what):
        calls.append(done)
        if done == 2: raise KeyboardInterrupt("interrupted")
    with pytest.raises(KeyboardInterrupt): import_mlflow(ws, exp["uri"], batch=2, progress=boom)
    with ws.store.transaction(write=False) as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 2     # one whole batch
    s = import_mlflow(ws, exp["uri"], registry=True, trust_pickle=True)
    assert s.runs == 2 and s.skipped["run already imported"] == 2
    before = _counts(ws)
    again = import_mlflow(ws, exp["uri"], registry=True, trust_pickle=True)
    assert _counts(ws) == before                                      # nothing twice
    assert (again.runs, again.versions, again.aliases, again.logged_models, again.tags) == (0, 0, 0, 0, 0)
    # a store imported before the tag tables existed (revision 0006) gets them on the next import; mlwork's own win
    from mlwork import store as S
    with ws.store.transaction() as conn:
        for t in (S.experiment_tags, S.model_tags, S.model_version_tags): conn.execute(t.delete())
    ws.registry.set_tag("iris", "owner", "carol", reason="mlwork's own value")
    fill = import_mlflow(ws, exp["uri"], registry=True)
    assert fill.tags == before["experiment_tags"] + before["model_tags"] + before["model_version_tags"] - 1
    assert ws.registry.tags("iris") == {"owner": "carol"} and ws.registry.tags("iris@1") == {"validated": "yes"}


def test_only_named_experiments_and_cli(mlflow_store, ws):
    from click.testing import CliRunner
    from mlwork.importers import import_cli
    root, exp = mlflow_store
    res = CliRunner().invoke(import_cli, ["mlflow", "--tracking-uri", exp["uri"], "--experiment", "other"], obj={"ws": ws})
    assert res.exit_code == 0, res.output
    assert "runs: 1" in res.output
    assert ws.experiments().experiment.tolist() == ["other"]
    res = CliRunner().invoke(import_cli, ["mlflow", "--tracking-uri", exp["uri"], "--experiment", "nope"], obj={"ws": ws})
    assert res.exit_code != 0 and "no such MLflow experiment" in res.output
    res = CliRunner().invoke(import_cli, ["mlflow", "--tracking-uri", exp["uri"]], obj={"path": str(ws.root)})
    assert res.exit_code == 0, res.output                             # opens the workspace from its settings
    assert "runs: 3" in res.output and "run already imported" in res.output


CLIENT = textwrap.dedent(r'''
import json, site, sys
sys.path.insert(0, sys.argv[1])                      # mlwork from the checkout; what the MLflow venv lacks
sys.path += site.getsitepackages() + [sys.argv[2]]   # (fastcore, fsspec, psutil) from mlwork's venv, after its own
import pandas as pd, numpy as np
import mlwork as mw
from mlwork.importers import import_mlflow, ClientSource
uri, out = sys.argv[3], sys.argv[4]
server = sys.argv[5] if len(sys.argv) > 5 else None     # a running `mlflow server` on the same store
res = {}
for how in ("client", "database") + (("server",) if server else ()):
    ws = mw.Workspace.init(f"{out}/{how}")
    source = {"client": lambda: ClientSource(uri), "database": lambda: uri, "server": lambda: server}[how]()
    s = import_mlflow(ws, source, registry=True, trust_pickle=True)
    df = ws.runs().sort_values("run_id")
    rows = lambda frame: json.loads(frame.to_json(orient="records", date_format="iso"))   # NaN -> null
    res[how] = dict(counts=[s.experiments, s.runs, s.params, s.metrics, s.tags, s.artifacts, s.datasets, s.logged_models,
                            s.models, s.versions, s.aliases],
                    runs=rows(df.drop(columns=["duration"])), history=rows(ws.metric_history(df.run_id.tolist())),
                    registry=rows(ws.registry.versions("iris").drop(columns=["created"])),
                    tags=[ws.registry.tags(r) for r in ("iris", "iris@1", "iris@2")],
                    champion=(lambda m: m.predict_proba(pd.DataFrame(np.eye(4), columns=m.feature_names_in_)).tolist())(
                        ws.load_model("iris@champion")))
    ws.close()
json.dump(res, open(f"{out}/client.json", "w"))
''')


def test_client_path_matches_database_path(mlflow_store, tmp_path):
    """The tracking-server path imports what the direct database path imports: through MLflow's client on the store, and
    through a real `mlflow server` process on 127.0.0.1 (http://…), both run in MLflow's venv."""
    import site, socket, time, urllib.request
    root, exp = mlflow_store
    (tmp_path / "client.py").write_text(CLIENT)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLWORK_USER": "test"}
    srv = subprocess.Popen([str(MLFLOW_PY.parent / "mlflow"), "server", "--backend-store-uri", exp["uri"], "--host", "127.0.0.1",
                            "--port", str(port), "--workers", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.time() + 90
        while True:
            assert srv.poll() is None, srv.stderr.read().decode()[-3000:]
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                    if resp.status == 200: break
            except OSError: pass
            assert time.time() < end, "mlflow server not up after 90 s"
            time.sleep(0.5)
        r = subprocess.run([str(MLFLOW_PY), str(tmp_path / "client.py"), str(ROOT), site.getsitepackages()[0], exp["uri"],
                            str(tmp_path), url], capture_output=True, text=True, timeout=600, env=env)
    finally:
        os.killpg(srv.pid, signal.SIGTERM); srv.wait(30)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "client.json").read_text())
    d = res["database"]
    src = "tags.mlwork.import.source"
    assert {r[src] for r in res["server"]["runs"]} == {f"mlflow:{url}"}       # each run names where it came from
    for how in ("client", "server"):
        c = res[how]
        assert c["counts"] == d["counts"], how
        if how == "server":
            for r in c["runs"] + d["runs"]: r.pop(src)
        for k in ("runs", "history", "registry", "tags", "champion"): assert c[k] == d[k], (how, k)


MLFLOW_TABLES = ["experiments", "experiment_tags", "runs", "params", "metrics", "latest_metrics", "tags", "datasets", "inputs",
                 "input_tags", "logged_models", "registered_models", "model_versions", "registered_model_tags",
                 "model_version_tags", "registered_model_aliases"]


def _copy_tables(src_uri:str, dst_url:str):
    "MLflow's tables (columns and rows; no constraints) copied from the SQLite store to another database."
    se, de = sa.create_engine(src_uri), sa.create_engine(dst_url)
    meta, out = sa.MetaData(), sa.MetaData()
    meta.reflect(se, only=MLFLOW_TABLES, resolve_fks=False)
    for t in meta.sorted_tables: sa.Table(t.name, out, *[sa.Column(c.name, c.type) for c in t.columns])
    out.create_all(de)
    with se.connect() as s, de.begin() as d:
        for t in meta.sorted_tables:
            rows = [dict(r._mapping) for r in s.execute(t.select())]
            if rows: d.execute(out.tables[t.name].insert(), rows)
    se.dispose(); de.dispose()


def _snapshot(ws):
    rows = lambda frame: json.loads(frame.to_json(orient="records", date_format="iso"))   # NaN -> null
    df = ws.runs().sort_values("run_id").drop(columns=["duration", "tags.mlwork.import.source"])
    return dict(runs=rows(df), history=rows(ws.metric_history(df.run_id.tolist())),
                registry=rows(ws.registry.versions("iris").drop(columns=["created"])),
                tags=[ws.registry.tags(r) for r in ("iris", "iris@1", "iris@2")], experiment_tags=_experiment_tags(ws),
                champion=_predict(ws.load_model("iris@champion")))


def _predict(model) -> list:
    import numpy as np, pandas as pd
    return model.predict_proba(pd.DataFrame(np.eye(4), columns=model.feature_names_in_)).tolist()


def test_postgres_source_and_store(mlflow_store, ws, ws_root, pg_server, monkeypatch):
    "MLflow's tables on PostgreSQL, imported into a workspace whose store is PostgreSQL: the same as SQLite to SQLite."
    import uuid
    import mlwork as mw
    from mlwork.importers import import_mlflow
    root, exp = mlflow_store
    engine = sa.create_engine(f"{pg_server}/postgres", isolation_level="AUTOCOMMIT")
    names = ["t_" + uuid.uuid4().hex[:12] for _ in range(2)]
    with engine.connect() as conn:
        for n in names: conn.exec_driver_sql(f"CREATE DATABASE {n}")
    engine.dispose()
    _copy_tables(exp["uri"], f"{pg_server}/{names[0]}")
    monkeypatch.setenv("MLWORK_STORE", f"{pg_server}/{names[1]}")
    with mw.Workspace.open(ws_root) as pg:
        assert pg.store.dialect == "postgresql"
        s = import_mlflow(pg, f"{pg_server}/{names[0]}", registry=True, trust_pickle=True)
        assert s.runs == 4 and s.versions == 2, s
        import_mlflow(ws, exp["uri"], registry=True, trust_pickle=True)
        assert _snapshot(pg) == _snapshot(ws)
        assert import_mlflow(pg, f"{pg_server}/{names[0]}", registry=True).runs == 0
