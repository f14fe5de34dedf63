"""Mergeable drift sketches (issue 15): merged sketches of shuffled partitions give the in-memory verdicts, scores
within the stated ε (borderline where a score is within ε of its threshold), from pandas pieces and from Parquet
through Dask."""
import numpy as np, pandas as pd, pytest
from mlwork.drift import drift, DriftDetector, drift_partitioned
from mlwork.partsketch import PartSketch, merge_all, sketch_partitioned, rank_error


def frames(n=60_000, seed=0):
    rng = np.random.default_rng(seed)
    def one(shift, miss, mix, scale):
        x = rng.normal(shift, 1, n)
        cat = rng.choice(["a", "b", "c", "d"], n, p=mix)
        heavy = rng.lognormal(0, 1, n) * scale
        holes = np.where(rng.random(n) < miss, np.nan, rng.normal(size=n))
        return pd.DataFrame({"x": x, "near": rng.normal(0.1 * shift, 1, n), "cat": cat, "heavy": heavy, "holes": holes,
                             "count": rng.poisson(4, n), "flag": rng.random(n) < 0.3,
                             "id": [f"u{i}" for i in rng.permutation(n)], "small": rng.integers(0, 3, n)})
    ref = one(0.0, 0.02, [0.4, 0.3, 0.2, 0.1], 1.0)
    same = one(0.0, 0.02, [0.4, 0.3, 0.2, 0.1], 1.0)
    drifted = one(1.0, 0.2, [0.1, 0.2, 0.3, 0.4], 1.5)
    return ref, same, drifted


def shuffled_parts(df, k, seed):
    d = df.sample(frac=1, random_state=seed)
    cuts = np.sort(np.random.default_rng(seed).choice(np.arange(1, len(d)), k - 1, replace=False))
    return [d.iloc[a:b] for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(d)])]


def agree(mem, sk):
    for m, s in zip(mem.columns, sk.columns):
        assert m.column == s.column and m.method == s.method and m.tested == s.tested, (m, s)
        if m.score is not None:
            eps = s.stats.get("epsilon", 0.0) if s.method in ("wasserstein", "ks") else 1e-9
            assert abs(m.score - s.score) <= max(eps, 1e-9), (m.column, m.score, s.score, eps)
        assert m.drifted == s.drifted or s.borderline, (m, s)
        assert m.missing_drift == s.missing_drift and m.category_drift == s.category_drift
    assert mem.dataset_drift == sk.dataset_drift or sk.meta["borderline"]


@pytest.mark.parametrize("which", ["same", "drifted"])
def test_shuffled_partitions_give_in_memory_verdicts(which):
    ref, same, drifted = frames()
    cur = same if which == "same" else drifted
    mem = drift(ref, cur)
    for seed in (1, 2):
        sk = merge_all(PartSketch.from_frame(p) for p in shuffled_parts(cur, 6, seed))
        rep = DriftDetector().fit(ref).score_sketch(sk)
        agree(mem, rep)
        # the reference from partitions too
        rsk = merge_all(PartSketch.from_frame(p) for p in shuffled_parts(ref, 4, seed + 10))
        agree(mem, DriftDetector().fit(rsk.reference()).score_sketch(sk))
    if which == "drifted":
        assert {"x", "cat", "holes", "heavy"} <= set(mem.drifted_columns) and mem.dataset_drift
    else: assert not mem.drifted_columns
    assert mem["id"].kind == "skipped" and rep["id"].kind == "skipped"


def test_epsilon_is_small_and_stated():
    ref, _, drifted = frames(seed=3)
    rep = drift_partitioned(ref, shuffled_parts(drifted, 5, 0))
    for c in rep.columns:
        if c.method == "wasserstein":     # a bound from the KLL rank error: tight for normal columns, looser for heavy tails
            assert c.stats["epsilon"] < (0.05 if c.column == "heavy" else 0.01), (c.column, c.stats)
    assert 0.0003 < rank_error() < 0.0004


def test_parquet_glob_through_dask(tmp_path):
    ref, _, drifted = frames(n=30_000, seed=4)
    for i, p in enumerate(shuffled_parts(drifted, 6, 5)): p.to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    import dask
    with dask.config.set(scheduler="threads", num_workers=2):
        rep = drift_partitioned(ref, str(tmp_path / "*.parquet"))
        sk = sketch_partitioned(str(tmp_path))
    assert rep.current_rows == sk.rows == len(drifted)
    agree(drift(ref, drifted), rep)


def _same_verdicts(mem, part):
    "A partitioned check (merged sketches) agrees with the in-memory one: per column, dataset and prediction verdicts."
    assert [c.column for c in part.columns] == [c.column for c in mem.columns]
    for m, s in zip(mem.columns, part.columns):
        assert m.method == s.method and m.tested == s.tested, (m, s)
        if m.score is not None:
            eps = s.stats.get("epsilon", 0.0) if s.method in ("wasserstein", "ks") else 1e-9
            assert abs(m.score - s.score) <= max(eps, 1e-9), (m.column, m.score, s.score, eps)
        assert m.drifted == s.drifted or s.borderline, (m, s)
    assert mem.dataset_drift == part.dataset_drift or part.meta["borderline"]
    assert (mem.prediction.drifted == part.prediction.drifted) or part.prediction.borderline


@pytest.mark.parametrize("which", ["quiet", "drifted"])
def test_monitor_check_of_a_parquet_glob_matches_in_memory(tmp_path, which):
    import dask
    from mlwork.workspace import Workspace
    from mlwork.monitor import example_model
    ws = Workspace.init(str(tmp_path / "ws"))
    _, quiet, drifted = example_model(ws, n_customers=3000)
    cur = (quiet if which == "quiet" else drifted).drop(columns="churned")
    parts = shuffled_parts(cur, 4, 7)
    (tmp_path / "cur").mkdir()
    for i, p in enumerate(parts): p.to_parquet(tmp_path / "cur" / f"part-{i}.parquet", index=False)
    versions = len(ws.datasets.versions("churn"))
    mem = ws.monitor.check("churn", pd.concat(parts, ignore_index=True))
    with dask.config.set(scheduler="threads", num_workers=2):
        part = ws.monitor.check("churn", str(tmp_path / "cur" / "*.parquet"))
    _same_verdicts(mem, part)
    assert mem.dataset_drift == (which == "drifted") == part.dataset_drift
    assert part.current_rows == len(cur) and part.meta["current"] == str(tmp_path / "cur" / "*.parquet")
    assert part.meta["partitioned"] and isinstance(part.meta["borderline"], list)
    assert abs(part.meta["estimated"]["accuracy"] - mem.meta["estimated"]["accuracy"]) < 1e-9
    assert abs(part.meta["estimated"]["roc_auc"] - mem.meta["estimated"]["roc_auc"]) < 1e-3
    stored = ws.monitor.stored("churn", limit=1)[0]
    assert stored["current_id"] is None and stored["current"] == part.meta["current"] and stored["id"] == part.meta["id"]
    assert len(ws.datasets.versions("churn")) == versions          # nothing versioned for the partitioned data
    from mlwork.monitor_report import drift_report_html               # the HTML report charts a sample of the files
    page = drift_report_html(ws, part.meta["id"])
    assert f"Drift report #{part.meta['id']}" in page and str(tmp_path / "cur") in page
    for c in part.drifted_columns[:6]: assert f"{c}: " in page, c
    if which == "drifted": assert part.drifted_columns
    # ws.monitor.drift takes the folder too (as a Path)
    from pathlib import Path
    with dask.config.set(scheduler="threads", num_workers=2):
        d = ws.monitor.drift("churn@1", Path(tmp_path / "cur"))
    assert d.meta["current"] == str(tmp_path / "cur") and d.current_rows == len(cur)
    assert d.dataset_drift == mem.dataset_drift or d.meta["borderline"]


def test_parquet_glob_larger_than_worker_memory_drifts(tmp_path):
    """Ten Parquet files, ~630 MB in memory, drift on a 2-worker cluster limited to 600 MB per worker: no worker is
    restarted for memory (the nanny restarts one at 95% of its limit), and the verdicts are those of the data."""
    import os, time
    from dask.distributed import LocalCluster, Client
    from mlwork.workspace import Workspace
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    rows, files, names = 720_000, 10, [f"x{j}" for j in range(10)]
    (tmp_path / "big").mkdir()
    for i in range(files):
        X = rng.normal(size=(rows, len(names)))
        X[:, 0] += 0.5                                            # one drifted column
        df = pd.DataFrame(X, columns=names).assign(small=rng.integers(0, 5, rows))
        df.to_parquet(tmp_path / "big" / f"part-{i}.parquet", index=False)
    assert files * df.memory_usage(index=False).sum() > 600e6
    ref = pd.DataFrame(rng.normal(size=(100_000, len(names))), columns=names).assign(small=rng.integers(0, 5, 100_000))
    ws = Workspace.init(str(tmp_path / "ws"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="600MB", host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        rep = ws.monitor.drift(ref, str(tmp_path / "big" / "*.parquet"))
        assert client.run(os.getpid) == pids                     # the same two worker processes: none ran out of memory
    assert rep.current_rows == rows * files
    assert rep.drifted_columns == ["x0"] or "x0" in rep.meta["borderline"]
    assert set(rep.drifted_columns) <= {"x0"} | set(rep.meta["borderline"])
    print(f"630 MB on 2 workers of 600 MB: {time.perf_counter() - t0:.1f} s")


def test_retrain_after_a_check_of_parquet_files(tmp_path):
    """A drift trigger on a Parquet glob retrains on the files' labelled rows (read partition by partition, versioned);
    beyond [monitoring] retrain_max_rows it is skipped with an event that says what to do; without labels it waits,
    copying nothing."""
    import dask
    from mlwork.workspace import Workspace
    from mlwork.monitor import example_model
    ws = Workspace.init(str(tmp_path / "ws"))
    _, _, drifted = example_model(ws, n_customers=3000)
    lab = drifted.assign(churned=drifted.churned.where(np.arange(len(drifted)) % 4 != 0))      # a quarter not labelled yet
    for name, frame in (("lab", lab), ("nolab", drifted.drop(columns="churned"))):
        (tmp_path / name).mkdir()
        for i, p in enumerate(shuffled_parts(frame, 3, 1)): p.to_parquet(tmp_path / name / f"part-{i}.parquet", index=False)
    ws.settings.sections["monitoring"] = {"retrain_on": "drift", "cooldown_hours": "0", "train_job": "no-such-job"}
    try:
        with dask.config.set(scheduler="sync"):
            rep = ws.monitor.check("churn", str(tmp_path / "lab" / "*.parquet"))
            act = rep.meta["actions"][0]
            assert rep.dataset_drift and act["dataset"].startswith("churn-monitored@") and "no-such-job" in act["why"], act
            dv = ws.datasets.get(act["dataset"])
            got = dv.load().sort_values("customer_id", ignore_index=True)
            want = lab[lab.churned.notna()].sort_values("customer_id", ignore_index=True)
            assert dv.rows == len(want) == sum(w["labelled"] for w in rep.meta["performance"])
            assert got.customer_id.tolist() == want.customer_id.tolist() and (got.churned == want.churned).all()
            assert dv.schema.role("target") == "churned" and dv.schema.role("id") == "customer_id"
            ws.settings.sections["monitoring"]["retrain_max_rows"] = "1000"
            rep = ws.monitor.check("churn", str(tmp_path / "lab"))
            act = rep.meta["actions"][0]
            assert act["status"] == "failed" and "retrain_max_rows = 1,000" in act["why"] and "a slice" in act["why"], act
            assert ws.monitor.lineage("churn").action.tolist()[-1] == "retrain_skipped"
            n = len(ws.datasets.versions("churn-monitored"))
            rep = ws.monitor.check("churn", str(tmp_path / "nolab"))
            act = rep.meta["actions"][0]
            assert act["status"] == "waiting for labels" and act["dataset"] is None and "no labels yet" in act["why"], act
            assert len(ws.datasets.versions("churn-monitored")) == n
            # a Dask DataFrame is read again only when act gets it (check(act=True) hands it over)
            import dask.dataframe as dd
            ws.settings.sections["monitoring"].pop("retrain_max_rows")
            rep = ws.monitor.check("churn", dd.read_parquet(str(tmp_path / "lab")))
            assert rep.meta["actions"][0]["dataset"].startswith("churn-monitored@"), rep.meta["actions"]
            later = ws.monitor.retrainer.act(rep)
            assert later[0]["status"] == "failed" and "cannot be read again" in later[0]["why"], later
    finally:
        ws.settings.sections.pop("monitoring")
    ws.close()
