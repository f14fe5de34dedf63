"""Importing a 10,000-run MLflow store into mlwork (issue 19): how long it takes and where the time goes.

    .venv/bin/python bench/import_mlflow.py [--runs 10000] [--rebuild]

The MLflow store (SQLite) is built once and cached under bench/out/mlflow-<runs>/: MLflow 3.17.2 (in
bench/.venv-mlflow, `make .venv/.mlflow`) creates the database and its schema and logs one run through its
client, then the runs are written in bulk into MLflow's own tables the way its SQL store writes them (logging
10,000 runs through the client would take 3-7 minutes), and MLflow's client reads a sample back to check
that the store is sound. Each run has 10 params, 5 metrics of 20 steps each, 3 tags plus the system tags
MLflow sets (mlflow.runName, mlflow.user, mlflow.source.name, mlflow.source.type).

The import (reading included) goes into a fresh workspace; the script prints the rate and the phases of
`ImportSummary.timings`, then times a second import of the same store (which must write nothing).
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MLFLOW_PY = HERE / ".venv-mlflow" / "bin" / "python"

BUILD = r'''
import os, random, sqlite3, sys, time, uuid
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
import mlflow
from mlflow import MlflowClient
db, n = sys.argv[1], int(sys.argv[2])
uri = f"sqlite:///{db}"
cl = MlflowClient(tracking_uri=uri)
exp = cl.create_experiment("bench-import")
first = cl.create_run(exp, run_name="template", tags={"team": "a"})   # MLflow's own run, for its row shapes
cl.log_param(first.info.run_id, "p0", "1"); cl.log_metric(first.info.run_id, "m0", 0.5, step=0)
cl.set_terminated(first.info.run_id)
art = os.path.dirname(db) + "/mlruns/" + exp
rnd = random.Random(0)
t0 = int(time.time() * 1000) - n * 1000
runs, params, metrics, latest, tags = [], [], [], [], []
for i in range(n):
    rid, start = uuid.uuid4().hex, t0 + i * 1000
    runs.append((rid, f"run-{i}", "LOCAL", "bench.py", "", "bench", "FINISHED", start, start + 900, "", "active",
                 f"{art}/{rid}/artifacts", int(exp)))
    params += [(f"p{k}", str(rnd.choice([rnd.randint(0, 100), rnd.random(), "rf", "lr"])), rid) for k in range(10)]
    for k in range(5):
        vals = [(f"m{k}", rnd.random(), start + s * 10, rid, s, 0) for s in range(20)]
        metrics += vals
        latest.append((f"m{k}", vals[-1][1], vals[-1][2], 19, 0, rid))
    tags += [("mlflow.runName", f"run-{i}", rid), ("mlflow.user", "bench", rid), ("mlflow.source.name", "bench.py", rid),
             ("mlflow.source.type", "LOCAL", rid), ("team", rnd.choice("abc"), rid), ("stage", "dev", rid),
             ("seed", str(i), rid)]
c = sqlite3.connect(db)
c.executemany("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, "
              "end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", runs)
c.executemany('INSERT INTO params ("key", value, run_uuid) VALUES (?,?,?)', params)
c.executemany('INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)', metrics)
c.executemany('INSERT INTO latest_metrics ("key", value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,?,?)', latest)
c.executemany('INSERT INTO tags ("key", value, run_uuid) VALUES (?,?,?)', tags)
c.commit(); c.close()
# MLflow reads it back: the count, and one run's params and history
got = cl.search_runs([exp], max_results=50000)
sample = cl.get_run(runs[-1][0])
hist = cl.get_metric_history(runs[-1][0], "m0")
assert len(got) == n + 1 and len(sample.data.params) == 10 and len(hist) == 20, (len(got), sample.data.params, len(hist))
print(f"built {n:,} runs ({len(metrics):,} metric values) with mlflow {mlflow.__version__}")
'''


def build(runs:int, rebuild:bool) -> Path:
    out = HERE / "out" / f"mlflow-{runs}"
    db = out / "mlflow.db"
    if db.exists() and not rebuild:
        print(f"using the cached MLflow store {db}")
        return db
    if not MLFLOW_PY.exists():
        sys.exit("bench/.venv-mlflow is missing: run `make .venv/.mlflow` (or bash bench/setup_peers.sh) first")
    shutil.rmtree(out, ignore_errors=True); out.mkdir(parents=True)
    t = time.perf_counter()
    subprocess.run([str(MLFLOW_PY), "-c", BUILD, str(db), str(runs)], check=True,
                   env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    print(f"  store built in {time.perf_counter() - t:.1f} s")
    return db


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--rebuild", action="store_true", help="build the MLflow store again")
    args = ap.parse_args()
    db = build(args.runs, args.rebuild)
    sys.path.insert(0, str(HERE.parent))
    import mlwork as mw
    from mlwork.importers import import_mlflow
    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        ws = mw.Workspace.init(tmp / "ws")
        s = import_mlflow(ws, f"sqlite:///{db}")
        print(repr(s))
        values = s.params + s.metrics + s.tags
        print(f"\nimport: {s.runs:,} runs in {s.seconds:.1f} s = {s.rate:,.0f} runs/s, {values / s.seconds:,.0f} values/s "
              f"(target: {args.runs:,} runs in <= 60 s: {'met' if s.seconds <= 60 * args.runs / 10_000 else 'NOT met'})")
        for phase, sec in sorted(s.timings.items(), key=lambda x: -x[1]):
            print(f"  {phase:<22} {sec:6.1f} s  {100 * sec / s.seconds:4.0f} %")
        again = import_mlflow(ws, f"sqlite:///{db}")
        print(f"second import (nothing to write): {again.seconds:.1f} s, {again.runs} runs written, "
              f"skipped: {again.skipped}")
        size = (tmp / "ws" / ".mlwork" / "mlwork.db").stat().st_size
        print(json.dumps({"runs": s.runs, "seconds": round(s.seconds, 2), "runs_per_s": round(s.rate),
                          "values": values, "timings": {k: round(v, 2) for k, v in s.timings.items()},
                          "reimport_s": round(again.seconds, 2), "mlwork_db_mb": round(size / 1e6, 1),
                          "mlflow_db_mb": round(db.stat().st_size / 1e6, 1)}))
        ws.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
