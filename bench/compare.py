"""Comparison benchmark: building the ExperimentBrowser over 10k runs and selecting 20 runs, against MLflow's
`search_runs` plus a plotly chart of the same selection (the way MLflow users compare runs in a notebook).

    .venv/bin/python bench/compare.py [--runs 10000] [--peer-runs 2000] [--rounds 3]

Runs have 20 params and 10 metrics each. mlwork times are Python wall time of the widget (the browser's
rendering is not included); MLflow's are `search_runs` for the experiment and building the figure.
"""
import argparse, json, os, random, statistics, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MLFLOW_PY = HERE / ".venv-mlflow" / "bin" / "python"


def make_children(n, seed=0):
    rng = random.Random(seed)
    return [{"name": f"run-{i}", "params": {f"p{j}": (rng.choice(["a", "b", "c"]) if j < 5 else round(rng.random(), 3))
                                            for j in range(20)},
             "metrics": {f"m{j}": rng.random() for j in range(10)}} for i in range(n)]


MLFLOW = """
import sys, time, json, random, tempfile, os, statistics
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
import mlflow
from mlflow.entities import Metric, Param
n = int(sys.argv[1]); rounds = int(sys.argv[2])
d = tempfile.mkdtemp()
mlflow.set_tracking_uri(f"sqlite:///{d}/mlflow.db")
client = mlflow.MlflowClient()
exp = client.create_experiment("bench")
rng = random.Random(0)
for i in range(n):
    r = client.create_run(exp, run_name=f"run-{i}")
    now = int(time.time() * 1000)
    client.log_batch(r.info.run_id, params=[Param(f"p{j}", str(rng.choice(["a", "b", "c"]) if j < 5 else round(rng.random(), 3))) for j in range(20)],
                     metrics=[Metric(f"m{j}", rng.random(), now, 0) for j in range(10)])
    client.set_terminated(r.info.run_id)
import plotly.graph_objects as go
res = {"build": [], "select": []}
for _ in range(rounds):
    t = time.perf_counter(); df = mlflow.search_runs(experiment_ids=[exp], max_results=100000); res["build"].append(time.perf_counter() - t)
    ids = list(df.run_id[:20])
    t = time.perf_counter()
    sel = mlflow.search_runs(experiment_ids=[exp], filter_string="attributes.run_id IN (" + ",".join(f"'{i}'" for i in ids) + ")")
    fig = go.Figure([go.Bar(x=[f"m{j}" for j in range(10)], y=[row[f"metrics.m{j}"] for j in range(10)], name=row["tags.mlflow.runName"])
                     for _, row in sel.iterrows()])
    fig.to_dict()
    res["select"].append(time.perf_counter() - t)
print(json.dumps({k: statistics.median(v) for k, v in res.items()} | {"rows": len(df)}))
"""
import statistics


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--peer-runs", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    import mlwork as mw
    from mlwork.widgets.browser import ExperimentBrowser
    ws = mw.Workspace.init(tempfile.mkdtemp(prefix="bench-compare-"))
    t = time.perf_counter()
    with ws.start_run("bench", name="parent") as parent:
        kids = make_children(a.runs)
        for k in range(0, len(kids), 2000): parent.log_children(kids[k:k + 2000])
    print(f"  store with {a.runs:,} runs built in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    build, select, curves = [], [], []
    for r in range(a.rounds):
        t = time.perf_counter(); b = ExperimentBrowser(ws, "bench"); build.append(time.perf_counter() - t)
        ids = list(b._df.run_id[r * 20:(r + 1) * 20])
        t = time.perf_counter(); b.selected = ids; select.append(time.perf_counter() - t)
        assert len(b.bars.data) == 20 and not b.errors.outputs, b.errors.outputs
        b.tabs.selected_index = 2
        t = time.perf_counter(); b.selected = list(b._df.run_id[100:120]); curves.append(time.perf_counter() - t)
    peer = None
    if MLFLOW_PY.exists():
        p = subprocess.run([str(MLFLOW_PY), "-c", MLFLOW, str(a.peer_runs), str(a.rounds)], capture_output=True, text=True)
        peer = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else None
        if peer is None: print(p.stderr[-2000:], file=sys.stderr)
    med = statistics.median
    print(f"\n# Comparison benchmark: {a.runs:,} runs x 20 params x 10 metrics (medians of {a.rounds})\n")
    print("| measurement | target | mlwork | MLflow search_runs + plotly | ratio |\n|---|---|---|---|---|")
    pb = f"{peer['build']:.3f} (over {a.peer_runs:,} runs)" if peer else "not run (bash bench/setup_peers.sh)"
    ps = f"{peer['select']:.3f}" if peer else "—"
    print(f"| build the browser over all runs (s) | ≤ 1 s | {med(build):.3f} | {pb} | "
          f"{'≥ %.1f×' % (peer['build'] / med(build)) if peer else '—'} |")
    print(f"| select 20 runs until the metric chart is updated (s) | ≤ 0.3 s | {med(select):.3f} | {ps} | "
          f"{'%.1f×' % (peer['select'] / med(select)) if peer else '—'} |")
    print(f"| select 20 runs with the params tab in view (parallel coordinates + diff) (s) | ≤ 0.3 s | {med(curves):.3f} | — | — |")


if __name__ == "__main__":
    main()
