"""The model registry across processes: a 20-process promotion race, alias history, loading by alias, the CLI."""
import subprocess, sys, time
import pytest
import sqlalchemy as sa
from mlwork.workspace import Workspace
from mlwork.synthetic import churn_pair
from conftest import mlwork_cli, clean_env, run_py

POLICY = """
[promotion]
eval_dataset = churn@1
min_metric = roc_auc >= 0.6
beat_champion_by = 0.0
schema_compatible = true
max_latency_ms = 500
"""
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "age"]


@pytest.fixture
def reg_ws(ws_root):
    from sklearn.linear_model import LogisticRegression
    from sklearn.ensemble import RandomForestClassifier
    (ws_root / "settings.ini").write_text((ws_root / "settings.ini").read_text() + POLICY)
    ref, _ = churn_pair(2500, seed=11)
    with Workspace.open(ws_root) as ws:
        ws.datasets.log(ref, "churn", target="churned", id="customer_id", time="period")
        X, y = ref[FEATURES], ref["churned"]
        models = [LogisticRegression(C=1e-6, max_iter=500), LogisticRegression(max_iter=1000)] + \
                 [RandomForestClassifier(30 + i, max_depth=6, random_state=i) for i in range(20)]
        for m in models:
            with ws.start_run("churn-models") as run: run.log_model(m.fit(X, y))
            ws.registry.register(run, "churn")
        yield ws


def test_twenty_processes_race_and_exactly_one_wins(reg_ws):
    ws = reg_ws
    ws.registry.promote("churn", 2, reason="baseline", gates=[])
    code = """
import sys, time, mlwork as mw
from mlwork.registry import PromotionConflict
ws = mw.Workspace.open(sys.argv[1]); v = int(sys.argv[2])
while time.time() < float(sys.argv[3]): time.sleep(0.001)          # start together
try:
    ws.registry.promote("churn", v, reason=f"race {v}", gates=[], expected=2)
    print("WON")
except PromotionConflict as e:
    print("LOST", e)
"""
    start = time.time() + 4
    procs = [subprocess.Popen([sys.executable, "-c", code, str(ws.root), str(v), str(start)], env=clean_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for v in range(3, 23)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    won = [o for o, _ in outs if o.startswith("WON")]
    lost = [o for o, _ in outs if o.startswith("LOST")]
    assert len(won) == 1 and len(lost) == 19, outs
    assert all("changed while this promote was being decided" in o for o in lost)
    with Workspace.open(ws.root) as again:
        champ = again.registry.get("churn@production")
        assert 3 <= champ.version <= 22 and not champ.archived
        h = again.registry.history("churn")
        assert list(h[h.action == "promote"].version) == [2, champ.version]


def test_alias_history_across_several_moves(reg_ws):
    reg = reg_ws.registry
    moments = []
    for v in (2, 3, 4):
        reg.promote("churn", v, reason=f"move to {v}", gates=[])
        moments.append(time.time()); time.sleep(0.05)
    reg.rollback("churn", reason="4 is broken")
    assert reg.get("churn@production").version == 3
    assert [reg.alias_at("churn", "production", t) for t in moments] == [2, 3, 4]
    assert reg.alias_at("churn", "production", moments[0] - 60) is None
    with reg_ws.store.transaction(write=False) as conn:
        rows = conn.execute(sa.text("SELECT version, previous_version FROM alias_history ORDER BY id")).all()
    assert rows == [(2, None), (3, 2), (4, 3), (3, 4)]


def test_load_by_alias_in_a_fresh_process(reg_ws):
    reg_ws.registry.promote("churn", 3, reason="good one", gates=[])
    code = f"""
import mlwork as mw, pandas as pd
ws = mw.Workspace.open({str(reg_ws.root)!r})
m = mw.load_model("churn@production", ws=ws)
X = ws.datasets.get("churn@1").load()[{FEATURES!r}]
print(type(m).__name__, m.predict_proba(X.head(5)).shape)
"""
    out = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "RandomForestClassifier (5, 2)" in out.stdout


def test_cli_promote_gates_rollback_history(reg_ws):
    root = reg_ws.root
    res = mlwork_cli("models", "promote", "churn", "2", "--reason", "baseline", cwd=root)
    assert res.returncode == 0 and "churn@production -> v2" in res.stdout, res.stdout + res.stderr
    res = mlwork_cli("models", "promote", "churn", "1", "--reason", "weaker", cwd=root)     # C=1e-6: no better
    assert res.returncode == 1 and "FAIL  beat_champion" in res.stdout and "PASS  schema_compatible" in res.stdout, res.stdout
    res = mlwork_cli("models", "promote", "churn", "3", "--reason", "forest", cwd=root)
    assert res.returncode == 0, res.stdout + res.stderr
    res = mlwork_cli("models", "rollback", "churn", "--reason", "forest misbehaves", cwd=root)
    assert res.returncode == 0 and "v2 (rolled back)" in res.stdout
    hist = mlwork_cli("models", "history", "churn", cwd=root)
    assert hist.returncode == 0
    for action in ("register", "promote_refused", "promote", "rollback"): assert action in hist.stdout
    assert mlwork_cli("models", "promote", "churn", "3", cwd=root).returncode == 2          # --reason is required
    ls = mlwork_cli("models", "ls", cwd=root)
    assert "production→2" in ls.stdout
    show = mlwork_cli("models", "show", "churn", cwd=root)
    assert show.returncode == 0 and "production" in show.stdout


def test_reference_grammar_in_python_and_cli(reg_ws):
    "NAME@N is a version, NAME@WORD an alias, NAME@latest the newest, NAME/N the older form; digit aliases are refused."
    import json
    from mlwork.refs import RefError
    reg, root = reg_ws.registry, reg_ws.root
    reg.promote("churn", 3, reason="forest", gates=[])
    run_of = {v: reg.get("churn", v).run_id for v in (2, 3, 22)}
    res = run_py("""
        import json, mlwork as mw
        refs = ["churn@2", "churn@production", "churn@latest", "churn/2", "models:/churn@3"]
        out = {r: mw.model_info(r).run_id for r in refs}                 # the default workspace of the current folder
        out["loaded"] = [type(mw.load_model(r)).__name__ for r in ("churn@2", "churn@production", "churn@latest", "churn/2")]
        print(json.dumps(out))
    """, cwd=root)
    got = json.loads(res.stdout)
    assert [got[r] for r in ("churn@2", "churn@production", "churn@latest", "churn/2", "models:/churn@3")] == \
        [run_of[2], run_of[3], run_of[22], run_of[2], run_of[3]]
    assert got["loaded"] == ["LogisticRegression", "RandomForestClassifier", "RandomForestClassifier", "LogisticRegression"]
    with pytest.raises(RefError, match="alias names of digits only are refused"):
        reg.promote("churn", 2, alias="2", reason="x", gates=[])
    assert reg.get("churn@latest").ref == "churn@22" and reg.get("churn/2").ref == "churn@2"

    for ref, shown in (("churn@2", "churn@2"), ("churn@production", "churn@3"), ("churn@latest", "churn@22"), ("churn/2", "churn@2")):
        res = mlwork_cli("models", "show", ref, cwd=root)
        assert res.returncode == 0 and res.stdout.startswith(shown), (ref, res.stdout, res.stderr)
    res = mlwork_cli("models", "promote", "churn", "2", "--alias", "7", "--reason", "x", cwd=root)
    assert res.returncode == 1 and "alias names of digits only are refused" in res.stderr, res.stderr
    res = mlwork_cli("datasets", "show", "churn@production", cwd=root)
    assert res.returncode == 1 and "datasets have no aliases" in res.stderr, res.stderr
    res = mlwork_cli("datasets", "show", "churn@latest", cwd=root)
    assert res.returncode == 0 and res.stdout.startswith("churn@1"), res.stdout


def test_reject_is_an_audited_registry_call(reg_ws):
    reg, root = reg_ws.registry, reg_ws.root
    eid = reg.reject("churn", 4, reason="overfits the quiet month", alias="production")
    h = reg.history("churn")
    last = h.iloc[-1]
    assert (last.action, last.version, last.alias, last.reason) == ("reject", 4, "production", "overfits the quiet month")
    assert reg.get("churn", 4).aliases == [] and len(reg.ls()) == 1                    # nothing else changed
    res = mlwork_cli("models", "reject", "churn", "5", "--reason", "leaks the label", cwd=root)
    assert res.returncode == 0 and "churn@5 rejected" in res.stdout and f"(event {eid + 1})" in res.stdout, res.stdout + res.stderr
    assert mlwork_cli("models", "reject", "churn", "5", cwd=root).returncode == 2          # --reason is required
    res = mlwork_cli("models", "reject", "churn", "5", "--reason", "  ", cwd=root)
    assert res.returncode == 1 and "Rejecting churn@5 needs a reason" in res.stderr, res.stderr
    hist = mlwork_cli("models", "history", "churn", cwd=root)
    assert hist.stdout.count("reject") == 2 and "leaks the label" in hist.stdout
