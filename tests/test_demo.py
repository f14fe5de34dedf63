"""The demo job: synthetic data versioned and validated, real scikit-learn models trained and logged."""
from mlwork.workspace import Workspace
from conftest import mlwork_cli


def test_mlwork_demo_logs_real_runs_and_prints_the_table(ws_root):
    res = mlwork_cli("demo", "--customers", "5000", cwd=ws_root, timeout=600)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "Runs of 'demo-churn'" in out and "metrics.roc_auc" in out
    assert "not seen before: 'crypto'" in out                       # the new month was validated
    with Workspace.open(ws_root) as ws:
        df = ws.runs("demo-churn", where="tags.kind = 'model'", order_by="-metrics.roc_auc")
        assert len(df) == 6 and set(df.status) == {"FINISHED"}
        assert df["metrics.roc_auc"].iloc[0] > 0.75                   # real models, really trained
        assert set(df["params.model"]) == {"logreg", "random_forest", "gradient_boosting"}
        parent = ws.runs("demo-churn", where="tags.kind = 'sweep'")
        assert len(parent) == 1 and set(df.parent_id) == {parent.run_id[0]}
        v1 = ws.datasets.get("churn@1")
        assert set(v1.runs().run_id) == set(df.run_id) | {parent.run_id[0]}   # lineage: every run trained on churn@1
        assert ws.datasets.get("churn").version == 2
