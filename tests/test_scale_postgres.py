"""Team scale on a real PostgreSQL server: 32 writer processes x 1,000 metrics, 8 concurrent papermill jobs,
and 20 concurrent promotions of which exactly one wins. Every process stays within the server's connections."""
import subprocess, sys, threading, time
import pytest
import sqlalchemy as sa
import mlwork as mw
from conftest import clean_env
from test_jobs import job_notebook

WRITERS, METRICS, JOBS, PROMOTERS = 32, 1000, 8, 20


@pytest.fixture
def pg_ws(ws_root, pg_url, monkeypatch):
    monkeypatch.setenv("MLWORK_STORE", pg_url)
    with mw.Workspace.open(ws_root) as ws: yield ws


class Connections:
    "The peak number of client connections the server saw while the block ran (sampled every 0.1 s)."
    def __init__(self, url): self.engine, self.peak, self._stop = sa.create_engine(url, poolclass=sa.pool.NullPool), 0, threading.Event()
    def _sample(self):
        with self.engine.connect() as c:
            while not self._stop.is_set():
                n = c.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")).scalar()
                self.peak = max(self.peak, n); c.commit(); time.sleep(0.1)
    def __enter__(self): self._t = threading.Thread(target=self._sample, daemon=True); self._t.start(); return self
    def __exit__(self, *a): self._stop.set(); self._t.join(); self.engine.dispose()


def _max_connections(url):
    e = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with e.connect() as c: n = int(c.execute(sa.text("SHOW max_connections")).scalar())
    e.dispose(); return n


def _start_together(code, n, ws_root, pg_url, go, *extra):
    "Start n processes that wait for the file `go`, then run `code`; return them once all are waiting."
    procs = [subprocess.Popen([sys.executable, "-c", code, str(ws_root), str(i), str(go), *map(str, extra)],
                              env=clean_env(MLWORK_STORE=pg_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(n)]
    return procs


WRITER = """
import glob, os, sys, time, mlwork as mw, mlwork.liveness
mlwork.liveness.HEARTBEAT_S = 0.5     # the heartbeat thread writes while the main thread logs (every 30 s in real use)
ws = mw.Workspace.open(sys.argv[1])
go, writers = sys.argv[3], int(sys.argv[4])
while not os.path.exists(go): time.sleep(0.02)
with ws.start_run("scale", params={"w": int(sys.argv[2])}) as run:
    for k in range(0, %d, 50):                      # 20 transactions of 50 values each
        run.log_batch(metrics=[("v", float(i), i) for i in range(k, k + 50)])
    open(f"{go}.{sys.argv[2]}", "w").close()        # then every run stays open until all have written,
    deadline = time.time() + 120                    # so that all 32 processes and their heartbeats are alive at once
    while len(glob.glob(go + ".*")) < writers and time.time() < deadline: time.sleep(0.05)
    time.sleep(3 * mlwork.liveness.HEARTBEAT_S)
print("ok")
""" % METRICS


def test_32_writers_x_1000_metrics_lose_nothing(pg_ws, pg_url, ws_root, tmp_path):
    go = tmp_path / "go"
    t0 = time.time()
    procs = _start_together(WRITER, WRITERS, ws_root, pg_url, go, WRITERS)
    with Connections(pg_url) as conns:
        time.sleep(1); go.touch()
        outs = [p.communicate(timeout=300) for p in procs]
    took = time.time() - t0
    errors = [(p.returncode, err[-800:]) for p, (_, err) in zip(procs, outs) if p.returncode != 0]
    assert errors == []
    df = pg_ws.runs("scale")
    assert len(df) == WRITERS and set(df.status) == {"FINISHED"} and (df["metrics.v"] == METRICS - 1).all()
    hist = pg_ws.metric_history(df.run_id, "v")
    assert len(hist) == WRITERS * METRICS                                      # 0 lost values
    assert hist.groupby("run_id").step.nunique().eq(METRICS).all()
    limit = _max_connections(pg_url)
    print(f"{WRITERS} writers x {METRICS} metrics: {took:.1f} s; peak connections {conns.peak} of {limit}")
    pytest.connections_peak = (conns.peak, limit)


def test_32_writers_stay_within_the_servers_connections():
    peak, limit = getattr(pytest, "connections_peak", (None, None))
    if peak is None: pytest.skip("the writers test did not run")
    assert peak < limit, f"peak {peak} connections of max_connections {limit}"


def test_a_process_shares_its_capped_pool_between_threads(pg_ws, pg_url):
    "Threads borrow the process's connections per transaction; when all are busy, the error names the settings."
    from mlwork.store import Store, StoreBusyError, POOL_SIZE
    assert pg_ws.store.pool_size == POOL_SIZE and POOL_SIZE >= 1
    store = Store(pg_url + "?pool_size=1&pool_timeout=0.5")
    def pids():
        with store.transaction(write=False) as c: return c.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    seen = set()
    threads = [threading.Thread(target=lambda: [seen.add(pids()) for _ in range(20)]) for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert len(seen) == 1                          # four threads, one connection, taken in turns
    held, release, errors = threading.Event(), threading.Event(), []
    def hold():
        with store.transaction(write=False): held.set(); release.wait(10)
    t = threading.Thread(target=hold); t.start(); held.wait(10)
    try: pids()
    except StoreBusyError as e: errors.append(str(e))
    finally: release.set(); t.join()
    assert len(errors) == 1 and "pool_size" in errors[0] and "pool_timeout = 0.5 s" in errors[0], errors
    assert pids() in seen                          # the connection went back to the pool
    store.close()


def test_8_concurrent_jobs_on_postgres(pg_ws):
    ws = pg_ws
    job_notebook(ws.root / "jobs" / "w.ipynb", ["i = 0", "import mlwork as mw\nws = mw.Workspace.open()\n"
                 "with ws.start_run('jobs8', params={'i': i}) as r:\n    r.log_metrics({'sq': i * i})\n"
                 "    r.log_batch(metrics=[('m', float(k), k) for k in range(500)])"])
    t0 = time.time()
    jobs = ws.jobs.map("w", [{"i": i} for i in range(JOBS)], parallel=JOBS)
    print(f"{JOBS} concurrent papermill jobs: {time.time() - t0:.1f} s")
    assert [j.status for j in jobs] == ["FINISHED"] * JOBS, [j.error for j in jobs]
    df = ws.runs("jobs8", order_by="params.i")
    assert list(df["metrics.sq"]) == [i * i for i in range(JOBS)]
    assert len(ws.metric_history(df.run_id, "m")) == JOBS * 500


PROMOTER = """
import os, sys, time, mlwork as mw
ws = mw.Workspace.open(sys.argv[1])
version, go = int(sys.argv[2]) + 1, sys.argv[3]
for round_ in (0, 1):                        # round 0: the alias is unset; round 1: it points at round 0's winner
    while not os.path.exists(f"{go}{round_}"): time.sleep(0.01)
    text = open(f"{go}{round_}").read().strip()
    expected = int(text) if text else None
    if expected == version: print("skip", flush=True); continue
    try:
        ws.registry.promote("race", version, "production", reason=f"racer {version}", gates=[], expected=expected)
        print("won", flush=True)
    except mw.errors.MlworkError as e: print("lost", type(e).__name__, flush=True)
"""


def test_20_concurrent_promotions_exactly_one_wins(pg_ws, pg_url, ws_root, tmp_path):
    from sklearn.dummy import DummyClassifier
    ws = pg_ws
    with ws.start_run("race") as run: run.log_model(DummyClassifier().fit([[0], [1]], [0, 1]))
    for _ in range(PROMOTERS): ws.registry.register(run, "race")
    go = tmp_path / "go"
    procs = _start_together(PROMOTER, PROMOTERS, ws_root, pg_url, go)
    time.sleep(1.0); (tmp_path / "go0").write_text("")
    def said_in(round_):
        "What each promoter printed for this round (waits for every line)."
        return [p.stdout.readline().split() for p in procs]
    first = said_in(0)
    assert [w[0] for w in first].count("won") == 1, first
    assert all(w[1] == "PromotionConflict" for w in first if w[0] == "lost"), first
    winner = [w[0] for w in first].index("won") + 1
    assert ws.registry.resolve("race@production").version == winner
    (tmp_path / "go1").write_text(str(winner))
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-800:] for _, e in outs]
    second = [o.split() for o, _ in outs]
    assert [w[0] for w in second].count("won") == 1 and [w[0] for w in second].count("skip") == 1, second
    assert all(w[1] == "PromotionConflict" for w in second if w[0] == "lost"), second
    assert ws.registry.resolve("race@production").version == [w[0] for w in second].index("won") + 1
    h = ws.registry.history("race")
    assert (h.action == "promote").sum() == 2                              # one move per round, nothing else
