"""Models across processes: a logged model loads in a fresh interpreter by `runs:/<id>/model`, and untrusted
code (a custom class, a pickle) is refused there before any of it runs."""
import json
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from conftest import run_py
from mlwork.workspace import Workspace
from mlwork.models import PickleSecurityWarning

# A module with a custom transformer that leaves a marker file whenever it is imported: if a process that
# refuses the model has no marker, the model's code never ran there.
STEPS = '''
import os
from pathlib import Path
marker = os.environ.get("STEPS_MARKERS")
if marker: (Path(marker) / f"imported-{os.getpid()}").touch()
from sklearn.base import BaseEstimator, TransformerMixin
class AddOne(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None): return self
    def transform(self, X): return X + 1
'''


class Touch:
    "Unpickling this runs code: it creates `path`."
    def __init__(self, path): self.path = path
    def __reduce__(self): return (Path.touch, (Path(self.path),))


@pytest.fixture
def data():
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=400, n_features=6, random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(6)]), y


def test_fresh_process_loads_by_uri_and_predicts_the_same(ws_root, data, tmp_path):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = data
    model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=30, random_state=0)).fit(X, y)
    with Workspace.open(ws_root) as ws, ws.start_run("models") as run:
        info = run.log_model(model, signature=X)
    X.to_parquet(tmp_path / "X.parquet")
    out = tmp_path / "proba.npy"
    res = run_py(f"""
        import warnings, numpy as np, pandas as pd
        warnings.simplefilter("error")                     # same versions: no warning of any kind
        from mlwork import load_model, model_info      # by reference, from the default workspace
        m = load_model("{info.uri}")                       # the default workspace of the current folder
        X = pd.read_parquet({str(tmp_path / 'X.parquet')!r})
        assert model_info("{info.uri}").schema.validate(X).ok
        np.save({str(out)!r}, m.predict_proba(X))
        print(type(m).__name__)
    """, cwd=ws_root)
    assert res.stdout.strip() == "Pipeline"
    assert np.array_equal(np.load(out), model.predict_proba(X))


def test_untrusted_type_is_refused_in_a_fresh_process(ws_root, data, tmp_path, monkeypatch):
    X, y = data
    mods, markers = tmp_path / "mods", tmp_path / "markers"
    mods.mkdir(); markers.mkdir()
    (mods / "my_steps.py").write_text(STEPS)
    monkeypatch.syspath_prepend(str(mods))
    monkeypatch.setenv("STEPS_MARKERS", str(markers))
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    import my_steps
    model = make_pipeline(my_steps.AddOne(), LogisticRegression()).fit(X, y)
    with Workspace.open(ws_root) as ws, ws.start_run("models") as run:
        with pytest.warns(UserWarning, match="my_steps.AddOne"):
            info = run.log_model(model)
    X.to_parquet(tmp_path / "X.parquet")
    code = f"""
        import os, sys, json
        from mlwork import load_model
        from mlwork.models import UntrustedModelError
        try:
            load_model("{info.uri}")
            print(json.dumps({{"loaded": True}}))
        except UntrustedModelError as e:
            print(json.dumps({{"loaded": False, "types": e.types, "message": str(e), "pid": os.getpid(),
                               "imported": "my_steps" in sys.modules}}))
    """
    refused = json.loads(run_py(code, cwd=ws_root, PYTHONPATH=mods, STEPS_MARKERS=markers).stdout)
    assert refused["loaded"] is False and refused["types"] == ["my_steps.AddOne"]
    assert "trusted=['my_steps.AddOne']" in refused["message"]
    assert not refused["imported"] and not (markers / f"imported-{refused['pid']}").exists()   # its code never ran

    out = tmp_path / "pred.npy"
    trusted = run_py(f"""
        import numpy as np, pandas as pd
        from mlwork import load_model
        m = load_model("{info.uri}", trusted=["my_steps.AddOne"])
        np.save({str(out)!r}, m.predict(pd.read_parquet({str(tmp_path / 'X.parquet')!r})))
    """, cwd=ws_root, PYTHONPATH=mods)
    assert trusted.returncode == 0 and np.array_equal(np.load(out), model.predict(X))


def test_pickle_is_refused_without_consent_before_it_runs(ws_root, tmp_path):
    marker = tmp_path / "pwned"
    with Workspace.open(ws_root) as ws, ws.start_run("models") as run:
        with pytest.warns(PickleSecurityWarning, match="arbitrary code"):
            info = run.log_model(Touch(marker), pickle=True)
    assert not marker.exists()
    res = run_py(f"""
        from mlwork import load_model
        from mlwork.models import UntrustedModelError
        for consent in (None, ["tests.Touch"]):
            try: load_model("{info.uri}", trusted=consent); raise SystemExit("loaded a pickle without consent")
            except UntrustedModelError as e: assert "trusted=True" in str(e), e
        print("refused")
    """, cwd=ws_root)
    assert res.stdout.strip() == "refused" and not marker.exists()
    run_py(f"""
        from mlwork import load_model
        load_model("{info.uri}", trusted=True)
    """, cwd=ws_root)
    assert marker.exists()                  # with consent, the pickle ran (which is exactly why it needs consent)


def test_corrupted_model_file_is_detected_in_a_fresh_process(ws_root, data):
    from sklearn.linear_model import LogisticRegression
    X, y = data
    with Workspace.open(ws_root) as ws:
        with ws.start_run("models") as run:
            info = run.log_model(LogisticRegression().fit(X, y))
        blob = Path(ws.blobs.path(info.sha256))
    data_ = bytearray(blob.read_bytes())
    data_[len(data_) // 2] ^= 0xFF
    blob.write_bytes(bytes(data_))
    res = run_py(f"""
        from mlwork import load_model
        from mlwork.errors import ArtifactCorruptError
        try: load_model("{info.uri}"); raise SystemExit("corruption not detected")
        except ArtifactCorruptError as e: print(e)
    """, cwd=ws_root)
    assert info.sha256 in res.stdout and "corrupted" in res.stdout
