"""Scoring Parquet partition by partition with the score job on a 2-worker local Dask cluster, against scoring the
same rows in memory (issue 15). Prints a table: rows, seconds, peak RSS per worker, rows/s.

    .venv/bin/python bench/score_partitioned.py [--rows 1000000] [--files 20] [--memory-limit 1GB] [--no-memory]
    .venv/bin/python bench/score_partitioned.py --rows 10000000        # the issue's target (not on a busy machine)

The score job (mlwork/jobs/score.ipynb) runs through papermill with `input` = a glob of the files and `scheduler` =
the cluster's address: one task per file, `chunk_size` rows at a time, one output part per file. "scoring" is the
job's own `seconds` metric (reading, predicting, writing); "whole job" adds the kernel start and the imports. The
in-memory row reads every file into one DataFrame in a child process and calls `predict_proba` once (skip it with
--no-memory; at 10M rows × 25 columns it needs about 4 GB)."""
import argparse, json, os, resource, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

BIN = Path(sys.executable).parent
COLS = 24


def write(folder:Path, rows:int, files:int, seed:int=2):
    import pyarrow as pa, pyarrow.parquet as pq
    folder.mkdir(parents=True)
    per = -(-rows // files)
    for i in range(files):
        n = min(per, rows - i * per)
        if n <= 0: break
        rng = np.random.default_rng(seed * 1000 + i)
        cols = {f"x{j}": rng.standard_normal(n) for j in range(COLS)} | {"customer_id": np.arange(i * per, i * per + n)}
        pq.write_table(pa.table(cols), folder / f"part-{i:04d}.parquet")


IN_MEMORY = """
import sys, time, resource, json
import pandas as pd, mlwork as mw
ws = mw.Workspace.open(sys.argv[1])
clf = mw.load_model(ws.get_run(sys.argv[2]))
t = time.perf_counter()
df = pd.read_parquet(sys.argv[3])
read = time.perf_counter() - t
p = clf.predict_proba(df[list(clf.feature_names_in_)])
print(json.dumps({"rows": len(df), "read": read, "seconds": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--memory-limit", default="1GB")
    ap.add_argument("--chunk-size", type=int, default=100_000)
    ap.add_argument("--no-memory", action="store_true", help="skip the in-memory run")
    a = ap.parse_args()
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    import mlwork as mw
    tmp = Path(tempfile.mkdtemp(prefix="score-bench-"))
    try:
        ws = mw.Workspace.init(str(tmp / "ws"))
        rng = np.random.default_rng(0)
        X = pd.DataFrame(rng.standard_normal((5000, COLS)), columns=[f"x{j}" for j in range(COLS)])
        y = (X.x0 + X.x1 - X.x2 + rng.standard_normal(5000) > 0).astype(int)
        with ws.start_run("bench-train") as run:
            run.log_model(LogisticRegression().fit(X, y), signature=X)
        ws.close()
        t = time.perf_counter(); write(tmp / "data", a.rows, a.files)
        size = sum(p.stat().st_size for p in (tmp / "data").iterdir())
        print(f"wrote {a.rows:,} rows x {COLS + 1} columns in {a.files} files ({size / 1e6:,.0f} MB) in {time.perf_counter() - t:.1f} s")
        from distributed import Client, LocalCluster
        with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=a.memory_limit, processes=True,
                          host="127.0.0.1", dashboard_address=None) as cluster, Client(cluster) as client:
            pids = client.run(os.getpid)
            base = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            t = time.perf_counter()
            res = subprocess.run([str(BIN / "papermill"), str(tmp / "ws" / "jobs" / "score.ipynb"), str(tmp / "score.ipynb"),
                                  "-k", "mlwork", "--cwd", str(tmp / "ws"), "--no-progress-bar",
                                  "-p", "model_run", run.id, "-p", "input", str(tmp / "data" / "*.parquet"),
                                  "-p", "output", str(tmp / "pred"), "-p", "chunk_size", str(a.chunk_size),
                                  "-p", "experiment", "bench-score", "-p", "scheduler", cluster.scheduler_address],
                                 capture_output=True, text=True)
            whole = time.perf_counter() - t
            if res.returncode: sys.exit(f"the score job failed:\n{res.stderr[-3000:]}")
            peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            restarted = client.run(os.getpid) != pids
        with mw.Workspace.open(tmp / "ws") as ws:
            m = ws.runs("bench-score").iloc[0]
        scored, seconds = int(m["metrics.rows"]), float(m["metrics.seconds"])
        parts = len(list((tmp / "pred").glob("part-*.parquet")))
        mem = None
        if not a.no_memory:
            out = subprocess.run([sys.executable, "-c", IN_MEMORY, str(tmp / "ws"), run.id, str(tmp / "data")],
                                 capture_output=True, text=True)
            if out.returncode: sys.exit(f"the in-memory run failed:\n{out.stderr[-3000:]}")
            mem = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"\n{'how':34} {'rows':>12} {'seconds':>8} {'rows/s':>12}  peak RSS")
        peak = ", ".join(f"{v:,.0f} MB" for v in peaks.values())
        print(f"{'score job: scoring (2 workers)':34} {scored:>12,} {seconds:8.1f} {scored / seconds:>12,.0f}  "
              f"per worker {peak} (limit {a.memory_limit}; {', '.join(f'{v:,.0f}' for v in base.values())} MB at start)")
        print(f"{'score job: whole job (kernel etc.)':34} {scored:>12,} {whole:8.1f} {scored / whole:>12,.0f}")
        if mem: print(f"{'in memory: read + predict_proba':34} {mem['rows']:>12,} {mem['seconds']:8.1f} "
                      f"{mem['rows'] / mem['seconds']:>12,.0f}  one process {mem['peak_mb']:,.0f} MB "
                      f"(of which reading {mem['read']:.1f} s)")
        print(f"\n{parts} output parts for {a.files} input files; every row scored: {'yes' if scored == a.rows else 'NO'}; "
              f"a worker restarted: {'YES' if restarted else 'no'}; peak per worker within the limit: "
              f"{'yes' if max(peaks.values()) * 2**20 <= _bytes(a.memory_limit) else 'NO'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bytes(limit:str) -> float:
    from dask.utils import parse_bytes
    return parse_bytes(limit)


if __name__ == "__main__":
    main()
