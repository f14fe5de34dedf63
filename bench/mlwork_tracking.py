"""One round of the tracking benchmark against mlwork (embedded store, fresh temp dir).

Run with the project venv:
    .venv/bin/python bench/mlwork_tracking.py --runs 1000 --single 1000 --batch-values 20000
Prints one JSON object on the last line of stdout; tracking.py runs this for you.
Same arguments, data and measurements as peer_mlflow_tracking.py.
"""
import sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the working tree's mlwork, installed or not
from _tracking_common import (FILTER, emit, expected_filter_rows, latency_ms, metric_values,
                              parse_args, run_data, timer)
import mlwork as mw

BATCH = 10000  # metric values per log_batch call


def main():
    args = parse_args()
    data, values = run_data(args.runs), metric_values(max(args.single, args.batch_values))
    res = {"tool": "mlwork", "version": getattr(mw, "__version__", "?"), "runs": args.runs,
           "single": args.single, "batch_values": args.batch_values}
    with tempfile.TemporaryDirectory(prefix="bench-mlwork-") as tmp:
        # Opening the store: create the workspace (settings.ini + SQLite store), which opens it.
        with timer() as t:
            ws = mw.Workspace.init(tmp)
        res["store_open_s"] = t.s
        ws.close()
        # Reopening the existing workspace (not in the table; MLflow has no separate step).
        with timer() as t:
            ws = mw.Workspace.open(tmp)
        res["store_reopen_s"] = t.s

        # Single log_metric calls to an active run, each call timed on its own.
        # single_total_s also counts starting and ending the run, so deferred writes show up.
        ns = []
        with timer() as t:
            with ws.start_run("single") as run:
                for i in range(args.single):
                    t0 = time.perf_counter_ns()
                    run.log_metric("loss", values[i], step=i)
                    ns.append(time.perf_counter_ns() - t0)
        res.update(latency_ms(ns), single_total_s=t.s)

        # Many values to one run through log_batch, 10000 per call (tuples built beforehand).
        # The time includes starting and ending the run, on both sides.
        metrics = [("loss", values[i], i) for i in range(args.batch_values)]
        with timer() as t:
            with ws.start_run("batch") as run:
                for k in range(0, len(metrics), BATCH):
                    run.log_batch(metrics=metrics[k:k + BATCH])
        res["batch_values_per_s"] = args.batch_values / t.s

        # Create --runs runs with 10 params and 5 metrics each.
        with timer() as t:
            for params, mets in data:
                with ws.start_run("bench", params=params) as run:
                    run.log_metrics(mets)
        res["create_runs_s"] = t.s

        # Fetch every run of the experiment as a DataFrame: the first call in this process (it may
        # load modules such as pandas), then the same call again.
        with timer() as t:
            df = ws.runs("bench")
        res["query_all_s"], res["query_all_rows"] = t.s, len(df)
        with timer() as t:
            ws.runs("bench")
        res["query_all_again_s"] = t.s

        # Filter on one metric and one param.
        with timer() as t:
            df = ws.runs("bench", where=FILTER)
        res["query_filter_s"], res["query_filter_rows"] = t.s, len(df)
        res["query_filter_expected"] = expected_filter_rows(data)

    if res["query_all_rows"] != args.runs:
        sys.exit(f"query_all returned {res['query_all_rows']} rows, expected {args.runs}")
    emit(res)


if __name__ == "__main__":
    main()
