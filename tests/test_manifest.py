"""Manifest dataset versions (a Parquet folder or glob pinned by its files' digests, not copied) and the score job
over a Parquet glob (partitioned output, one part per input file), on real files and a real papermill kernel; the
glob larger than a worker's memory limit is scored on a 2-worker local Dask cluster (issue 15)."""
import json, os, subprocess, sys, time
from pathlib import Path
import nbformat
import numpy as np, pandas as pd
import pytest
from mlwork.workspace import Workspace
from mlwork.datasets import ManifestError
from conftest import clean_env

PAPERMILL = str(Path(sys.executable).parent / "papermill")
FEATURES = [f"x{j}" for j in range(10)]


def papermill(ws_root, name, out, timeout=600, check=True, **params):
    args = [PAPERMILL, str(ws_root / "jobs" / f"{name}.ipynb"), str(out), "-k", "mlwork", "--cwd", str(ws_root),
            "--no-progress-bar"]
    for k, v in params.items(): args += ["-p", k, str(v)]
    res = subprocess.run(args, env=clean_env(), capture_output=True, text=True, timeout=timeout)
    if check: assert res.returncode == 0, res.stderr[-3000:]
    return res


def frame(rows, seed, start=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, len(FEATURES)))
    return pd.DataFrame(X, columns=FEATURES).assign(customer_id=np.arange(start, start + rows, dtype="int64"),
                                                    plan=rng.choice(["basic", "pro"], rows))


def write_parts(folder, n_files, rows, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        frame(rows, seed * 1000 + i, start=i * rows).to_parquet(folder / f"part-{i}.parquet", index=False)
    return sorted(folder.glob("*.parquet"))


def trained_model(ws):
    "A logistic regression on x0..x9, logged by a run: the run id."
    from sklearn.linear_model import LogisticRegression
    df = frame(3000, 99)
    y = (df.x0 + 0.5 * df.x1 + np.random.default_rng(1).normal(size=len(df)) > 0).astype(int)
    clf = LogisticRegression().fit(df[FEATURES], y)
    with ws.start_run("manifest-train") as run:
        run.log_model(clf, signature=df[FEATURES])
    return run.id, clf


def test_manifest_version_pins_files_and_detects_a_changed_file(tmp_path):
    files = write_parts(tmp_path / "data", 3, 2000)
    with Workspace.init(str(tmp_path / "ws")) as ws:
        v = ws.datasets.log(str(tmp_path / "data"), "sales", id="customer_id")              # a folder
        assert v.is_manifest and v.version == 1 and v.rows == 6000 and v.n_columns == 12
        man = v.manifest()
        assert [Path(f["path"]).name for f in man["files"]] == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
        assert all(f["size"] == p.stat().st_size and len(f["sha256"]) == 64 for f, p in zip(man["files"], files))
        blobs = [p for p in (tmp_path / "ws" / ".mlwork" / "artifacts").rglob("*") if p.is_file()]
        assert blobs and not any(p.read_bytes()[:4] == b"PAR1" for p in blobs)   # no copy of the data in the artifact store
        # the same files again, as a folder or as a glob: the same version; a subset: a new one
        assert ws.datasets.log(tmp_path / "data", "sales").id == v.id
        assert ws.datasets.log(str(tmp_path / "data" / "*.parquet"), "sales").id == v.id
        sub = ws.datasets.log(str(tmp_path / "data" / "part-[01].parquet"), "sales")
        assert sub.version == 2 and sub.rows == 4000
        # schema and profile from every row (a sketch), drift reference stored
        whole = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        assert v.schema["x3"].min == whole.x3.min() and v.schema["x3"].max == whole.x3.max()
        assert v.schema["plan"].levels == ["basic", "pro"] and v.schema.role("id") == "customer_id"
        assert v.profile.rows == 6000 and abs(v.profile["x0"]["mean"] - whole.x0.mean()) < 1e-9
        assert v.reference().columns["customer_id"].kind == "skipped"
        assert v.load().equals(whole) and v.verify() == []
        # rewrite one file: verify names it, load and the file list refuse, with expected and found
        frame(2000, 7, start=2000).to_parquet(files[1], index=False)
        [change] = ws.datasets.get("sales@1").verify()
        assert (Path(change.file), change.problem) == (files[1], "changed")
        assert change.expected.startswith(f"{man['files'][1]['size']:,} bytes, sha256 {man['files'][1]['sha256'][:12]}")
        assert f"sha256 {man['files'][1]['sha256'][:12]}" not in change.found
        with pytest.raises(ManifestError, match=r"sales@1 no longer matches.*part-1\.parquet changed: expected"):
            ws.datasets.get("sales@1").load()
        with pytest.raises(ManifestError, match="part-1.parquet changed"): v.files()
        assert [c.problem for c in sub.verify()] == ["changed"]
        # a removed file and an added one
        files[0].unlink()
        frame(10, 8).to_parquet(tmp_path / "data" / "part-9.parquet", index=False)
        got = {(Path(c.file).name, c.problem) for c in v.verify()}
        assert got == {("part-0.parquet", "missing"), ("part-1.parquet", "changed"), ("part-9.parquet", "added")}
        # logging the folder as it is now is a new version, which verifies
        v3 = ws.datasets.log(str(tmp_path / "data"), "sales")
        assert v3.version == 3 and v3.verify() == [] and v3.rows == 4010


def test_score_job_over_a_parquet_glob_writes_one_part_per_file(ws_root, tmp_path):
    files = write_parts(tmp_path / "data", 4, 2500)
    with Workspace.open(ws_root) as ws:
        model_run, clf = trained_model(ws)
        ws.datasets.log(str(tmp_path / "data"), "sales")
    out = tmp_path / "pred"
    papermill(ws_root, "score", tmp_path / "score.ipynb", model_run=model_run, input=str(tmp_path / "data" / "*.parquet"),
              output=str(out), chunk_size=700, experiment="m-score")
    parts = sorted(out.iterdir())
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(4)]     # one output file per input file
    whole = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    expect = clf.predict_proba(whole[FEATURES])
    for f, p in zip(files, parts):                                                   # part i holds file i's rows, in order
        assert pd.read_parquet(p).customer_id.tolist() == pd.read_parquet(f).customer_id.tolist()
    pred = pd.read_parquet(out)
    assert list(pred.columns) == ["customer_id", "prediction", "probability"]
    assert np.allclose(pred.probability, expect[:, 1], rtol=0, atol=1e-12)
    assert (pred.prediction.to_numpy() == clf.classes_[expect.argmax(axis=1)]).all()
    # a manifest version as input, predictions into the run's artifacts
    papermill(ws_root, "score", tmp_path / "score2.ipynb", model_run=model_run, input="sales@1", output="",
              chunk_size=5000, experiment="m-score")
    with Workspace.open(ws_root) as ws:
        runs = ws.runs("m-score", order_by="start_time")
        assert runs["metrics.rows"].tolist() == [10_000, 10_000] and runs["metrics.files"].tolist() == [4, 4]
        assert runs["params.output"].tolist() == [str(out), "artifacts: predictions/"]
        second = ws.get_run(runs.run_id.iloc[1])
        arts = set(second.artifacts().path)
        assert {f"predictions/part-{i:05d}.parquet" for i in range(4)} | {"predictions/parts.json"} <= arts
        assert [x["rows"] for x in json.loads(second.load_artifact("predictions/parts.json"))] == [2500] * 4


def test_parquet_glob_larger_than_worker_memory_is_scored(ws_root, tmp_path):
    """Ten Parquet files, ~630 MB in memory, scored by the score job on a 2-worker cluster limited to 600 MB per worker:
    no worker is restarted for memory (the nanny restarts one at 95% of its limit), one part per file, every row."""
    from dask.distributed import LocalCluster, Client
    t0 = time.perf_counter()
    files, rows = 10, 720_000
    import pyarrow as pa, pyarrow.parquet as pq
    (tmp_path / "big").mkdir()
    rng = np.random.default_rng(3)
    for i in range(files):                     # 10 float columns + an int64 id: 88 bytes a row in memory
        cols = {n: rng.standard_normal(rows) for n in FEATURES} | {"customer_id": np.arange(i * rows, (i + 1) * rows)}
        pq.write_table(pa.table(cols), tmp_path / "big" / f"part-{i}.parquet", compression="none")
    paths = sorted((tmp_path / "big").glob("*.parquet"))
    one = pd.read_parquet(paths[0])
    assert files * one.memory_usage(index=False, deep=True).sum() > 600e6
    with Workspace.open(ws_root) as ws:
        model_run, clf = trained_model(ws)
    t1 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="600MB", host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        t2 = time.perf_counter()
        papermill(ws_root, "score", tmp_path / "score.ipynb", model_run=model_run,
                  input=str(tmp_path / "big" / "*.parquet"), output=str(tmp_path / "pred"), chunk_size=100_000,
                  experiment="m-big", scheduler=cluster.scheduler_address)
        t3 = time.perf_counter()
        assert client.run(os.getpid) == pids                     # the same two worker processes: none ran out of memory
        ran = client.run(lambda dask_worker: len(dask_worker.state.tasks) + dask_worker.state.executed_count)
        assert sum(ran.values()) >= files                         # the work ran on the cluster's workers
    parts = sorted((tmp_path / "pred").iterdir())
    assert len(parts) == files
    first = pd.read_parquet(parts[0])
    assert first.customer_id.tolist() == one.customer_id.tolist()
    assert np.allclose(first.probability, clf.predict_proba(one[FEATURES])[:, 1], rtol=0, atol=1e-12)
    with Workspace.open(ws_root) as ws:
        run = ws.runs("m-big")
        assert run["metrics.rows"].tolist() == [files * rows] and run["params.scheduler"][0] == cluster.scheduler_address
    with Workspace.open(ws_root) as ws: scoring = ws.runs("m-big")["metrics.seconds"][0]
    print(f"630 MB scored on 2 workers of 600 MB: {time.perf_counter() - t0:.1f} s (data {t1 - t0:.1f} s, cluster "
          f"{t2 - t1:.1f} s, score job {t3 - t2:.1f} s of which scoring {scoring:.1f} s)")


def test_monitor_check_of_a_manifest_version_matches_in_memory_and_refuses_a_changed_file(tmp_path, monkeypatch):
    """A manifest version given to ws.monitor.check/drift goes through the partitioned path (files verified, then read
    partition by partition, never loaded whole): the in-memory verdicts, the version recorded; a changed file refused.
    A model trained on a manifest is compared with its stored sketch, its files not read."""
    import dask
    from mlwork.datasets import DatasetVersion
    from mlwork.monitor import example_model
    from test_partsketch import shuffled_parts, _same_verdicts
    ws = Workspace.init(str(tmp_path / "ws"))
    try:
        m1, _, drifted = example_model(ws, n_customers=3000)
        parts = shuffled_parts(drifted.drop(columns="churned"), 4, 7)
        (tmp_path / "cur").mkdir()
        for i, p in enumerate(parts): p.to_parquet(tmp_path / "cur" / f"part-{i}.parquet", index=False)
        dv = ws.datasets.log(str(tmp_path / "cur"), "scored", id="customer_id")
        assert dv.is_manifest and dv.rows == len(drifted)
        mem = ws.monitor.check("churn", pd.concat(parts, ignore_index=True))
        n_versions, n_reports = len(ws.datasets.versions("churn-monitored")), len(ws.monitor.stored("churn"))
        monkeypatch.setattr(DatasetVersion, "load", lambda self, *a, **k: pytest.fail(f"{self.ref} was loaded into memory"))
        with dask.config.set(scheduler="threads", num_workers=2):
            part = ws.monitor.check("churn", "scored@1")
            again = ws.monitor.check("churn", dv)                                    # a DatasetVersion, as the reference
            d = ws.monitor.drift("churn@1", "scored@1")
        _same_verdicts(mem, part)
        assert mem.dataset_drift and part.dataset_drift and part.drifted_columns
        assert [c.drifted for c in again.columns] == [c.drifted for c in part.columns]
        assert part.meta["current"] == "scored@1" and part.meta["partitioned"] and part.current_rows == len(drifted)
        assert abs(part.meta["estimated"]["accuracy"] - mem.meta["estimated"]["accuracy"]) < 1e-9
        assert abs(part.meta["estimated"]["roc_auc"] - mem.meta["estimated"]["roc_auc"]) < 1e-3
        stored = ws.monitor.stored("churn", limit=2)
        assert [s["current_id"] for s in stored] == [dv.id, dv.id] and stored[1]["id"] == part.meta["id"]
        assert stored[0]["reference_id"] == ws.datasets.get("churn@1").id and stored[1]["current"] == "scored@1"
        assert len(ws.datasets.versions("churn-monitored")) == n_versions         # no copy of the files
        assert (d.meta["current"], d.meta["current_id"], d.current_rows) == ("scored@1", dv.id, len(drifted))
        assert d.dataset_drift == mem.dataset_drift or d.meta["borderline"]
        from mlwork.monitor_report import drift_report_html                   # the HTML report charts a sample of the files
        page = drift_report_html(ws, part.meta["id"])
        for c in part.drifted_columns[:6]: assert f"{c}: " in page, c
        # a model trained on a manifest: its stored sketch is the reference (no row sample: no prediction drift test)
        (tmp_path / "train").mkdir()
        for i, p in enumerate(shuffled_parts(m1, 2, 3)): p.to_parquet(tmp_path / "train" / f"part-{i}.parquet", index=False)
        tdv = ws.datasets.log(str(tmp_path / "train"), "churn-files", target="churned", id="customer_id", time="period")
        with ws.start_run("churn-m") as run:
            run.use_dataset(tdv, role="train")
            run.log_model(ws.registry.load("churn@1"), signature=m1.drop(columns=["churned", "customer_id", "period"]).head(50))
        ws.registry.register(run, "churn-m")
        ws.registry.promote("churn-m", 1, reason="trained on files")
        for f in (tmp_path / "train").iterdir(): f.unlink()                      # the training files are not read again
        with dask.config.set(scheduler="threads", num_workers=2):
            fm = ws.monitor.check("churn-m", "scored@1")
        assert [c.drifted for c in fm.columns] == [c.drifted for c in part.columns] and fm.prediction is None
        assert fm.meta["reference_dataset"] == "churn-files@1" and ws.monitor.stored("churn-m")[0]["reference_id"] == tdv.id
        # a changed file: check and drift refuse it, naming the file; no report stored
        n_reports = len(ws.monitor.stored("churn"))
        parts[1].iloc[::-1].to_parquet(tmp_path / "cur" / "part-1.parquet", index=False)
        with pytest.raises(ManifestError, match=r"scored@1 no longer matches.*part-1\.parquet changed: expected"):
            ws.monitor.check("churn", "scored@1")
        with pytest.raises(ManifestError, match=r"part-1\.parquet changed"): ws.monitor.drift("churn@1", dv)
        assert len(ws.monitor.stored("churn")) == n_reports
    finally:
        ws.close()
