"""Serving benchmark: `mlwork serve` vs `mlflow models serve` (3.17.2) vs a bare FastAPI + uvicorn app (the ceiling),
the same three models, one load client for all, and a reload through an alias move.

    bash bench/setup_peers.sh                      # once: MLflow in bench/.venv-mlflow
    .venv/bin/python bench/serve.py [--seconds 5] [--quick] [--skip-mlflow] [--runtime onnx] [--log-only | --traffic-only]

Models: the demo churn pipeline (the train job's logreg: impute + scale numbers, one-hot categories, 10 features),
a one-hot + scaler + logistic-regression pipeline on three columns, and a RandomForest(100) on breast_cancer (30
features). Each server runs one worker process on 127.0.0.1. mlwork checks an API key, validates every row against the
training data's schema and counts Prometheus metrics; the bare app does none of that.

The load client (`load` below, "keep-alive http.client threads"): N threads in this process, each with its own
keep-alive connection, posting the same body back to back for `--seconds` after a 1 s warm-up; latency is the time of
one request/response. Bodies: mlwork `/models/NAME/predict` with records; MLflow `/invocations` with
`dataframe_records`; the bare app `/predict` with records. Client and servers share the machine's cores.

`--runtime onnx` (issue 17): mlwork serves each model's parity-checked ONNX export in onnxruntime, and the ceiling is
a bare FastAPI + uvicorn + onnxruntime app (bench/_serve_bare_onnx.py) on the same exported model; MLflow still
serves scikit-learn (it has no ONNX runtime of its own for these models). The reload then includes the export and
parity check of the new version.

The reload: 8 clients on demo@production while the alias moves to another version; failures and the time from the
promotion's commit to the first answer from the new version.

The prediction log (issue 14; `--log-only` runs just this): one mlwork server serving the same demo version twice,
`demo` with the log on (the default settings) and `demo_nolog` with `[serving.demo_nolog] log = false`; the load
client alternates between them (on, off, on, off, ...: the machine's load drifts less between neighbours) for 1 and
8 clients, 1 and 100 rows, and each pair waits until the log has written what it queued. Then the writer alone, in
this process: the cost of `LogWriter.submit` per request, and the rows per second its thread writes (Parquet blob +
index row), for single-row and 100-row requests.

Traffic policies (issue 16; `--traffic-only` runs just this, a full run ends with it): one mlwork server serves
`demo@production` and the other demo version is `challenger`. Three configurations, set through `mlwork.traffic` while
the server runs (each waits until `/models` shows the policy in force and the challenger loaded): `none` (no policy),
`split` (a canary of 50%: `Policy("canary", alias="challenger", steps=(50,))`) and `shadow`
(`Policy("shadow", alias="challenger", queue=1000)`). They alternate in rounds (`--rounds`, each round starting with
the next configuration) for 1 and 8 clients and 1- and 100-row bodies; medians are reported. wrk sends bodies in turn
(a Lua `request()`; each thread starts at its own offset): 1,000 single-row bodies of 1,000 distinct `customer_id`s,
or 10 bodies of 100 rows with distinct ids. The split is sticky per row by the id column, so a single-row request
goes wholly to one version (the table shows the challenger's share of requests) and a 100-row request is split row
by row (checked with one request: rows per version). Load: N closed-loop clients back to back; the table gives the
req/s that load reached. The costs: req/s and p50 against `none` (the split's is its throughput, the shadow's the
caller's p50), and the shadow's answered and dropped requests (from `/models` -> `shadow`, counted per run). After
each run the bench waits until the log has written what it queued and the shadow has stopped answering.
`--traffic-log off` (with `--traffic-only`) turns demo's prediction log off, to tell the log's share of the cost.
"""
import argparse, json, os, pickle, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time, http.client
from pathlib import Path

HERE = Path(__file__).resolve().parent
MLFLOW_BIN = HERE / ".venv-mlflow" / "bin"
sys.path.insert(0, str(HERE))
from _serve_models import build  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def wait_http(url, proc, timeout=180, what="server"):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None: sys.exit(f"{what} exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection(url.split("//")[1], timeout=2); c.request("GET", "/ping" if "mlflow" in what else "/docs")
            if c.getresponse().status < 500: return
        except OSError: pass
        time.sleep(0.2)
    sys.exit(f"{what} not up after {timeout}s")


def _wrk_ms(text):
    "wrk's latency text ('812.00us', '1.23ms', '2.01s') in ms."
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

# With several bodies (one JSON document per line of the file), each wrk thread sends them in turn, starting at its own
# offset; the requests are formatted once per thread in init(), so the client's per-request work stays small.
_WRK_BODIES = """
local bodies = {}
for line in io.lines("%s") do bodies[#bodies + 1] = line end
local n_threads = 0
function setup(thread) thread:set("first", n_threads); n_threads = n_threads + 1 end
local reqs, i = {}, 0
function init(args)
  for k, b in ipairs(bodies) do reqs[k] = wrk.format(nil, nil, nil, b) end
  i = ((first or 0) * math.floor(#reqs / 2)) %% #reqs
end
function request() i = i %% #reqs + 1; return reqs[i] end
"""

def load_wrk(url, path, body, headers, clients, seconds):
    """The load client: wrk (C, keep-alive, --latency): (req/s, p50 ms, p99 ms, failures), after a 1 s warm-up run.
    `body`: one body sent every time, or a list of bodies sent in turn."""
    with tempfile.TemporaryDirectory() as tmp:
        bpath = os.path.join(tmp, "body.json")
        many = isinstance(body, list)
        enc = lambda b: b if isinstance(b, bytes) else b.encode()
        with open(bpath, "wb") as f:
            if many:
                assert all(b"\n" not in enc(b) for b in body), "bodies for wrk must be one line each"
                f.write(b"\n".join(enc(b) for b in body) + b"\n")
            else: f.write(enc(body))
        hdr = {"Content-Type": "application/json", **headers}
        lua = os.path.join(tmp, "post.lua")
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\n' + "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in hdr.items())
                    + (_WRK_BODIES % bpath if many else f'local f = io.open("{bpath}", "rb"); wrk.body = f:read("*a"); f:close()\n'))
        cmd = lambda d: ["wrk", f"-t{min(clients, 2)}", f"-c{clients}", f"-d{d}s", "--latency", "-s", lua, url + path]
        subprocess.run(cmd(1), capture_output=True, text=True, timeout=60)
        out = subprocess.run(cmd(max(1, round(seconds))), capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    fails = (int(bad.group(1)) if bad else 0) + (sum(map(int, errs.groups())) if errs else 0)
    return rps, _wrk_ms(lat["50"]), _wrk_ms(lat["99"]), fails

def load(url, path, body, headers, clients, seconds, versions=None):
    "The one load client: wrk when installed (every server, every row of the table); Python threads only where each answer's version must be read (the reload)."
    if versions is None and shutil.which("wrk") and not os.environ.get("BENCH_PYTHON_CLIENT"):
        return load_wrk(url, path, body, headers, clients, seconds)
    return load_python(url, path, body, headers, clients, seconds, versions)

def load_python(url, path, body, headers, clients, seconds, versions=None):
    "A load client of keep-alive http.client threads: (req/s, p50 ms, p99 ms, failures); with `versions`, (time, version) of every answer."
    host = url.split("//")[1]
    lat, fails, stop, warm = [[] for _ in range(clients)], [0] * clients, threading.Event(), threading.Event()
    hdr = {"content-type": "application/json", **headers}

    bodies = body if isinstance(body, list) else [body]

    def run(i):
        conn, k = http.client.HTTPConnection(host, timeout=30), i * len(bodies) // clients
        while not stop.is_set():
            t = time.perf_counter()
            try:
                conn.request("POST", path, bodies[k % len(bodies)], hdr); k += 1; r = conn.getresponse(); data = r.read()
                ok = r.status == 200
            except OSError:
                ok = False; conn.close(); conn = http.client.HTTPConnection(host, timeout=30)
            dt = time.perf_counter() - t
            if not ok: fails[i] += 1
            if warm.is_set():
                lat[i].append(dt)
                if versions is not None and ok: versions.append((time.time(), r.getheader("x-model-version")))
        conn.close()
    ts = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in ts: t.start()
    time.sleep(1.0); warm.set(); t0 = time.perf_counter()
    time.sleep(seconds); stop.set(); elapsed = time.perf_counter() - t0
    for t in ts: t.join()
    allv = sorted(x for l in lat for x in l)
    if not allv: return 0.0, float("nan"), float("nan"), sum(fails)
    q = lambda p: allv[min(len(allv) - 1, int(p * len(allv)))] * 1000
    return len(allv) / elapsed, q(0.5), q(0.99), sum(fails)


def data():
    "name -> (kind, frame, features, target)."
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from mlwork.synthetic import churn_pair
    churn, _ = churn_pair(n_customers=5000, seed=0)
    feats = [c for c in churn.columns if c not in ("customer_id", "period", "churned")]
    bc = load_breast_cancer(as_frame=True)
    forest = bc.frame.rename(columns=lambda c: c.replace(" ", "_"))
    return {"demo": ("demo", churn, feats, "churned"),
            "onehot": ("onehot", churn[["tenure_months", "monthly_charges", "contract", "churned"]], ["tenure_months", "monthly_charges", "contract"], "churned"),
            "forest": ("forest", forest, [c for c in forest.columns if c != "target"], "target")}


def setup_mlwork(root, models):
    import mlwork as mw
    from mlwork.keys import create_key
    ws = mw.Workspace.init(root)
    fitted = {}
    for name, (kind, df, feats, target) in models.items():
        dv = ws.datasets.log(df, name, target=target, **({"id": "customer_id", "time": "period"} if name == "demo" else {}))
        for i in range(2 if name == "demo" else 1):      # demo gets a second version for the reload
            m = build(kind, df[feats])
            if i: m.set_params(logisticregression__C=0.05)
            m.fit(df[feats], df[target])
            with ws.start_run(f"bench-{name}") as run:
                run.use_dataset(dv, role="train"); run.log_model(m)
            mv = ws.registry.register(run, name)
            if i == 0:
                ws.registry.promote(name, mv.version, reason="bench"); fitted[name] = m
    return ws, create_key(ws.store, "bench").token, fitted


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--quick", action="store_true", help="2 s per measurement")
    ap.add_argument("--skip-mlflow", action="store_true")
    ap.add_argument("--log-only", action="store_true", help="only the prediction log's cost (log on vs off, writer rows/s)")
    ap.add_argument("--traffic-only", action="store_true", help="only what a traffic policy costs (no policy vs split vs shadow)")
    ap.add_argument("--traffic-log", choices=["on", "off"], default="on",
                    help="with --traffic-only: the prediction log on (default settings) or off for demo, to tell the log's share of a policy's cost")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of alternating runs per measurement of the log's and the traffic policies' cost")
    ap.add_argument("--runtime", choices=["sklearn", "onnx"], default="sklearn", help="what mlwork serves with (and the bare app's runtime)")
    args = ap.parse_args()
    if args.traffic_log == "off" and not args.traffic_only: sys.exit("--traffic-log off goes with --traffic-only")
    secs = 2.0 if args.quick else args.seconds
    tmp = Path(tempfile.mkdtemp(prefix="mlwork-bench-serve-"))
    models = data()
    print(f"workspace and models in {tmp} ...", flush=True)
    if args.log_only or args.traffic_only: models = {"demo": models["demo"]}
    ws, token, fitted = setup_mlwork(tmp / "ws", models)
    if args.log_only:
        log = measure_log(ws, token, models["demo"], secs, args.rounds, args.runtime)
        report_log(log, tmp, args.runtime); return
    if args.traffic_only:
        if args.traffic_log == "off":
            with open(ws.settings.file, "a") as f: f.write("\n[serving.demo]\nlog = false\n")
        tr = measure_traffic(ws, token, models["demo"], secs, args.rounds, args.runtime)
        report_traffic(dict(tr, log=args.traffic_log), tmp, args.runtime); return
    specs = []
    for name, (kind, df, feats, target) in models.items():
        df.to_parquet(tmp / f"{name}.parquet", index=False)
        specs.append({"name": name, "kind": kind, "data": str(tmp / f"{name}.parquet"), "features": feats, "target": target})
        with open(tmp / f"{name}.pkl", "wb") as f: pickle.dump((fitted[name], feats), f)
        if args.runtime == "onnx":
            folder, da = ws.registry.write_bundle(f"{name}@production", tmp / f"{name}-onnx")
            print(f"{name}: ONNX export {da.parity['detail']}", flush=True)
    (tmp / "specs.json").write_text(json.dumps(specs))
    mlflow_uri = f"sqlite:///{tmp}/mlflow.db"
    env_mlflow = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri, "MLFLOW_DISABLE_TELEMETRY": "true",
                  "PATH": f"{MLFLOW_BIN}:{os.environ['PATH']}"}
    if not args.skip_mlflow:
        if not (MLFLOW_BIN / "mlflow").exists(): sys.exit("MLflow is not installed: bash bench/setup_peers.sh")
        print("registering the same models in MLflow ...", flush=True)
        subprocess.run([str(MLFLOW_BIN / "python"), str(HERE / "_serve_mlflow.py"), mlflow_uri, str(tmp / "specs.json"), str(HERE)],
                       check=True, env=env_mlflow, stdout=subprocess.DEVNULL)
    from mlwork.serve import serve_in_background
    mlw = serve_in_background(ws, *(f"{n}@production" for n in models), workers=1, runtime=args.runtime)
    results, procs = [], []
    try:
        for name, (kind, df, feats, target) in models.items():
            rows = json.loads(df[feats].head(100).to_json(orient="records"))
            servers = {"mlwork": (mlw.url, f"/models/{name}/predict", lambda r: r, {"authorization": f"Bearer {token}"})}
            p = free_port()
            app_mod = "_serve_bare_onnx:app" if args.runtime == "onnx" else "_serve_bare:app"
            bare = subprocess.Popen([sys.executable, "-m", "uvicorn", app_mod, "--app-dir", str(HERE), "--port", str(p),
                                     "--log-level", "warning", "--no-access-log"],
                                    env={**os.environ, "BARE_MODEL": str(tmp / f"{name}.pkl"), "BARE_ONNX": str(tmp / f"{name}-onnx")})
            procs.append(bare); wait_http(f"http://127.0.0.1:{p}", bare, what="bare app")
            servers["bare FastAPI"] = (f"http://127.0.0.1:{p}", "/predict", lambda r: r, {})
            if not args.skip_mlflow:
                q = free_port()
                mf = subprocess.Popen([str(MLFLOW_BIN / "mlflow"), "models", "serve", "-m", f"models:/{name}@production", "--env-manager",
                                       "local", "-h", "127.0.0.1", "-p", str(q)], env=env_mlflow, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True)
                procs.append(mf); wait_http(f"http://127.0.0.1:{q}", mf, what="mlflow")
                servers["MLflow"] = (f"http://127.0.0.1:{q}", "/invocations", lambda r: {"dataframe_records": r}, {})
            for size in (1, 100):
                for clients in (1, 8):
                    for server, (url, path, wrap, hdr) in servers.items():
                        body = json.dumps(wrap(rows[:size])).encode()
                        rps, p50, p99, fails = load(url, path, body, hdr, clients, secs)
                        results.append(dict(model=name, rows=size, clients=clients, server=server, rps=rps, p50=p50, p99=p99, failures=fails))
                        print(f"{name:7} {size:>3} rows {clients} clients {server:12} {rps:8.0f} req/s  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  failures {fails}", flush=True)
            for pr in procs[-2:] if not args.skip_mlflow else procs[-1:]:
                (os.killpg(pr.pid, signal.SIGTERM) if pr.args[0].endswith("mlflow") else pr.terminate()); pr.wait(30)
        reload = measure_reload(ws, mlw, token, models["demo"], secs, args.runtime)
    finally:
        mlw.stop()
        for pr in procs:
            if pr.poll() is None: pr.kill()
    report(results, reload, tmp, args.runtime)
    report_log(measure_log(ws, token, models["demo"], secs, args.rounds, args.runtime), tmp, args.runtime)
    report_traffic(measure_traffic(ws, token, models["demo"], secs, args.rounds, args.runtime), tmp, args.runtime)


def measure_reload(ws, mlw, token, model, secs, runtime="sklearn"):
    "8 clients on demo@production; the alias moves to v2 mid-run (with onnx, v2 is exported first, as a release would)."
    kind, df, feats, target = model
    if runtime == "onnx": ws.registry.export("demo@2")
    body = json.dumps(json.loads(df[feats].head(1).to_json(orient="records"))).encode()
    versions, out = [], {}
    def move():
        time.sleep(1.0 + secs / 2)
        ws.registry.promote("demo", 2, reason="bench: reload"); out["moved"] = time.time()
    t = threading.Thread(target=move); t.start()
    rps, p50, p99, fails = load(mlw.url, "/models/demo/predict", body, {"authorization": f"Bearer {token}"}, 8, secs + 2, versions)
    t.join()
    first_new = min((ts for ts, v in versions if v == "2"), default=None)
    last_old = max((ts for ts, v in versions if v == "1"), default=None)
    return dict(requests=len(versions), failures=fails, rps=rps, p99=p99,
                switch_s=None if first_new is None else first_new - out["moved"],
                old_after_s=None if last_old is None else last_old - out["moved"])


def _log_waiting(url, name):
    "Rows the server's prediction log still has to write for `name`."
    c = http.client.HTTPConnection(url.split("//")[1], timeout=10); c.request("GET", "/models")
    return json.loads(c.getresponse().read())[name]["log"]["waiting"]


def measure_log(ws, token, model, secs, rounds, runtime="sklearn"):
    "The log's cost on one server: demo (log on) vs demo_nolog (log off, same version), alternating; then the writer alone."
    import statistics as st
    from mlwork.serve import serve_in_background
    kind, df, feats, target = model
    mv = ws.registry.resolve("demo@production")
    from mlwork.errors import NotFoundError
    try: ws.registry.resolve("demo_nolog@production")
    except NotFoundError:
        ws.registry.promote("demo_nolog", ws.registry.register(mv.run_id, "demo_nolog").version, reason="bench: log off")
        with open(ws.settings.file, "a") as f: f.write("\n[serving.demo_nolog]\nlog = false\n")
    hdr = {"authorization": f"Bearer {token}"}
    rows = json.loads(df[feats + ["customer_id", "period"]].head(100).to_json(orient="records", date_format="iso"))
    out = {"server": [], "writer": None}
    with serve_in_background(ws, "demo@production", "demo_nolog@production", workers=1, runtime=runtime) as h:
        for size in (1, 100):
            for clients in (1, 8):
                body = json.dumps(rows[:size]).encode()
                runs = {"on": [], "off": []}
                for _ in range(rounds):
                    for name, which in (("demo", "on"), ("demo_nolog", "off")):
                        runs[which].append(load(h.url, f"/models/{name}/predict", body, hdr, clients, secs))
                        end = time.time() + 30
                        while name == "demo" and _log_waiting(h.url, "demo") and time.time() < end: time.sleep(0.2)
                med = {w: (st.median(r[0] for r in rs), st.median(r[2] for r in rs), sum(r[3] for r in rs)) for w, rs in runs.items()}
                out["server"].append(dict(rows=size, clients=clients, on_rps=med["on"][0], off_rps=med["off"][0], on_p99=med["on"][1],
                                          off_p99=med["off"][1], failures=med["on"][2] + med["off"][2],
                                          pairs=[(round(a[0]), round(b[0])) for a, b in zip(runs["on"], runs["off"])]))
                r = out["server"][-1]
                print(f"log {size:>3} rows {clients} clients: on {r['on_rps']:7.0f} req/s p99 {r['on_p99']:6.1f} ms | off {r['off_rps']:7.0f} "
                      f"req/s p99 {r['off_p99']:6.1f} ms | cost {1 - r['on_rps'] / r['off_rps']:+.1%} (pairs {r['pairs']})", flush=True)
    from mlwork import predlog
    tr = predlog.traffic(ws.store, "demo")
    out["logged"] = {k: tr[k] for k in ("segments", "requests", "rows", "dropped_rows")}
    out["writer"] = writer_speed(ws, rows)
    return out


def _models(url):
    "The server's `GET /models`."
    c = http.client.HTTPConnection(url.split("//")[1], timeout=10); c.request("GET", "/models")
    return json.loads(c.getresponse().read())


TRAFFIC_CONFIGS = ("none", "split", "shadow")     # no policy; canary 50% to challenger; shadow of challenger


def _set_traffic(ws, url, config, challenger, timeout=120):
    "Set demo's policy for `config` and wait until the server follows it (its `/models` traffic field, the variant loaded)."
    from mlwork import traffic as tr
    if config == "none": tr.stop(ws.store, "demo", reason="bench: no policy")
    elif config == "split": tr.set_policy(ws.store, "demo", tr.Policy("canary", alias="challenger", steps=(50,)), reason="bench: split")
    else: tr.set_policy(ws.store, "demo", tr.Policy("shadow", alias="challenger", queue=1000), reason="bench: shadow")
    kind = {"none": "none", "split": "canary", "shadow": "shadow"}[config]
    end = time.time() + timeout
    while time.time() < end:
        t = _models(url)["demo"].get("traffic")
        if kind == "none" and t is None: return
        if t is not None and t["policy"]["kind"] == kind and t["versions"].get("challenger") == challenger: return
        time.sleep(0.1)
    sys.exit(f"the server did not follow the {config} policy within {timeout}s: {_models(url)['demo']}")


def _drained(url, timeout=60):
    "Wait until the server's log has written what it queued and its shadow has answered or dropped what it was given; the shadow's counters."
    end, last = time.time() + timeout, None
    while time.time() < end:
        d = _models(url)["demo"]
        sh = d.get("shadow") or {"done": 0, "dropped": 0, "failed": 0}
        if not (d.get("log") or {}).get("waiting") and sh == last: return sh
        last = sh; time.sleep(0.3)
    return last


def measure_traffic(ws, token, model, secs, rounds, runtime="sklearn"):
    """What a traffic policy costs on one server serving demo@production with another version as `challenger`: no
    policy, a canary of 50% (the split) and a shadow, alternating in rounds, for 1 and 8 clients and 1- and 100-row bodies."""
    import statistics as st
    from mlwork.serve import serve_in_background
    kind, df, feats, target = model
    served = ws.registry.resolve("demo@production").version
    challenger = 2 if served == 1 else 1          # after a full run's reload, production is v2
    ws.registry.promote("demo", challenger, alias="challenger", reason="bench: traffic")
    if runtime == "onnx":                         # exported here once, as a release would, not in the server mid-bench
        for v in (served, challenger): ws.registry.load_onnx(f"demo@{v}", export=True)
    hdr = {"authorization": f"Bearer {token}"}
    uniq = df.drop_duplicates("customer_id").head(1000)
    rows = json.loads(uniq[feats + ["customer_id", "period"]].to_json(orient="records", date_format="iso"))
    bodies = {1: [json.dumps([r]).encode() for r in rows],                                   # 1,000 customers, one a request
              100: [json.dumps(rows[i:i + 100]).encode() for i in range(0, len(rows), 100)]}   # 10 bodies of 100 customers
    out = {"served": served, "challenger": challenger, "results": [], "checks": {}}
    with serve_in_background(ws, "demo@production", workers=1, runtime=runtime) as h:
        info = _models(h.url)["demo"]
        out["runtime_served"] = info["runtime"]
        for size in (1, 100):
            for clients in (1, 8):
                runs = {c: [] for c in TRAFFIC_CONFIGS}
                for r in range(rounds):
                    order = TRAFFIC_CONFIGS[r % 3:] + TRAFFIC_CONFIGS[:r % 3]      # each config first in turn
                    for config in order:
                        _set_traffic(ws, h.url, config, challenger)
                        before = _drained(h.url)
                        rps, p50, p99, fails = load(h.url, "/models/demo/predict", bodies[size], hdr, clients, secs)
                        after = _drained(h.url)
                        d = _models(h.url)["demo"]
                        var = {a: v["requests"] for a, v in (d.get("variants") or {}).items()}
                        runs[config].append(dict(rps=rps, p50=p50, p99=p99, failures=fails, variants=var,
                                                 shadow={k: after[k] - before[k] for k in after}))
                        print(f"traffic {size:>3} rows {clients} clients round {r + 1} {config:6}: {rps:7.0f} req/s p50 {p50:6.2f} ms "
                              f"p99 {p99:6.1f} ms" + (f" shadow {runs[config][-1]['shadow']}" if config == "shadow" else "")
                              + (f" variants {var}" if config == "split" else ""), flush=True)
                base = None
                for config, rs in runs.items():
                    r = dict(rows=size, clients=clients, policy=config, rps=st.median(x["rps"] for x in rs),
                             p50=st.median(x["p50"] for x in rs), p99=st.median(x["p99"] for x in rs),
                             failures=sum(x["failures"] for x in rs), runs=[{k: x[k] for k in ("rps", "p50", "p99")} for x in rs])
                    if config == "none": base = r
                    else:
                        r["rps_cost"] = 1 - r["rps"] / base["rps"]             # the throughput lost
                        r["p50_cost"] = r["p50"] / base["p50"] - 1              # the caller's p50 added
                    if config == "shadow":
                        r["shadow"] = {k: sum(x["shadow"][k] for x in rs) for k in ("done", "dropped", "failed")}
                    if config == "split":                # requests (or parts of requests) each alias answered, summed over rounds
                        r["variants"] = {a: sum(x["variants"].get(a, 0) for x in rs) for a in {a for x in rs for a in x["variants"]}}
                    out["results"].append(r)
        # per-row split check: one 100-row request under the canary; the answer says which version answered each row
        _set_traffic(ws, h.url, "split", challenger)
        c = http.client.HTTPConnection(h.url.split("//")[1], timeout=30)
        c.request("POST", "/models/demo/predict", bodies[100][0], {"content-type": "application/json", **hdr})
        resp = c.getresponse(); ans = json.loads(resp.read())
        vs = ans.get("versions") or [int(resp.getheader("x-model-version"))] * 100
        out["checks"]["rows_per_version_of_one_100_row_request"] = {str(v): vs.count(v) for v in sorted(set(vs))}
        _set_traffic(ws, h.url, "none", challenger)
    return out


def report_traffic(tr, tmp, runtime="sklearn"):
    print(f"\nwhat a traffic policy costs, {tr.get('runtime_served', runtime)} runtime (demo v{tr['served']} served, v{tr['challenger']} challenger; "
          f"prediction log {tr.get('log', 'on')})")
    print("\n| rows | clients | policy | req/s | p50 ms | p99 ms | req/s vs none | p50 vs none | split / shadow | failures |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in tr["results"]:
        extra = ""
        if "shadow" in r:
            s = r["shadow"]; offered = sum(s.values())
            extra = f"shadow: {s['done']:,} answered, {s['dropped']:,} dropped ({s['dropped'] / offered:.1%})" if offered else "shadow: none offered"
        if "variants" in r and r["rows"] == 1:
            tot = sum(r["variants"].values())
            extra = f"challenger {r['variants'].get('challenger', 0) / tot:.1%} of requests" if tot else ""
        if "variants" in r and r["rows"] > 1: extra = "rows split in every request"
        cost = (f"{-r['rps_cost']:+.1%} | {r['p50_cost']:+.1%}") if "rps_cost" in r else " | "
        print(f"| {r['rows']} | {r['clients']} | {r['policy']} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {cost} | {extra} | {r['failures']} |")
    print(f"\none 100-row request under the split, rows per version: {tr['checks'].get('rows_per_version_of_one_100_row_request')}")
    out = HERE / "out"; out.mkdir(exist_ok=True)
    name = ("serve_traffic.json" if runtime == "sklearn" else f"serve_traffic_{runtime}.json").replace(".json", "_nolog.json" if tr.get("log") == "off" else ".json")
    (out / name).write_text(json.dumps(dict(tr, runtime=runtime, when=time.strftime("%Y-%m-%d %H:%M")), indent=1, default=str))
    print(f"(results in {out / name}; workspace {tmp})")


def writer_speed(ws, rows, n_rows=100_000):
    "LogWriter alone: submit cost per request, and rows/s its thread writes, for 1-row and 100-row requests."
    from mlwork import predlog
    from mlwork.serving import load_version, prepare_columns, serving_settings
    loaded = load_version(ws.store, ws.registry, ws.datasets, "demo", ws.registry.resolve("demo@production").version)
    opts = dict(serving_settings(ws.settings, "demo"), log_batch_rows=10 ** 9, log_flush_seconds=3600.0, log_queue_rows=10 ** 9)
    out = {}
    def prepared(part):
        X, keep, _, cols = prepare_columns(loaded.spec, part, opts)
        return (cols, keep, *loaded.predict(X))
    for size in (1, 100):
        bodies = [prepared(rows[i:i + size]) for i in range(0, 100, size)]     # 100 different rows
        w = predlog.LogWriter(ws.store, ws.blobs, {"demo": opts}).start()
        n = n_rows // size
        t0 = time.perf_counter()
        for i in range(n):
            cols, keep, preds, proba = bodies[i % len(bodies)]
            w.submit(loaded, f"w{size}-{i}", "bench", time.time(), 1.0, cols, keep, preds, proba)
        t1 = time.perf_counter()
        assert w.flush(600)
        t2 = time.perf_counter()
        w.close()
        seg = predlog.segments(ws.store, "demo").tail(1)
        out[size] = dict(requests=n, rows=n * size, submit_us=(t1 - t0) / n * 1e6, write_s=t2 - t1, rows_per_s=n * size / (t2 - t1),
                         bytes_per_row=float(seg["size"].iloc[0]) / (n * size))
        print(f"writer {size:>3}-row requests: submit {out[size]['submit_us']:.1f} µs/request; wrote {n * size:,} rows in "
              f"{t2 - t1:.2f} s = {out[size]['rows_per_s']:,.0f} rows/s ({out[size]['bytes_per_row']:.1f} bytes/row)", flush=True)
    return out


def report_log(log, tmp, runtime="sklearn"):
    print(f"\nthe prediction log's cost, {runtime} runtime")
    print("\n| rows | clients | log on req/s (p99 ms) | log off req/s (p99 ms) | throughput cost | failures |")
    print("|---|---|---|---|---|---|")
    for r in log["server"]:
        print(f"| {r['rows']} | {r['clients']} | {r['on_rps']:.0f} ({r['on_p99']:.1f}) | {r['off_rps']:.0f} ({r['off_p99']:.1f}) | "
              f"{1 - r['on_rps'] / r['off_rps']:+.1%} | {r['failures']} |")
    print(f"\nlogged by the server: {log['logged']}")
    for size, w in log["writer"].items():
        print(f"writer, {size}-row requests: {w['submit_us']:.1f} µs per submit; {w['rows_per_s']:,.0f} rows/s written; {w['bytes_per_row']:.1f} bytes/row")
    out = HERE / "out"; out.mkdir(exist_ok=True)
    name = "serve_log.json" if runtime == "sklearn" else f"serve_log_{runtime}.json"
    (out / name).write_text(json.dumps(dict(log, runtime=runtime, when=time.strftime("%Y-%m-%d %H:%M")), indent=1, default=str))
    print(f"(results in {out / name}; workspace {tmp})")


def report(results, reload, tmp, runtime="sklearn"):
    print(f"\nmlwork and the bare app answer with {'onnxruntime (the parity-checked ONNX export)' if runtime == 'onnx' else 'scikit-learn'}; MLflow with scikit-learn")
    print("\n| model | rows | clients | server | req/s | p50 ms | p99 ms | failures | vs MLflow | vs bare |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    key = lambda r: (r["model"], r["rows"], r["clients"])
    by = {(key(r), r["server"]): r for r in results}
    for r in results:
        mf, bare = by.get((key(r), "MLflow")), by.get((key(r), "bare FastAPI"))
        vs = lambda o: f"{r['rps'] / o['rps']:.2f}×" if o and o["rps"] and r["server"] == "mlwork" else ""
        print(f"| {r['model']} | {r['rows']} | {r['clients']} | {r['server']} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
              f"{r['failures']} | {vs(mf)} | {vs(bare)} |")
    print(f"\nreload (demo@production moved to v2 under 8 clients): {reload['requests']} requests, {reload['failures']} failed; "
          f"first answer from v2 {reload['switch_s']:.3f} s after the promotion committed; last from v1 {reload['old_after_s']:.3f} s after"
          if reload["switch_s"] is not None else f"\nreload: v2 never answered ({reload})")
    out = HERE / "out"; out.mkdir(exist_ok=True)
    name = "serve.json" if runtime == "sklearn" else f"serve_{runtime}.json"
    (out / name).write_text(json.dumps({"runtime": runtime, "results": results, "reload": reload, "when": time.strftime("%Y-%m-%d %H:%M")}, indent=1))
    print(f"(results in {out / name}; workspace {tmp})")


if __name__ == "__main__":
    main()
