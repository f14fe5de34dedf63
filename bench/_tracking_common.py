"""Shared helpers for the tracking benchmark scripts (mlwork and MLflow sides).

Both sides import this file (it sits next to them, so it is on `sys.path`), which
guarantees they parse the same arguments and log exactly the same data.
Standard library only: it runs in both the mlwork venv and the MLflow venv.
"""
import argparse, json, random, statistics, time

FILTER = "metrics.m0 > 0.5 and params.p0 = 'v3'"  # the filtered query, same on both sides


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=10000, help="runs to create and query")
    p.add_argument("--single", type=int, default=3000, help="single log_metric calls")
    p.add_argument("--batch-values", type=int, default=100000, help="metric values logged in batches")
    return p.parse_args()


def run_data(n):
    "Params and metrics of `n` runs: 10 params (p0 a string) and 5 random metrics each, seeded."
    rng = random.Random(42)
    out = []
    for i in range(n):
        params = {"p0": f"v{i % 7}", **{f"p{j}": round(rng.uniform(0, 100), 3) if j % 2 else i % (j + 10)
                                         for j in range(1, 10)}}
        metrics = {f"m{j}": rng.random() for j in range(5)}
        out.append((params, metrics))
    return out


def expected_filter_rows(data):
    "How many runs the filtered query should return (computed in plain Python)."
    return sum(1 for p, m in data if m["m0"] > 0.5 and p["p0"] == "v3")


def metric_values(n, seed=7):
    "`n` random floats for the log_metric / log_batch measurements."
    rng = random.Random(seed)
    return [rng.random() for _ in range(n)]


def latency_ms(call_ns):
    "p50 and p99 (ms) of a list of per-call durations in nanoseconds."
    q = statistics.quantiles(call_ns, n=100, method="inclusive")
    return {"log_metric_p50_ms": statistics.median(call_ns) / 1e6, "log_metric_p99_ms": q[98] / 1e6}


class timer:
    "`with timer() as t: ...` then `t.s` is the elapsed wall time in seconds."
    def __enter__(self):
        self.t0 = time.perf_counter(); return self
    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0


def emit(result):
    "Print the result as one JSON object on the last line of stdout (the driver reads it)."
    print(json.dumps(result), flush=True)
