"""(a) build time, (b) in-place update time, (e) bytes sent to the front end -- Python side only.

Replaces comm.create_comm with a comm that serializes every message like the kernel would (JSON text +
binary buffers) and records its size, so build/update times include the widget's own serialization.
Run: .venv/bin/python bench/grid/py_bench.py [candidate ...]   -> prints a table, writes py_bench.json
"""
import gc, json, statistics, sys, time
from pathlib import Path

import comm
from comm.base_comm import BaseComm
from jupyter_client.jsonutil import json_default

sys.path.insert(0, str(Path(__file__).parent))
from gridbench import ADAPTERS, make_runs, refreshed

SENT = []          # (msg_type, json_bytes, buffer_bytes)


class RecordingComm(BaseComm):
    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        text = json.dumps(data, default=json_default)
        nbuf = sum(memoryview(b).nbytes for b in (buffers or []))
        SENT.append((msg_type, len(text.encode()), nbuf))


comm.create_comm = lambda *a, **k: RecordingComm(*a, **k)


def bench(name, repeat=5):
    A = ADAPTERS[name]
    df, df2 = make_runs(), refreshed(make_runs())
    builds, updates, open_bytes, update_bytes, esm_bytes = [], [], [], [], 0
    for _ in range(repeat):
        gc.collect()
        SENT.clear()
        t = time.perf_counter(); w = A.build(df); builds.append(time.perf_counter() - t)
        # everything sent while building: comm_open(s) + the trait updates some widgets send right after
        open_bytes.append(sum(s[1] + s[2] for s in SENT))
        esm = getattr(w, "_esm", "")
        esm_bytes = len(esm.encode()) if isinstance(esm, str) else 0
        SENT.clear()
        t = time.perf_counter(); A.update(w, df2); updates.append(time.perf_counter() - t)
        update_bytes.append(sum(s[1] + s[2] for s in SENT if s[0] == "comm_msg"))
        n_update_msgs = len(SENT)
        w.close()
    return {"candidate": name, "build_s_median": statistics.median(builds), "build_s_min": min(builds),
            "update_s_median": statistics.median(updates), "update_s_min": min(updates),
            "open_msg_MB": open_bytes[-1] / 1e6, "of_which_js_source_MB": esm_bytes / 1e6,
            "update_msg_MB": update_bytes[-1] / 1e6, "update_msgs": n_update_msgs, "repeat": repeat}


if __name__ == "__main__":
    names = sys.argv[1:] or list(ADAPTERS)
    rows = [bench(n) for n in names]
    for r in rows:
        print(" | ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    Path(__file__).with_name("py_bench.json").write_text(json.dumps(rows, indent=1))
