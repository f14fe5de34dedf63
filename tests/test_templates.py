"""The shipped job notebooks (train, evaluate, score) run with plain papermill, and through mlwork."""
import subprocess, sys
from pathlib import Path
import nbformat
import pandas as pd
from mlwork.workspace import Workspace
from mlwork.synthetic import churn_pair
from conftest import clean_env

PAPERMILL = str(Path(sys.executable).parent / "papermill")


def papermill(ws_root, name, out, **params):
    args = [PAPERMILL, str(ws_root / "jobs" / f"{name}.ipynb"), str(out), "-k", "mlwork", "--cwd", str(ws_root),
            "--no-progress-bar"]
    for k, v in params.items(): args += ["-p", k, str(v)]
    res = subprocess.run(args, env=clean_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return nbformat.read(out, as_version=4)


def test_templates_with_plain_papermill(ws_root, tmp_path):
    ref, cur = churn_pair(3000, seed=3)
    with Workspace.open(ws_root) as ws:
        ws.datasets.log(ref, "churn", target="churned", id="customer_id", time="period")
        ws.datasets.log(cur, "churn", target="churned", id="customer_id", time="period")
    papermill(ws_root, "train", tmp_path / "train.ipynb", model="logreg", experiment="tpl")
    with Workspace.open(ws_root) as ws:
        trained = ws.runs("tpl")
        assert len(trained) == 1 and trained.status[0] == "FINISHED" and trained["metrics.roc_auc"][0] > 0.7
        model_run = trained.run_id[0]
        assert "models/model/model.skops" in set(ws.get_run(model_run).artifacts().path)
    papermill(ws_root, "evaluate", tmp_path / "evaluate.ipynb", model_run=model_run, version="2", experiment="tpl-eval")
    papermill(ws_root, "score", tmp_path / "score.ipynb", model_run=model_run, input="churn@2",
              output=str(tmp_path / "pred.parquet"), chunk_size=1000, experiment="tpl-score")
    pred = pd.read_parquet(tmp_path / "pred.parquet")
    assert len(pred) == len(cur) and list(pred.columns) == ["customer_id", "prediction", "probability"]
    assert pred.customer_id.tolist() == cur.customer_id.tolist()       # chunked, in order
    # by registry reference, with the ONNX runtime (issue 17): the same rows, the same predictions within the parity tolerance
    with Workspace.open(ws_root) as ws: ws.registry.register(model_run, "tplchurn")
    papermill(ws_root, "score", tmp_path / "score-onnx.ipynb", model="tplchurn@1", runtime="onnx", input="churn@2",
              output=str(tmp_path / "pred-onnx.parquet"), chunk_size=1000, experiment="tpl-score")
    onnx = pd.read_parquet(tmp_path / "pred-onnx.parquet")
    assert onnx.customer_id.tolist() == pred.customer_id.tolist() and (onnx.prediction == pred.prediction).mean() > 0.999
    assert (onnx.probability - pred.probability).abs().max() < 1e-5
    with Workspace.open(ws_root) as ws:
        assert ws.registry.derived("tplchurn@1").passed
        sc = ws.runs("tpl-score", order_by="start_time")
        assert sc["tags.runtime"].tolist() == ["sklearn", "onnx"] and sc["tags.model"].iloc[-1] == "tplchurn@1"
    with Workspace.open(ws_root) as ws:
        ev = ws.runs("tpl-eval")
        assert ev.status[0] == "FINISHED" and ev["tags.model_run"][0] == model_run and "metrics.roc_auc" in ev
        sc = ws.runs("tpl-score")
        assert (sc["metrics.rows"] == len(cur)).all()


def test_train_job_through_mlwork_then_rerun_pins_the_dataset_version(ws_root):
    ref, cur = churn_pair(2000, seed=4)
    with Workspace.open(ws_root) as ws:
        ws.datasets.log(ref, "churn", target="churned", id="customer_id", time="period")
        job = ws.jobs.run("train", {"model": "logreg", "experiment": "rr"})
        assert job.status == "FINISHED", job.error
        ws.datasets.log(cur, "churn", target="churned", id="customer_id", time="period")   # "latest" moves on
        again, diff = ws.jobs.rerun(job.id, compare=True)
        assert again.status == "FINISHED" and again.parameters["version"] == "1"
        assert (diff.set_index("metric").loc["roc_auc", "difference"]) == 0.0         # same data, same seed
