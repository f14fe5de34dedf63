"""Drift over Parquet through merged partition sketches on a 2-worker local Dask cluster, against the in-memory run
on the same data (issue 15). Prints a table: seconds, peak RSS per worker, scores, ε, verdicts, borderline columns.

    .venv/bin/python bench/drift_partitioned.py --rows 1000000 [--cols 25] [--files N] [--memory-limit 1GB]
    .venv/bin/python bench/drift_partitioned.py --rows 10000000      # the issue's table (a quiet machine: ~10 GB for the in-memory run)

The in-memory run loads all of the current data in this process (the slow, big one at 10M rows: skip it with
--no-memory). Do not run 10M rows on a busy machine."""
import argparse, resource, shutil, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd


def make(rows:int, cols:int, seed:int, shift:float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = {}
    for j in range(cols):
        kind = j % 5
        if kind == 0: out[f"n{j}"] = rng.normal(shift * (j % 3 == 0), 1, rows)
        elif kind == 1: out[f"l{j}"] = rng.lognormal(0, 1, rows) * (1 + shift * (j % 2))
        elif kind == 2: out[f"p{j}"] = rng.poisson(3 + shift, rows)
        elif kind == 3: out[f"c{j}"] = pd.Categorical.from_codes(rng.integers(0, 8, rows), [f"k{i}" for i in range(8)]).astype(str)
        else: out[f"m{j}"] = np.where(rng.random(rows) < 0.05 + 0.1 * shift, np.nan, rng.normal(size=rows))
    return pd.DataFrame(out)


def write(folder:Path, rows:int, cols:int, files:int, seed:int, shift:float):
    folder.mkdir(parents=True)
    per = -(-rows // files)
    for i in range(files):
        n = min(per, rows - i * per)
        if n > 0: make(n, cols, seed * 1000 + i, shift).to_parquet(folder / f"part-{i:04d}.parquet", index=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--ref-rows", type=int, default=200_000)
    ap.add_argument("--cols", type=int, default=25)
    ap.add_argument("--files", type=int, default=None, help="Parquet files (default: one per 250,000 rows, at least 20)")
    ap.add_argument("--memory-limit", default="1GB")
    ap.add_argument("--shift", type=float, default=0.3)
    ap.add_argument("--no-memory", action="store_true", help="skip the in-memory run")
    ap.add_argument("--baseline-rows", type=int, default=1_000_000, help="rows of the in-memory figure the time is compared with")
    a = ap.parse_args()
    a.files = a.files or max(20, -(-a.rows // 250_000))
    from mlwork.drift import drift, drift_partitioned
    tmp = Path(tempfile.mkdtemp(prefix="drift-bench-"))
    try:
        ref = make(a.ref_rows, a.cols, 1, 0.0)
        t = time.perf_counter(); write(tmp / "cur", a.rows, a.cols, a.files, 2, a.shift)
        print(f"wrote {a.rows:,} rows x {a.cols} columns in {a.files} files in {time.perf_counter() - t:.1f} s")
        from distributed import Client, LocalCluster
        with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=a.memory_limit, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            t = time.perf_counter()
            part = drift_partitioned(ref, str(tmp / "cur" / "*.parquet"))
            part_s = time.perf_counter() - t
            peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        mem, mem_s = None, None
        files = sorted((tmp / "cur").glob("*.parquet"))
        base_files = files[:max(1, round(len(files) * min(1.0, a.baseline_rows / a.rows)))]
        if not a.no_memory:
            cur = pd.read_parquet(tmp / "cur")
            t = time.perf_counter(); mem = drift(ref, cur); mem_s = time.perf_counter() - t
            del cur
        if mem_s is not None and len(base_files) == len(files): base_s, base_n = mem_s, a.rows     # the same run
        else:
            base = pd.concat([pd.read_parquet(f) for f in base_files], ignore_index=True)
            t = time.perf_counter(); drift(ref, base); base_s = time.perf_counter() - t      # the in-memory figure to compare with
            base_n = len(base); del base
        print(f"\npartitioned: {part_s:.1f} s on 2 workers; peak RSS per worker "
              + ", ".join(f"{v:,.0f} MB" for v in peaks.values()) + f" (limit {a.memory_limit})")
        if mem is not None: print(f"in memory:   {mem_s:.1f} s (drift only, data already loaded); peak RSS of this process "
                                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
        print(f"\n{'column':8} {'method':13} {'in memory':>10} {'sketch':>10} {'|diff|':>9} {'eps':>8}  verdicts  borderline")
        worst = 0.0
        for i, s in enumerate(part.columns):
            m = mem.columns[i] if mem else None
            d = abs(m.score - s.score) if m and m.score is not None and s.score is not None else float("nan")
            eps = s.stats.get("epsilon", 0.0)
            if d == d and d > max(eps, 1e-9): worst = max(worst, d - eps)
            print(f"{s.column:8} {s.method:13} {'' if m is None or m.score is None else f'{m.score:10.5f}':>10} "
                  f"{'' if s.score is None else f'{s.score:10.5f}':>10} {d:9.2e} {eps:8.4f}  "
                  f"{'-' if m is None else ('D' if m.drifted else '.')}/{'D' if s.drifted else '.'}       {'yes' if s.borderline else ''}")
        print(f"\n{part.summary()}" + (f"\nin memory: {mem.summary()}" if mem else ""))
        within = None if mem is None else worst == 0
        agree = None if mem is None else all(x.drifted == y.drifted or y.borderline for x, y in zip(mem.columns, part.columns))
        if mem: print("scores within ε: " + ("yes" if within else f"NO (by {worst:.2e})") +
                      "; verdicts agree except borderline: " + ("yes" if agree else "NO"))
        peak = max(peaks.values())
        yes = lambda ok: "-" if ok is None else "yes" if ok else "NO"
        rows = [("data", f"{a.rows:,} rows x {a.cols} columns, {a.files} Parquet files", ""),
                ("cluster", f"LocalCluster: 2 workers x 1 thread, memory_limit {a.memory_limit}", ""),
                ("peak RSS per worker", f"{peak:,.0f} MB (" + ", ".join(f"{v:,.0f}" for v in peaks.values()) + ")",
                 f"<= 1,024 MB: {yes(peak <= 1024)}"),
                ("whole run (read, sketch, merge, score)", f"{part_s:.1f} s", f"<= 60 s: {yes(part_s <= 60)}"),
                ("scores within ε of in memory", "-" if mem is None else f"worst excess {worst:.1e}", yes(within)),
                ("verdicts agree (but borderline)", ", ".join(part.meta["borderline"]) or "no borderline column", yes(agree)),
                (f"in memory, {base_n:,} rows (drift only)", f"{base_s:.1f} s",
                 f"partitioned {a.rows:,} rows = {part_s / base_s:.1f}x that, {a.rows / base_n:.0f}x the rows"),
                *([(f"in memory, {a.rows:,} rows (drift only)", "-" if mem_s is None else f"{mem_s:.1f} s", "")] if base_n != a.rows else [])]
        print("\n| measure | value | target / comparison |\n|---|---|---|")
        for r in rows: print(f"| {r[0]} | {r[1]} | {r[2]} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
