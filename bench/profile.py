"""Profiling benchmark: mlwork.profile vs the same statistics with plain pandas, 1M rows x 30 columns.

    .venv/bin/python bench/profile.py [--rows 1000000] [--rounds 2]

Both sides compute, per column, count, missing, distinct, min/max/mean/std, 11 quantiles and a
20-bin histogram (numbers) or the top 20 categories (text), plus the correlation matrix and each
feature's target mean per decile or category. Each side runs in a fresh process (A B A B) on the
same generated data; the table shows the median wall time and the peak memory (max RSS).
"""
import argparse, json, resource, statistics, subprocess, sys, time

GEN = """
import numpy as np, pandas as pd
def make(n):
    rng = np.random.default_rng(0)
    d = {f"n{i}": rng.normal(i, 1 + i / 10, n) for i in range(20)}
    d.update({f"c{i}": pd.Categorical(rng.choice(list("abcdefgh"), n)) for i in range(5)})
    d.update({f"s{i}": rng.choice(["north", "south", "east", "west", "centre"], n).astype(object) for i in range(4)})
    d["target"] = rng.integers(0, 2, n)
    df = pd.DataFrame(d)
    df.loc[::97, "n3"] = np.nan
    return df
"""

MLWORK = GEN + """
import time, json, sys, resource
from mlwork.profile import profile
df = make(int(sys.argv[1]))
t = time.perf_counter(); p = profile(df, target="target"); s = time.perf_counter() - t
print(json.dumps({"seconds": s, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "median_n0": p["n0"]["quantiles"]["0.5"]}))
"""

PANDAS = GEN + """
import time, json, sys, resource
import numpy as np, pandas as pd
df = make(int(sys.argv[1]))
t = time.perf_counter()
num = df.select_dtypes("number").columns
out = {}
for c in df.columns:
    s = df[c]
    r = {"count": int(s.count()), "missing": int(s.isna().sum()), "distinct": int(s.nunique())}
    if c in num:
        r.update(min=s.min(), max=s.max(), mean=s.mean(), std=s.std(),
                 quantiles=s.quantile([0, .01, .05, .1, .25, .5, .75, .9, .95, .99, 1]).tolist(),
                 histogram=np.histogram(s.dropna(), bins=20)[0].tolist())
        if c != "target":
            r["relation"] = df.groupby(pd.qcut(s, 10, duplicates="drop"), observed=True)["target"].mean().tolist()
    else:
        r["top"] = s.value_counts().head(20).to_dict()
        r["relation"] = df.groupby(s, observed=True)["target"].mean().tolist()
    out[c] = r
corr = df[num].corr()
s = time.perf_counter() - t
print(json.dumps({"seconds": s, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "median_n0": out["n0"]["quantiles"][5]}))
"""


def run(code, rows):
    p = subprocess.run([sys.executable, "-c", code, str(rows)], capture_output=True, text=True)
    if p.returncode: sys.exit(f"failed:\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    res = {"mlwork": [], "pandas": []}
    for r in range(a.rounds):
        for side, code in (("mlwork", MLWORK), ("pandas", PANDAS)):
            res[side].append(run(code, a.rows))
            print(f"  round {r + 1} {side}: {res[side][-1]['seconds']:.2f} s", file=sys.stderr)
    assert abs(res["mlwork"][0]["median_n0"] - res["pandas"][0]["median_n0"]) < 1e-9, "the two sides disagree"
    med = {s: {k: statistics.median(x[k] for x in v) for k in ("seconds", "maxrss_mb")} for s, v in res.items()}
    print(f"\n# Profiling {a.rows:,} rows x 30 columns (medians of {a.rounds})\n")
    print("| measurement | target | mlwork | pandas | ratio |\n|---|---|---|---|---|")
    print(f"| profile time (s) | a few seconds | {med['mlwork']['seconds']:.2f} | {med['pandas']['seconds']:.2f} | "
          f"{med['pandas']['seconds'] / med['mlwork']['seconds']:.1f}x |")
    print(f"| peak memory, whole process (MB) | — | {med['mlwork']['maxrss_mb']:.0f} | {med['pandas']['maxrss_mb']:.0f} | "
          f"{med['pandas']['maxrss_mb'] / med['mlwork']['maxrss_mb']:.2f}x |")


if __name__ == "__main__":
    main()
