"""The demo job: real scikit-learn models on a bundled dataset, logged and printed as a table."""
from mlwork.workspace import Workspace
from conftest import mlwork_cli


def test_mlwork_demo_logs_real_runs_and_prints_the_table(ws_root):
    res = mlwork_cli("demo", cwd=ws_root, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "Runs of 'demo-breast-cancer'" in res.stdout and "metrics.roc_auc" in res.stdout
    with Workspace.open(ws_root) as ws:
        df = ws.runs("demo-breast-cancer", where="tags.kind = 'model'", order_by="-metrics.roc_auc")
        assert len(df) == 7 and set(df.status) == {"FINISHED"}
        assert df["metrics.roc_auc"].iloc[0] > 0.95                     # a real model, really trained
        assert set(df["params.model"]) == {"logreg", "random_forest", "gradient_boosting"}
        parent = ws.runs("demo-breast-cancer", where="tags.kind = 'sweep'")
        assert len(parent) == 1 and set(df.parent_id) == {parent.run_id[0]}
