"""The demo: synthetic data versioned and validated, the train job run for three configurations in parallel."""
from mlwork.workspace import Workspace
from conftest import mlwork_cli


POLICY = "\n[promotion]\neval_dataset = churn@2\nmin_metric = roc_auc >= 0.7\nbeat_champion_by = 0.0\nschema_compatible = true\nmax_latency_ms = 200\n"


def test_mlwork_demo_runs_three_train_jobs(ws_root):
    (ws_root / "settings.ini").write_text((ws_root / "settings.ini").read_text() + POLICY)   # as in this repo's settings.ini
    res = mlwork_cli("demo", "--customers", "4000", cwd=ws_root, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "Runs of 'demo-churn'" in out and "metrics.roc_auc" in out
    assert "not seen before: 'crypto'" in out                       # the new month was validated
    with Workspace.open(ws_root) as ws:
        jobs = ws.jobs.ls()
        assert len(jobs) == 3 and set(jobs.status) == {"FINISHED"}
        df = ws.runs("demo-churn", order_by="-metrics.roc_auc")
        assert len(df) == 3 and set(df.status) == {"FINISHED"} and df["metrics.roc_auc"].iloc[0] > 0.75
        assert set(df["params.model"]) == {"logreg", "random_forest", "gradient_boosting"}
        for run_id in df.run_id:
            job_id = ws.get_run(run_id).info["job_id"]
            html = ws.jobs.output_file(job_id, "html")
            assert str(html) in out and "roc_auc" in html.read_text()       # the executed notebook, printed and openable
        assert set(ws.datasets.get("churn@1").runs().run_id) == set(df.run_id)
        reg = ws.registry
        champ = reg.get("churn@production")          # the best on the gates' evaluation data, promoted through them
        assert champ.version == 3 and champ.run_id in set(df.run_id) and len(reg.versions("churn")) == 3
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
