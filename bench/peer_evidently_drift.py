"""Peer benchmark: Evidently's DataDriftPreset (default settings) on two parquet files.

    bash bench/setup_peers.sh   # creates bench/.venv-evidently
    bench/.venv-evidently/bin/python bench/peer_evidently_drift.py REF.parquet CUR.parquet

Numeric (non-bool) columns are declared numerical, every other column categorical.
Prints one line of JSON: seconds (Dataset wrapping + Report.run only), import_seconds,
drifted, drift_share, dataset_drift, scores, methods, peak_rss_mb, version.
"""

import json
import resource
import sys
import time

t0 = time.perf_counter()
import pandas as pd  # noqa: E402

import evidently  # noqa: E402

try:  # evidently >= 0.7
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    NEW_API = True
except ImportError:  # older releases: the legacy API
    try:
        from evidently.legacy.metric_preset import DataDriftPreset
        from evidently.legacy.pipeline.column_mapping import ColumnMapping
        from evidently.legacy.report import Report
    except ImportError:
        from evidently import ColumnMapping
        from evidently.metric_preset import DataDriftPreset
        from evidently.report import Report
    NEW_API = False
import_seconds = time.perf_counter() - t0


def column_types(df):
    num, cat = [], []
    for name, dtype in df.dtypes.items():
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            num.append(name)
        else:
            cat.append(name)
    return num, cat


def run_new(ref, cur, num, cat):
    t = time.perf_counter()
    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
    # include_tests only records a pass/fail per metric; it is where the per-column
    # "drift detected" verdict appears in the result dict (the metrics carry scores only).
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    seconds = time.perf_counter() - t
    result = snapshot.dict()

    scores, methods, thresholds, count, share, drift_share_limit = {}, {}, {}, None, None, 0.5
    for metric in result["metrics"]:
        config, value = metric.get("config", {}), metric.get("value")
        kind = config.get("type", "")
        if kind.endswith(":ValueDrift"):
            column = config["column"]
            scores[column] = float(value)
            methods[column] = config.get("method")
            thresholds[column] = config.get("threshold")
        elif kind.endswith(":DriftedColumnsCount"):
            count, share = value["count"], value["share"]
            drift_share_limit = config.get("drift_share", drift_share_limit)

    drifted, dataset_drift = [], None
    for test in result.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        kind = params.get("type", "")
        failed = test.get("status") == "FAIL"
        if kind.endswith(":ValueDrift"):
            if failed:
                drifted.append(params["column"])
        elif kind.endswith(":DriftedColumnsCount"):
            dataset_drift = failed  # the test is "share of drifted columns < drift_share"
    if dataset_drift is None:
        dataset_drift = share >= drift_share_limit
    if count is not None and int(count) != len(drifted):
        print(f"warning: {len(drifted)} columns failed their drift test but "
              f"DriftedColumnsCount says {count}", file=sys.stderr)
    return seconds, sorted(drifted), share, dataset_drift, scores, methods


def run_legacy(ref, cur, num, cat):
    t = time.perf_counter()
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=ref, current_data=cur,
               column_mapping=ColumnMapping(numerical_features=num, categorical_features=cat))
    seconds = time.perf_counter() - t
    result = report.as_dict()
    drifted, scores, methods, share, dataset_drift = [], {}, {}, None, None
    for metric in result["metrics"]:
        res = metric.get("result", {})
        if "drift_by_columns" in res:
            for column, col in res["drift_by_columns"].items():
                scores[column] = float(col["drift_score"])
                methods[column] = col["stattest_name"]
                if col["drift_detected"]:
                    drifted.append(column)
        if "share_of_drifted_columns" in res:
            share, dataset_drift = res["share_of_drifted_columns"], res["dataset_drift"]
    return seconds, sorted(drifted), share, dataset_drift, scores, methods


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: peer_evidently_drift.py REF.parquet CUR.parquet")
    ref, cur = pd.read_parquet(argv[0]), pd.read_parquet(argv[1])
    num, cat = column_types(ref)
    run = run_new if NEW_API else run_legacy
    seconds, drifted, share, dataset_drift, scores, methods = run(ref, cur, num, cat)
    print(json.dumps({
        "seconds": round(seconds, 4),
        "import_seconds": round(import_seconds, 4),
        "drifted": drifted,
        "drift_share": float(share),
        "dataset_drift": bool(dataset_drift),
        "scores": scores,
        "methods": methods,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "version": evidently.__version__,
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
