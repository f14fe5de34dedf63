"""One round of the tracking benchmark against MLflow (SQLite backend, fresh temp dir).

Run with the MLflow venv (see setup_peers.sh):
    bench/.venv-mlflow/bin/python bench/peer_mlflow_tracking.py --runs 300 --single 300 --batch-values 3000
Prints one JSON object on the last line of stdout; tracking.py runs this for you.
"""
import os, sys, tempfile, time
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from _tracking_common import (FILTER, emit, expected_filter_rows, latency_ms, metric_values,
                              parse_args, run_data, timer)
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

BATCH = 1000  # MLflow's limit of metrics per log_batch call


def main():
    args = parse_args()
    data, values = run_data(args.runs), metric_values(max(args.single, args.batch_values))
    res = {"tool": "mlflow", "version": mlflow.__version__, "runs": args.runs,
           "single": args.single, "batch_values": args.batch_values}
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-") as tmp:
        # Opening the store: the first use of a fresh SQLite DB creates its tables.
        with timer() as t:
            mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
            exp_id = mlflow.create_experiment("bench")
        res["store_open_s"] = t.s
        client = MlflowClient()

        # Single log_metric calls to an active run, each call timed on its own.
        # single_total_s also counts starting and ending the run.
        ns, single_exp = [], mlflow.create_experiment("single")
        with timer() as t:
            with mlflow.start_run(experiment_id=single_exp):
                for i in range(args.single):
                    t0 = time.perf_counter_ns()
                    mlflow.log_metric("loss", values[i], step=i)
                    ns.append(time.perf_counter_ns() - t0)
        res.update(latency_ms(ns), single_total_s=t.s)

        # Many values to one run through log_batch, 1000 per call (Metric objects built beforehand).
        # The time includes creating and ending the run, on both sides.
        batch_exp, ts = mlflow.create_experiment("batch"), int(time.time() * 1000)
        metrics = [Metric("loss", values[i], ts, i) for i in range(args.batch_values)]
        with timer() as t:
            run_id = client.create_run(batch_exp).info.run_id
            for k in range(0, len(metrics), BATCH):
                client.log_batch(run_id, metrics=metrics[k:k + BATCH])
            client.set_terminated(run_id)
        res["batch_values_per_s"] = args.batch_values / t.s

        # Create --runs runs with 10 params and 5 metrics each.
        with timer() as t:
            for params, mets in data:
                with mlflow.start_run(experiment_id=exp_id):
                    mlflow.log_params(params)
                    mlflow.log_metrics(mets)
        res["create_runs_s"] = t.s

        # Fetch every run of the experiment as a DataFrame: the first call in this process (it may
        # load modules such as pandas), then the same call again.
        with timer() as t:
            df = mlflow.search_runs(experiment_ids=[exp_id], max_results=100000)
        res["query_all_s"], res["query_all_rows"] = t.s, len(df)
        with timer() as t:
            mlflow.search_runs(experiment_ids=[exp_id], max_results=100000)
        res["query_all_again_s"] = t.s

        # Filter on one metric and one param.
        with timer() as t:
            df = mlflow.search_runs(experiment_ids=[exp_id], filter_string=FILTER, max_results=100000)
        res["query_filter_s"], res["query_filter_rows"] = t.s, len(df)
        res["query_filter_expected"] = expected_filter_rows(data)

    if res["query_all_rows"] != args.runs:
        sys.exit(f"query_all returned {res['query_all_rows']} rows, expected {args.runs}")
    emit(res)


if __name__ == "__main__":
    main()
