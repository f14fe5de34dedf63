"""Jobs benchmark: `mlwork jobs run` vs bare `papermill` on the same trivial notebook, and batch scoring vs
plain `model.predict`.

    .venv/bin/python bench/jobs.py [--rounds 3] [--rows 1000000]

Both sides of the first measurement run as whole commands in fresh processes, alternating (A B A B), with
the same pinned kernel. mlwork's time includes recording the job, storing the executed notebook and
rendering it to HTML. The scoring measurement trains a model once, then compares the score job's rows/s
(inside its kernel, chunked, writing Parquet) with one `predict_proba` call on the whole frame in a
fresh process, and reports each side's peak memory.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

BIN = Path(sys.executable).parent


def trivial_notebook(path):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("print(x + 1)")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "mlwork", "display_name": "Python (mlwork)", "language": "python"}
    nbformat.write(nb, path)


def timed(cmd, cwd):
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode: sys.exit(f"{cmd} failed:\n{p.stdout}\n{p.stderr}")
    return time.perf_counter() - t


PREDICT = """
import sys, time, json, resource
import pandas as pd, mlwork as mw
ws = mw.Workspace.open(sys.argv[1])
model = mw.load_model(ws.get_run(sys.argv[2]))
df = ws.datasets.get("bench").load()
X = df[list(model.feature_names_in_)]
t = time.perf_counter(); p = model.predict_proba(X)[:, -1]; s = time.perf_counter() - t
print(json.dumps({"rows_per_second": len(X) / s, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rows", type=int, default=1_000_000)
    a = ap.parse_args()
    import mlwork as mw
    root = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    ws = mw.Workspace.init(root)
    trivial_notebook(root / "jobs" / "trivial.ipynb")
    times = {"mlwork": [], "papermill": []}
    timed([str(BIN / "mlwork"), "jobs", "run", "trivial"], root)                  # warm the disk caches once
    for r in range(a.rounds):
        times["mlwork"].append(timed([str(BIN / "mlwork"), "jobs", "run", "trivial"], root))
        times["papermill"].append(timed([str(BIN / "papermill"), "-k", "mlwork", "--no-progress-bar",
                                         str(root / "jobs" / "trivial.ipynb"), str(root / "out.ipynb")], root))
        print(f"  round {r + 1}: mlwork {times['mlwork'][-1]:.2f} s, papermill {times['papermill'][-1]:.2f} s", file=sys.stderr)
    m, p = statistics.median(times["mlwork"]), statistics.median(times["papermill"])

    # scoring
    from mlwork.synthetic import churn
    df = churn(a.rows, seed=1)
    ws.datasets.log(df.head(50_000), "bench-train", target="churned", id="customer_id", time="period")
    ws.datasets.log(df, "bench", target="churned", id="customer_id", time="period")
    train = ws.jobs.run("train", {"dataset": "bench-train", "model": "gradient_boosting", "experiment": "bench"})
    if train.status != "FINISHED": sys.exit(f"train job failed: {train.error}")
    model_run = train.runs().run_id[0]
    score = ws.jobs.run("score", {"model_run": model_run, "input": "bench", "output": str(root / "pred.parquet"),
                                  "experiment": "bench"})
    if score.status != "FINISHED": sys.exit(f"score job failed: {score.error}")
    srun = score.runs().iloc[0]
    job_rps = srun["metrics.rows_per_second"]
    plain = json.loads(subprocess.run([sys.executable, "-c", PREDICT, str(root), model_run], capture_output=True,
                                      text=True, check=True).stdout.strip().splitlines()[-1])
    print(f"\n# Jobs benchmark ({a.rounds} rounds, medians)\n")
    print("| measurement | target | mlwork | peer | ratio |\n|---|---|---|---|---|")
    print(f"| trivial notebook, whole command (s) | ≤ 1.2× papermill | {m:.2f} | papermill CLI {p:.2f} | {m / p:.2f}× |")
    print(f"| batch scoring, {a.rows:,} rows (rows/s) | ≥ 0.8× predict | {job_rps:,.0f} (score job, chunked, to Parquet) | "
          f"{plain['rows_per_second']:,.0f} (one predict_proba) | {job_rps / plain['rows_per_second']:.2f}× |")
    print(f"| peak memory of plain predict, whole process (MB) | — | — | {plain['maxrss_mb']:.0f} | — |")
    print(f"\nscore job: {score.html_path}")


if __name__ == "__main__":
    main()
