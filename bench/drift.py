"""Drift benchmark: mlwork.drift vs Evidently's DataDriftPreset, whole processes, on the same parquet pairs.

    bash bench/setup_peers.sh                          # once: the Evidently venv
    .venv/bin/python bench/drift.py                    # small cases + 10k, 100k, 1M rows (Evidently 1M: ~80 s)
    .venv/bin/python bench/drift.py --rows 1000000 --small '' --skip-peer   # only mlwork's target row
    .venv/bin/python bench/drift.py --rows 800,5000:800 --small ''          # REF:CUR sizes may differ

Each pair has 20 numeric and 5 categorical (string) columns; the current side has 5 drifted ones
(n0 mean +1 std, n1 variance x3, n2 mean +0.5 std, c0 shares 0.2 each -> 0.6/0.1/0.1/0.1/0.1,
c1 -> 0.05/0.05/0.3/0.3/0.3). Pairs are generated once and cached in bench/out/.

Per size, mlwork_drift.py (this interpreter) and peer_evidently_drift.py (the Evidently venv) run as
fresh processes, alternating A B (mlwork 3 times, Evidently once by default: its 1M run takes minutes); the whole-process wall time is measured from here
(perf_counter around the child), peak RSS from the child's rusage (wait4), the drift-only time is what
the child prints. The tables show medians over rounds, whether the per-column and dataset verdicts
agree and how far the scores are apart where both sides used the same method. Both pick the method by
sample size: KS / chi-square at <= 1000 rows, normalised Wasserstein / Jensen-Shannon above; mlwork
looks at the smaller of the two samples, Evidently at the reference only (so 5000:800 differs).
Evidently's chi-square is a goodness-of-fit test against the reference shares, mlwork's a contingency
test of the two samples: same name, different p-values, so chi-square scores are not compared.

The mlwork target: 1,000,000 x 25 columns in <= 2.5 s whole-process and <= 1.2 GB (1200 MB) peak.
Tables go to bench/out/drift.txt, the raw results to bench/out/drift.json.
"""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
EVIDENTLY_PY = HERE / ".venv-evidently" / "bin" / "python"
SIDES = {"mlwork": (Path(sys.executable), HERE / "mlwork_drift.py"),
         "evidently": (EVIDENTLY_PY, HERE / "peer_evidently_drift.py")}
WARM = {"mlwork": "import pandas, pyarrow, scipy.stats, mlwork.drift",
        "evidently": "import pandas, pyarrow, evidently.presets"}
GEN_VERSION = 1                       # bump when the generator changes (cache file names carry it)
LABELS = ["alpha", "beta", "gamma", "delta", "epsilon"]
EXPECTED = ["c0", "c1", "n0", "n1", "n2"]
TARGET_ROWS, TARGET_S, TARGET_MB = 1_000_000, 2.5, 1200


# ---- data --------------------------------------------------------------------------------------

def make(n, current):
    "n rows: n0..n19 ~ Normal(i, 1 + i/10), c0..c4 uniform over 5 labels; the current side drifts 5 columns."
    import numpy as np, pandas as pd
    rng = np.random.default_rng(2 if current else 1)
    d = {}
    for i in range(20):
        mean, std = float(i), 1 + i / 10
        if current and i == 0: mean += 1.0 * std            # mean shift of 1 std
        if current and i == 1: std *= 3 ** 0.5              # variance x3
        if current and i == 2: mean += 0.5 * std            # mean shift of 0.5 std
        d[f"n{i}"] = rng.normal(mean, std, n)
    labels = np.array(LABELS)
    for i in range(5):
        p = [0.2] * 5
        if current and i == 0: p = [0.6, 0.1, 0.1, 0.1, 0.1]
        if current and i == 1: p = [0.05, 0.05, 0.3, 0.3, 0.3]
        d[f"c{i}"] = rng.choice(labels, n, p=p).astype(object)
    return pd.DataFrame(d)


def pair(nref, ncur):
    "Paths of the cached (reference, current) parquet files, generated if missing."
    OUT.mkdir(exist_ok=True)
    paths = []
    for side, n in (("ref", nref), ("cur", ncur)):
        path = OUT / f"drift_v{GEN_VERSION}_{side}_{n}.parquet"
        if not path.exists():
            t = time.perf_counter()
            tmp = path.with_suffix(".tmp")
            import pyarrow as pa, pyarrow.parquet as pq
            # no pandas metadata: each side reads the strings its pandas' own way (object in 2.x, str in 3.x)
            pq.write_table(pa.Table.from_pandas(make(n, side == "cur"), preserve_index=False).replace_schema_metadata(None), tmp)
            tmp.rename(path)
            print(f"  generated {path.relative_to(ROOT)} ({time.perf_counter() - t:.1f} s)", file=sys.stderr, flush=True)
        with open(path, "rb") as f:                          # into the page cache: both sides read warm files
            while f.read(1 << 24): pass
        paths.append(path)
    return paths


# ---- running -----------------------------------------------------------------------------------

def run(side, ref, cur):
    "One whole process: wall time from outside, peak RSS from its rusage, plus the JSON it prints."
    py, script = SIDES[side]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen([str(py), str(script), str(ref), str(cur)], cwd=ROOT, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0); err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if p.returncode:
        print(f"\n*** {side} failed (exit {p.returncode}) on {ref.name} {cur.name}\n{stdout[-3000:]}\n{stderr[-5000:]}",
              file=sys.stderr)
        sys.exit(1)
    res = json.loads(stdout.strip().splitlines()[-1])
    res["wall_seconds"] = wall
    res["outer_peak_rss_mb"] = usage.ru_maxrss / 1024
    return res


def method(name):
    "One name per method for both sides (Evidently: 'wasserstein', 'Wasserstein distance (normed)', ...)."
    n = (name or "").lower()
    for key, out in (("wasserstein", "wasserstein"), ("jensen", "jensenshannon"), ("k-s", "ks"), ("ks", "ks"),
                     ("chi", "chi2"), ("z", "z")):
        if n.startswith(key) or key in n: return out
    return n


def compare(mw, ev):
    "Verdicts and scores of the two sides on one pair."
    only_mw, only_ev = sorted(set(mw["drifted"]) - set(ev["drifted"])), sorted(set(ev["drifted"]) - set(mw["drifted"]))
    same, other = {}, {}
    for col, m in mw["methods"].items():
        e = method(ev["methods"].get(col))
        if col not in ev["scores"] or mw["scores"].get(col) is None: continue
        diff = abs(mw["scores"][col] - ev["scores"][col])
        key = f"{m}" if m == e else f"{m} vs {e}"
        # chi-square: same name, different tests (contingency vs goodness-of-fit), so not "the same method"
        (same if m == e and m != "chi2" else other).setdefault(key, []).append((diff, col))
    return {"columns_agree": not only_mw and not only_ev, "only_mlwork": only_mw, "only_evidently": only_ev,
            "dataset_agree": mw["dataset_drift"] == ev["dataset_drift"],
            "same_method": {k: {"columns": len(v), "max_abs_diff": max(v)[0], "at": max(v)[1]} for k, v in same.items()},
            "other_method": {k: {"columns": len(v), "max_abs_diff": max(v)[0], "at": max(v)[1]} for k, v in other.items()}}


def medians(results):
    "The last round's verdicts and scores, with medians of the timings and memory over all rounds."
    out = dict(results[-1])
    for k in ("wall_seconds", "seconds", "outer_peak_rss_mb", "peak_rss_mb", "process_seconds", "read_seconds", "import_seconds"):
        if k in out: out[k] = statistics.median(r[k] for r in results)
    out["rounds"] = len(results)
    out["max_outer_peak_rss_mb"] = max(r["outer_peak_rss_mb"] for r in results)
    out["verdicts_stable"] = all(r["drifted"] == results[0]["drifted"] for r in results)
    return out


# ---- report ------------------------------------------------------------------------------------

def cols(names):
    return ", ".join(names) if names else "none"


def section(nref, ncur, res, cmp):
    size = f"{nref:,} rows" if nref == ncur else f"reference {nref:,} rows, current {ncur:,} rows"
    n = {s: r["rounds"] for s, r in res.items()}
    lines = [f"## {size} x 25 columns" + (f" (medians of {', '.join(f'{k} {v}' for k, v in n.items())})"
                                           if max(n.values()) > 1 else ""), "",
             "| tool | whole process (s) | drift only (s) | peak memory (MB) | drifted columns | dataset drift |",
             "|---|---|---|---|---|---|"]
    for side, r in res.items():
        name = "mlwork" if side == "mlwork" else f"Evidently {r.get('version', '')}".strip()
        verdict = f"{'yes' if r['dataset_drift'] else 'no'} ({r['drift_share']:.0%} of columns)"
        methods = sorted({method(m) for m in r["methods"].values()})
        lines.append(f"| {name} ({'/'.join(methods)}) | {r['wall_seconds']:.2f} | {r['seconds']:.2f} | "
                     f"{r['outer_peak_rss_mb']:.0f} | {cols(r['drifted'])} | {verdict} |")
    lines.append("")
    mw = res["mlwork"]
    if cmp:
        if cmp["columns_agree"]:
            lines.append(f"- per-column verdicts agree: {len(mw['drifted'])} drifted ({cols(mw['drifted'])})")
        else:
            lines.append(f"- per-column verdicts DIFFER: only mlwork {cols(cmp['only_mlwork'])}; "
                         f"only Evidently {cols(cmp['only_evidently'])}")
        lines.append(f"- dataset verdict {'agrees' if cmp['dataset_agree'] else 'DIFFERS'}: mlwork "
                     f"{'drift' if mw['dataset_drift'] else 'no drift'}, Evidently "
                     f"{'drift' if res['evidently']['dataset_drift'] else 'no drift'}")
        if cmp["same_method"]:
            worst = max(v["max_abs_diff"] for v in cmp["same_method"].values())
            parts = ", ".join(f"{k} {v['columns']} cols {v['max_abs_diff']:.2g} (at {v['at']})" for k, v in cmp["same_method"].items())
            lines.append(f"- max |score difference| where both use the same method: {worst:.2g} ({parts})")
        if cmp["other_method"]:
            parts = ", ".join(f"{k} {v['columns']} cols" for k, v in cmp["other_method"].items())
            lines.append(f"- scores not comparable (different tests): {parts}")
    off = []
    for side, r in res.items():
        missed, extra = sorted(set(EXPECTED) - set(r["drifted"])), sorted(set(r["drifted"]) - set(EXPECTED))
        if missed or extra: off.append(f"{side} missed {cols(missed)}, false alarms {cols(extra)}")
    if off: lines.append("- against the 5 planted drifts: " + "; ".join(off))
    if nref == ncur == TARGET_ROWS:
        ok = mw["wall_seconds"] <= TARGET_S and mw["max_outer_peak_rss_mb"] <= TARGET_MB
        lines.append(f"- mlwork target (1M x 25 columns, whole process <= {TARGET_S} s, peak <= {TARGET_MB} MB): "
                     f"{'PASS' if ok else 'MISS'} ({mw['wall_seconds']:.2f} s median, {mw['max_outer_peak_rss_mb']:.0f} MB "
                     f"highest of {mw['rounds']}; "
                     f"start-up + reading {mw['read_seconds']:.2f} s, drift {mw['seconds']:.2f} s)")
    return "\n".join(lines)


def sizes(spec):
    "'800,10000' -> [(800, 800), (10000, 10000)]; 'REF:CUR' gives the two sides different sizes."
    out = []
    for part in filter(None, (p.strip().replace("_", "") for p in spec.split(","))):
        a, _, b = part.partition(":")
        out.append((int(a), int(b or a)))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="10000,100000,1000000", help="sizes, comma-separated; REF:CUR for different sizes")
    p.add_argument("--small", default="800,5000:800",
                   help="small-sample cases run first (KS / chi-square); '' to skip (default: 800,5000:800)")
    p.add_argument("--rounds", type=int, default=3, help="mlwork runs per size; medians are reported (3)")
    p.add_argument("--peer-rounds", type=int, default=1, help="Evidently runs per size, alternating with mlwork's (1)")
    p.add_argument("--skip-peer", action="store_true", help="run mlwork only")
    a = p.parse_args()
    if a.rounds < 1 or a.peer_rounds < 1: p.error("--rounds and --peer-rounds must be at least 1")
    todo = list(dict.fromkeys(sizes(a.small) + sizes(a.rows)))
    sides = ["mlwork"] if a.skip_peer else ["mlwork", "evidently"]
    if not a.skip_peer and not EVIDENTLY_PY.exists():
        sys.exit(f"{EVIDENTLY_PY} not found: run `bash bench/setup_peers.sh` first (or pass --skip-peer)")
    for side in sides:                                       # warm the disk caches of both environments
        subprocess.run([str(SIDES[side][0]), "-c", WARM[side]], check=True, capture_output=True)

    sections, raw = [], []
    for nref, ncur in todo:
        print(f"{nref:,}:{ncur:,} rows", file=sys.stderr, flush=True)
        ref, cur = pair(nref, ncur)
        results = {s: [] for s in sides}
        for r in range(max(a.rounds, 1 if a.skip_peer else a.peer_rounds)):
            for side in sides:
                if r >= (a.rounds if side == "mlwork" else a.peer_rounds): continue
                results[side].append(run(side, ref, cur))
                x = results[side][-1]
                print(f"  round {r + 1} {side}: {x['wall_seconds']:.2f} s whole, {x['seconds']:.2f} s drift, "
                      f"{x['outer_peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)
        res = {s: medians(v) for s, v in results.items()}
        cmp = compare(res["mlwork"], res["evidently"]) if "evidently" in res else None
        sections.append(section(nref, ncur, res, cmp))
        raw.append({"reference_rows": nref, "current_rows": ncur, "rounds": results, "comparison": cmp})

    head = (f"# Drift benchmark: mlwork vs {'Evidently ' + raw[0]['rounds']['evidently'][0]['version'] if not a.skip_peer else '(peer skipped)'}\n\n"
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} cores, Python {platform.python_version()}. "
            f"20 numeric + 5 categorical columns, 5 drifted ({', '.join(EXPECTED)}). Whole process = fresh "
            f"interpreter, imports, reading both parquet files, drift, JSON out; peak memory = the process's max RSS.\n")
    text = head + "\n" + "\n\n".join(sections) + "\n"
    print("\n" + text)
    OUT.mkdir(exist_ok=True)
    (OUT / "drift.txt").write_text(text)
    (OUT / "drift.json").write_text(json.dumps({"args": vars(a), "results": raw}, indent=1))
    print(f"written to {(OUT / 'drift.txt').relative_to(ROOT)} and drift.json")


if __name__ == "__main__":
    main()
