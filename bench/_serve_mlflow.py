"""Run in bench/.venv-mlflow by bench/serve.py: train the same pipelines on the same CSV data and register each
as NAME@production in an MLflow SQLite store, so `mlflow models serve -m models:/NAME@production` can serve it."""
import json, sys, warnings
import mlflow, pandas as pd
sys.path.insert(0, sys.argv[3])
from _serve_models import build

warnings.filterwarnings("ignore")
mlflow.set_tracking_uri(sys.argv[1])
client = mlflow.MlflowClient()
for spec in json.loads(open(sys.argv[2]).read()):
    df = pd.read_parquet(spec["data"])
    model = build(spec["kind"], df[spec["features"]]).fit(df[spec["features"]], df[spec["target"]])
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=spec["name"],
                                        serialization_format="cloudpickle", input_example=df[spec["features"]].head(2))
    client.set_registered_model_alias(spec["name"], "production", info.registered_model_version)
    print("registered", spec["name"], info.registered_model_version, flush=True)
