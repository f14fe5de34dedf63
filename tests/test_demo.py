"""`mlwork demo` (what `make demo` runs): the whole lifecycle, from data to a gated retrain after drift, as one test."""
import shutil, subprocess
from mlwork.workspace import Workspace
from conftest import mlwork_cli, ROOT


POLICY = ("\n[promotion]\neval_dataset = churn@2\nmin_metric = roc_auc >= 0.7\nbeat_champion_by = 0.0\nschema_compatible = true\n"
          "max_latency_ms = 200\n\n[monitoring]\ndrift_share = 0.5\nretrain_on = drift, auc_drop\nauto_promote = false\ncooldown_hours = 24\n")


def _untracked(root) -> str:
    "What `git status` shows in `root`, every untracked file listed."
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root, capture_output=True,
                          text=True, check=True).stdout


def test_mlwork_demo_runs_three_train_jobs(ws_root):
    repo = (ROOT / "settings.ini").read_text()
    live = repo[repo.index("# The loop on live traffic"):]                 # the live loop's sections, as in this repo
    (ws_root / "settings.ini").write_text((ws_root / "settings.ini").read_text() + POLICY + "\n" + live)   # as in this repo's settings.ini
    shutil.copy(ROOT / ".gitignore", ws_root / ".gitignore")       # the workspace as this repository's root, in a clone
    subprocess.run(["git", "init", "-q"], cwd=ws_root, check=True)
    before = _untracked(ws_root)
    res = mlwork_cli("demo", "--customers", "4000", cwd=ws_root, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "Runs of 'demo-churn'" in out and "metrics.roc_auc" in out
    assert "not seen before: 'crypto'" in out                       # the new month was validated
    with Workspace.open(ws_root) as ws:
        jobs = ws.jobs.ls()
        # 3 train jobs, the score job, 3 monitor jobs, and the retrain the drifted month triggered; the live loop's
        # train job and its retrain
        assert len(jobs) == 10 and set(jobs.status) == {"FINISHED"}, jobs
        # the live loop: drift found in the live log, retrained, canary, promoted by the live gate
        assert ws.registry.get("churn-live", "production").version == 2
        lin = ws.monitor.lineage("churn-live").action.tolist()
        assert lin[-3:] == ["retrain_finished", "promote", "canary_promoted"] and "traffic_set" in lin, lin
        assert "tick: promoted v2: every live gate passed: Better" in out
        assert len(ws.runs("demo-churn")) == 4                        # the sweep, and the retrain on churn@3
        df = ws.runs("demo-churn", where="params.dataset = 'churn@1'", order_by="-metrics.roc_auc")
        assert len(df) == 3 and set(df.status) == {"FINISHED"} and df["metrics.roc_auc"].iloc[0] > 0.75
        assert set(df["params.model"]) == {"logreg", "random_forest", "gradient_boosting"}
        for run_id in df.run_id:
            job_id = ws.get_run(run_id).info["job_id"]
            html = ws.jobs.output_file(job_id, "html")
            assert str(html) in out and "roc_auc" in html.read_text()       # the executed notebook, printed and openable
        assert set(ws.datasets.get("churn@1").runs().run_id) == set(df.run_id)
        reg = ws.registry
        champ = reg.get("churn@production")          # the best on the gates' evaluation data, promoted through them
        assert champ.version == 3 and champ.run_id in set(df.run_id) and len(reg.versions("churn")) == 4
        h = reg.history("churn")
        promoted = h[h.action == "promote"]
        assert list(promoted.version) == [2, 3] and not promoted.forced.any()
        assert "beat_champion:pass" in promoted.iloc[1].gates and "max_latency:pass" in promoted.iloc[1].gates
        # the story of the issue: a weaker candidate is blocked, rollback, promote the better one again
        from mlwork.registry import GateFailed
        import pytest
        with pytest.raises(GateFailed):
            reg.promote("churn", 1, reason="try the weakest")
        assert reg.rollback("churn", reason="check the baseline").version == 2
        reg.promote("churn", 3, reason="the better one, again")
        assert reg.get("churn@production").version == 3
    assert "churn@production -> v3" in out and "PASS min_metric" in out
    # the lifecycle after the sweep: score the drifted month, monitor, retrain once, reports
    with Workspace.open(ws_root) as ws:
        reps = ws.monitor.reports("churn").sort_values("id")
        assert list(reps.current) == ["churn@2", "churn@3", "churn@3"] and list(reps.dataset_drift) == [False, True, True]
        assert {"payment_method", "contract", "monthly_charges"} <= set(reps.drifted.iloc[1].split(", "))
        lin = ws.monitor.lineage("churn")
        retrain = lin[lin.action.str.startswith("retrain")]
        assert list(retrain.action) == ["retrain_started", "retrain_finished", "retrain_skipped"], retrain
        fin = ws.registry.history("churn").query("action == 'retrain_finished'").details.iloc[0]
        assert fin["version"] == 4 and fin["status"] in ("blocked", "waiting") and fin["dataset"] == "churn@3"
        run = ws.get_run(fin["run_id"])
        assert run.info["job_id"] == fin["job_id"] and list(run.datasets().version) == [3]
        assert ws.registry.get("churn@production").version == 3          # auto_promote = false: v4 waits
        for f in ("demo-out/reports/demo-churn.html", "demo-out/reports/drift-month3.html", "demo-out/reports/churn-card.html",
                  "demo-out/workbench.ipynb", "demo-out/predictions-month3.parquet"):
            assert (ws_root / f).stat().st_size > 1000, f
            assert str(ws_root / f) in out                                   # the summary says where to look
        # the retrain was judged on fresh data: the drifted month's latest rows, which the candidate did not train on
        held = [g for g in fin["gates"] if g["gate"] in ("min_metric", "beat_champion") and "churn@3, held out" in g["detail"]]
        assert len(held) == 2 and fin["holdout"].startswith("churn@3, held out: the latest 800 of 4,000 rows by period")
        assert ws.jobs.get(fin["job_id"]).parameters["holdout"] == 0.2
    assert f"judged on fresh data: {fin['holdout']}" in out and "PASS min_metric: roc_auc" in out
    assert f"Every file the demo wrote is in {ws_root / 'demo-out'}" in out
    assert _untracked(ws_root) == before                                     # nothing left outside the ignored folders
    assert "jupyter lab" in out and "retrain blocked" in out or "retrain waiting" in out
    assert "retrain skipped: cool-down" in out
