"""mlwork's side of bench/drift.py, as a whole process: python bench/mlwork_drift.py REF.parquet CUR.parquet
Prints one line of JSON: seconds (drift only), total seconds of the process so far, drifted columns, peak RSS."""
import json, resource, sys, time
t0 = time.perf_counter()
import pandas as pd
from mlwork.drift import drift
import pyarrow as pa
def read(path):                              # (arrow keeps freed buffers in its pool; give them back after reading)
    df = pd.read_parquet(path); pa.default_memory_pool().release_unused(); return df
ref, cur = read(sys.argv[1]), read(sys.argv[2])
t1 = time.perf_counter()
rep = drift(ref, cur)
t2 = time.perf_counter()
print(json.dumps({"seconds": t2 - t1, "process_seconds": t2 - t0, "read_seconds": t1 - t0,
                  "drifted": sorted(rep.drifted_columns), "drift_share": rep.drift_share, "dataset_drift": rep.dataset_drift,
                  "scores": {c.column: c.score for c in rep.columns}, "methods": {c.column: c.method for c in rep.columns},
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
