"""scikit-learn vs onnxruntime for the demo pipelines (issue 17): single-row p50/p99 and 1,000-row throughput,
measured from a JSON row (text) to the answer (the probability of churn), not only the model call.

    python bench/onnx_latency.py [--customers 20000] [--trees 200] [--repeat 2000]

scikit-learn path: json.loads -> pandas.DataFrame -> pipeline.predict_proba. onnxruntime path: json.loads ->
columns -> mlwork.edge.OnnxModel.feed_columns (a numpy array per input, no DataFrame: what `mlwork serve --runtime
onnx` does) -> session.run. The pipelines are built as the train job builds them. Run it on a quiet machine."""
import argparse, json, statistics, sys, time
from pathlib import Path
import numpy as np, pandas as pd
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_onnx import FEATURES, demo_pipeline


def timings(fn, payloads, repeat):
    for p in payloads[:20]: fn(p)                         # warm up
    out = []
    for i in range(repeat):
        p = payloads[i % len(payloads)]
        t = time.perf_counter(); fn(p); out.append(time.perf_counter() - t)
    return np.array(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=20000)
    ap.add_argument("--trees", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=2000)
    a = ap.parse_args()
    from mlwork.synthetic import churn_pair
    from mlwork.edge import export
    ref, cur = churn_pair(n_customers=a.customers, seed=0)
    rows = json.loads(cur[FEATURES].head(1000).to_json(orient="records"))
    singles = [json.dumps(r) for r in rows[:200]]
    batch = json.dumps(rows)
    print(f"{'pipeline':18} {'runtime':12} {'p50 µs':>9} {'p99 µs':>9} {'1,000 rows/s':>13}  parity")
    summary = {}
    for kind in ("logreg", "random_forest", "gradient_boosting"):
        model = demo_pipeline(kind, ref[FEATURES], n_estimators=a.trees).fit(ref[FEATURES], ref["churned"])
        ex = export(model, cur[FEATURES].head(2000))
        rt = ex.runtime()
        sk = lambda text: model.predict_proba(pd.DataFrame(json.loads(text) if text[0] == "[" else [json.loads(text)])[FEATURES])[:, 1]
        def ox(text):
            rows = json.loads(text) if text[0] == "[" else [json.loads(text)]
            return rt.run(rt.feed_columns({f: [r.get(f) for r in rows] for f in rt.feature_names_in_}))["probabilities"][:, 1]
        res = {}
        for name, fn in (("scikit-learn", sk), ("onnxruntime", ox)):
            t1 = timings(fn, singles, a.repeat if name == "onnxruntime" or kind != "random_forest" else a.repeat // 4)
            tb = timings(fn, [batch], 30)
            res[name] = (np.percentile(t1, 50) * 1e6, np.percentile(t1, 99) * 1e6, 1000 / np.median(tb))
            print(f"{kind:18} {name:12} {res[name][0]:9.1f} {res[name][1]:9.1f} {res[name][2]:13,.0f}  "
                  + (f"{ex.parity.precision}, max |Δp| {ex.parity.value:.1e}" if name == "onnxruntime" else ""))
        summary[kind] = (res["scikit-learn"][0] / res["onnxruntime"][0], res["onnxruntime"][2] / res["scikit-learn"][2])
    print("\nspeed-up of onnxruntime (single-row p50; 1,000-row throughput); targets: random forest >= 20x, logreg >= 5x")
    for kind, (s1, sb) in summary.items(): print(f"  {kind:18} {s1:6.1f}x  {sb:6.1f}x")


if __name__ == "__main__":
    main()
