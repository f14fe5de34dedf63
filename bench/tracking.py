"""Tracking benchmark: mlwork vs MLflow, side by side, A B A B.

    bash bench/setup_peers.sh                               # once: the MLflow venv
    .venv/bin/python bench/tracking.py --quick              # smoke test (~1 min)
    .venv/bin/python bench/tracking.py                      # full: 10k runs, 2 rounds (MLflow takes minutes)
    .venv/bin/python bench/tracking.py --peer-runs 2000     # MLflow creates fewer runs; its create time is extrapolated

Each round runs mlwork_tracking.py (this interpreter) then peer_mlflow_tracking.py (the
MLflow venv) in fresh temp dirs; the table shows medians across rounds. Import time is
measured here, 5 fresh processes per side, alternating. The table and the raw JSON go to
bench/out/tracking-<timestamp>.md.
"""
import argparse, json, os, platform, statistics, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MLFLOW_PY = HERE / ".venv-mlflow" / "bin" / "python"
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
SIDES = {"mlwork": (Path(sys.executable), HERE / "mlwork_tracking.py"),
         "mlflow": (MLFLOW_PY, HERE / "peer_mlflow_tracking.py")}
IMPORT_SNIPPET = "import time; t=time.perf_counter(); import {}; print(time.perf_counter()-t)"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, help="runs mlwork creates and queries (10000)")
    p.add_argument("--peer-runs", type=int, help="runs MLflow creates (default: --runs)")
    p.add_argument("--single", type=int, help="single log_metric calls (3000)")
    p.add_argument("--batch-values", type=int, help="metric values logged in batches (100000)")
    p.add_argument("--rounds", type=int, help="A B rounds; medians are reported (2)")
    p.add_argument("--quick", action="store_true", help="smoke-test defaults: 1000 runs, 1000 calls, 20000 values, 1 round")
    a = p.parse_args()
    # Defaults (explicit arguments win over --quick).
    defaults = dict(runs=1000, single=1000, batch_values=20000, rounds=1) if a.quick else \
               dict(runs=10000, single=3000, batch_values=100000, rounds=2)
    for k, v in defaults.items():
        if getattr(a, k) is None: setattr(a, k, v)
    a.peer_runs = a.peer_runs or a.runs
    return a


def run(cmd, what):
    "Run a subprocess from the repo root; on failure show its output and exit non-zero."
    p = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"\n*** {what} failed (exit {p.returncode}): {' '.join(map(str, cmd))}", file=sys.stderr)
        print(p.stdout[-3000:], p.stderr, sep="\n", file=sys.stderr)
        sys.exit(1)
    return p.stdout.strip().splitlines()[-1]


def one_round(side, args):
    py, script = SIDES[side]
    runs = args.runs if side == "mlwork" else args.peer_runs
    cmd = [py, script, "--runs", runs, "--single", args.single, "--batch-values", args.batch_values]
    t0 = time.perf_counter()
    res = json.loads(run([str(c) for c in cmd], side))
    print(f"  {side}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return res


def import_times(n=5):
    "Import time of each library in fresh processes, alternating mlwork / mlflow."
    out = {"mlwork": [], "mlflow": []}
    for _ in range(n):
        for side, mod in (("mlwork", "mlwork"), ("mlflow", "mlflow")):
            out[side].append(float(run([str(SIDES[side][0]), "-c", IMPORT_SNIPPET.format(mod)], f"import {mod}")))
    return out


def medians(rounds):
    "Median of every numeric measurement across rounds."
    keys = [k for k, v in rounds[0].items() if isinstance(v, (int, float))]
    return {k: statistics.median(r[k] for r in rounds) for k in keys}


def fmt(v, unit):
    if unit == "values/s": return f"{v:,.0f}"
    if unit == "rows": return f"{v:,.0f}"
    return f"{v:.4f}" if v < 0.1 else f"{v:.3f}" if v < 10 else f"{v:.1f}"


def fmt_ratio(r):
    return f"{r:,.0f}×" if r >= 100 else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def table(args, mw, mf):
    "Markdown table: measurement | target | mlwork | MLflow | ratio | meets target."
    scale = args.runs / args.peer_runs   # MLflow created peer_runs runs; scale its create time
    fewer = args.peer_runs != args.runs
    # (key, label, unit, target value or None, 'max' | 'min' for the target / which way is better)
    create_target = 8 * args.runs / 10000
    rows = [
        ("import_s", "import", "s", 0.3, "max"),
        ("store_open_s", "open a new store", "s", None, "max"),
        ("import_open_s", "import + open a new store", "s", None, "max"),
        ("log_metric_p50_ms", "log_metric p50", "ms", 0.1, "max"),
        ("log_metric_p99_ms", "log_metric p99", "ms", None, "max"),
        ("single_total_s", f"{args.single:,} log_metric calls incl. run start/end", "s", None, "max"),
        ("batch_values_per_s", f"log_batch, {args.batch_values:,} values", "values/s", 500000, "min"),
        ("create_runs_s", f"create {args.runs:,} runs (10 params, 5 metrics)", "s", create_target, "max"),
        ("query_all_again_s", f"query all {args.runs:,} runs (pandas loaded, as in a notebook)", "s", 0.1, "max"),
        ("query_all_s", "query all, first call of a fresh process (imports pandas)", "s", None, "max"),
        ("query_filter_s", "query with filter", "s", 0.05, "max"),
    ]
    lines = ["| measurement | target | mlwork | MLflow | ratio | meets target |", "|---|---|---|---|---|---|"]
    for key, label, unit, target, sense in rows:
        a, b = mw[key], mf[key]
        note, approx = "", ""
        if key == "create_runs_s" and fewer:
            b, note = b * scale, f" (extrapolated from {args.peer_runs:,})"
        elif key.startswith("query") and fewer:
            # MLflow queried fewer runs, so the ratio can only understate mlwork's lead.
            note, approx = f" (over {args.peer_runs:,} runs)", "≥ "
        ratio = (b / a if sense == "max" else a / b) if a and b else float("nan")
        sign = "≤" if sense == "max" else "≥"
        if target is None:
            tgt, ok = "—", "—"
        else:
            tgt = f"{sign} {target:,g} {unit}"
            ok = "yes" if (a <= target if sense == "max" else a >= target) else "no"
        lines.append(f"| {label} ({unit}) | {tgt} | {fmt(a, unit)} | {fmt(b, unit)}{note} | {approx}{fmt_ratio(ratio)} | {ok} |")
    # Correctness check: rows returned by the filter vs what the data says.
    lines.append(f"| rows matched by the filter | = expected | {mw['query_filter_rows']:.0f} "
                 f"(expected {mw['query_filter_expected']:.0f}) | {mf['query_filter_rows']:.0f} "
                 f"(expected {mf['query_filter_expected']:.0f}) | — | "
                 f"{'yes' if mw['query_filter_rows'] == mw['query_filter_expected'] else 'no'} |")
    return "\n".join(lines)


def main():
    args = parse_args()
    if not MLFLOW_PY.exists():
        sys.exit(f"{MLFLOW_PY} not found: run `bash bench/setup_peers.sh` first")
    results = {"mlwork": [], "mlflow": []}
    for r in range(args.rounds):            # A B A B ...
        print(f"round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
        for side in ("mlwork", "mlflow"):
            results[side].append(one_round(side, args))
    print("import times", file=sys.stderr, flush=True)
    imports = import_times()

    mw, mf = medians(results["mlwork"]), medians(results["mlflow"])
    for m, side in ((mw, "mlwork"), (mf, "mlflow")):
        m["import_s"] = statistics.median(imports[side])
        # mlwork loads its heavy parts lazily, on first use: the sum shows the cost of getting started.
        m["import_open_s"] = m["import_s"] + m["store_open_s"]
    head = (f"# Tracking benchmark: mlwork {results['mlwork'][0]['version']} vs MLflow "
            f"{results['mlflow'][0]['version']}\n\n{time.strftime('%Y-%m-%d %H:%M:%S')}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}. Medians of {args.rounds} round(s) "
            f"(import: of 5). Ratio = MLflow/mlwork for times, mlwork/MLflow for values/s: > 1 means mlwork is faster.\n"
            f"Args: runs={args.runs}, peer-runs={args.peer_runs}, single={args.single}, "
            f"batch-values={args.batch_values}.\n")
    if args.runs != 10000:
        head += "Targets are set for 10,000 runs; the create target is scaled linearly to this run count.\n"
    out = head + "\n" + table(args, mw, mf) + "\n"
    print("\n" + out)

    raw = {"args": vars(args), "import_s": imports, "rounds": results}
    (HERE / "out").mkdir(exist_ok=True)
    path = HERE / "out" / f"tracking-{time.strftime('%Y%m%d-%H%M%S')}.md"
    path.write_text(out + "\n## Raw results\n\n```json\n" + json.dumps(raw, indent=1) + "\n```\n")
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
