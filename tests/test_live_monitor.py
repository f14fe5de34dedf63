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
from mlwork import errors as mw_errors
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


# --- large windows: the prediction log read segment by segment (issue 15) ------------------------------------------

def _compare(mem, part):
    "A partitioned live report against the in-memory one of the same window: verdicts, scores within ε, figures."
    from test_partsketch import _same_verdicts
    _same_verdicts(mem, part)
    tm, tp = mem.meta["traffic"], part.meta["traffic"]
    assert {k: tp[k] for k in tm} == tm and tp["approximate"] == []         # few rows: every traffic figure exact
    pm, pp = pd.DataFrame(mem.meta["performance"]), pd.DataFrame(part.meta["performance"])
    assert pm[["window", "rows", "labelled"]].equals(pp[["window", "rows", "labelled"]]), (pm, pp)
    for k in ("estimated_accuracy", "realised_accuracy", "estimated_roc_auc", "realised_roc_auc"):
        a, b = pm[k].astype(float).to_numpy(), pp[k].astype(float).to_numpy()
        assert np.array_equal(np.isnan(a), np.isnan(b)), k
        assert np.nanmax(np.abs(a - b), initial=0) < (1e-9 if "accuracy" in k else 1e-3), (k, a, b)
    assert abs(part.meta["estimated"]["roc_auc"] - mem.meta["estimated"]["roc_auc"]) < 1e-3
    assert part.meta["partitioned"] and part.meta["current"].startswith("prediction log of churn: ")


def test_large_window_segment_by_segment_matches_in_memory(tmp_path):
    """The same logged traffic (several segments per month; labels matched when stored, by request id later, and by
    entity later) checked in memory and segment by segment (`live_in_memory_rows = 0`): the same verdicts and figures,
    and the partitioned check copies nothing into a dataset version."""
    import dask
    from mlwork.synthetic import churn_pair
    from mlwork.monitor import example_model, example_traffic
    ws = mw.Workspace.init(str(tmp_path / "ws"))
    _, feb, _ = example_model(ws, n_customers=2400)
    _, mar = churn_pair(n_customers=2400, seed=3, start="2026-02", covariate_drift=1.0, new_category=True)
    t = time.time()
    early = mar.iloc[:1200]                                                    # March: labels before their predictions
    predlog.record_feedback(ws.store, ws.blobs, "churn", [{"request_id": "mar-0", "row": r, "label": int(y)}
                                                         for r, y in enumerate(early.churned.iloc[:600])])
    predlog.record_feedback(ws.store, ws.blobs, "churn", [{"entity": c, "label": float(y), "at": t + 3600}
                                                         for c, y in zip(early.customer_id.iloc[600:], early.churned.iloc[600:])])
    for i in range(3):                                                         # February: 3 segments, labelled when logged
        part = feb.iloc[i * 800:(i + 1) * 800]
        assert example_traffic(ws, "churn", {f"feb-{i}": part.drop(columns="churned")}, at=t - 3000 + i) == 800
        predlog.record_feedback(ws.store, ws.blobs, "churn", [{"request_id": f"feb-{i}", "row": r, "label": int(y)}
                                                             for r, y in enumerate(part.churned) if r % 3])
    for i in range(4):
        part = mar.iloc[i * 600:(i + 1) * 600]
        example_traffic(ws, "churn", {f"mar-{i}": part.drop(columns="churned")}, at=t - 2000 + i)
    assert len(predlog.segments(ws.store, "churn")) >= 7
    def live_versions():
        try: return len(ws.datasets.versions("churn-live"))
        except mw_errors.NotFoundError: return 0
    versions = live_versions()
    for window, kw in ((None, FEB), ("W", MAR)):
        mem = ws.monitor.check("churn", source="live", window=window, act=False, **kw)
        assert not mem.meta.get("partitioned")
        ws.settings.sections["monitoring"] = {"live_in_memory_rows": "0"}
        try:
            with dask.config.set(scheduler="threads", num_workers=2):
                part = ws.monitor.check("churn", source="live", window=window, act=False, **kw)
        finally:
            ws.settings.sections.pop("monitoring")
        _compare(mem, part)
        assert part.meta["traffic"]["labelled"] == mem.meta["traffic"]["labelled"] > 0
    assert mem.dataset_drift and part.dataset_drift and part.meta["traffic"]["labelled"] == 1200
    assert live_versions() == versions + 2             # the two in-memory checks only
    stored = ws.monitor.stored("churn", limit=1)[0]
    assert stored["current_id"] is None and stored["current"] == part.meta["current"]
    # a retrain triggered by the large window reads its labelled rows only, partition by partition ...
    ws.settings.sections["monitoring"] = {"live_in_memory_rows": "0", "retrain_on": "drift", "cooldown_hours": "0",
                                          "train_job": "no-such-job"}
    try:
        with dask.config.set(scheduler="sync"):
            rep = ws.monitor.check("churn", source="live", **MAR)
        act = rep.meta["actions"][0]
        assert act["dataset"].startswith("churn-live-labelled@") and "no-such-job" in act["why"], act
        dv = ws.datasets.get(act["dataset"])
        df = dv.load()
        assert dv.rows == 1200 and dv.schema.role("target") == "churned" and df.churned.notna().all()
        mem_df = predlog.to_dataset(ws.store, ws.blobs, ws.datasets, "churn", MAR["since"], MAR["until"], dataset="x").load()
        assert sorted(df.customer_id.astype(str)) == sorted(mem_df.customer_id.astype(str))
        assert list(df.columns) == list(mem_df.columns)
        # ... and refuses, saying what to do, when there are more than retrain_max_rows of them
        ws.settings.sections["monitoring"]["retrain_max_rows"] = "100"
        with dask.config.set(scheduler="sync"):
            rep = ws.monitor.check("churn", source="live", **MAR)
        act = rep.meta["actions"][0]
        assert act["status"] == "failed" and "retrain_max_rows = 100" in act["why"] and "shorter window" in act["why"], act
        assert ws.monitor.lineage("churn").action.tolist()[-1] == "retrain_skipped"
    finally:
        ws.settings.sections.pop("monitoring")
    ws.close()


def test_traffic_sketches_merge_within_their_stated_error():
    "Latency percentiles and request counts past LIVE_EXACT: KLL within its rank error, HyperLogLog within ~3%."
    from functools import reduce
    from mlwork.monitor import _Quantiles, _Distinct, LIVE_EXACT
    from mlwork.partsketch import rank_error
    rng = np.random.default_rng(0)
    lat = rng.lognormal(3, 1, 3 * LIVE_EXACT)
    parts = np.array_split(rng.permutation(lat), 7)
    q = reduce(lambda a, b: a.merge(b), [_Quantiles(p) for p in parts])
    assert not q.exact
    for p in (50, 99):
        r = np.searchsorted(np.sort(lat), q.percentile(p)) / len(lat)
        assert abs(r - p / 100) <= rank_error(), (p, r)
    small = reduce(lambda a, b: a.merge(b), [_Quantiles(p) for p in np.array_split(lat[:5000], 3)])
    assert small.exact and small.percentile(99) == np.percentile(lat[:5000], 99)
    ids = [f"r{i}" for i in range(250_000)]
    d = reduce(lambda a, b: a.merge(b), [_Distinct(ids[i:i + 60_000]) for i in range(0, len(ids), 50_000)])   # overlapping
    assert not d.exact and abs(d.count() - len(ids)) < 0.03 * len(ids)
    assert _Distinct(ids[:10]).merge(_Distinct(ids[5:20])).count() == 20
