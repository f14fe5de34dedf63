"""Datasets end to end: real CSV files through the CLI, real bundled datasets, and awkward frames."""
import numpy as np, pandas as pd
import pytest
from mlwork.workspace import Workspace
from mlwork.schema import DataError
from conftest import mlwork_cli


def test_log_validate_corrupted_copy_through_the_cli(ws_root, tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(5000)], "age": rng.integers(18, 90, 5000),
                       "charges": rng.normal(70, 20, 5000).round(2), "plan": rng.choice(["basic", "pro", "max"], 5000),
                       "churned": rng.integers(0, 2, 5000)})
    df.to_csv(tmp_path / "good.csv", index=False)
    res = mlwork_cli("datasets", "log", tmp_path / "good.csv", "churn", "--target", "churned", "--id", "customer_id", cwd=ws_root)
    assert res.returncode == 0 and "churn@1: 5,000 rows x 5 columns" in res.stdout, res.stderr
    again = mlwork_cli("datasets", "log", tmp_path / "good.csv", "churn", cwd=ws_root)
    assert "churn@1" in again.stdout                       # same content: same version
    bad = df.copy()
    bad.loc[10, "age"] = 250                               # out of range
    bad.loc[11, "plan"] = "platinum"                       # unseen category
    bad.loc[12, "customer_id"] = bad.loc[13, "customer_id"]  # duplicate id
    bad.loc[14:20, "charges"] = np.nan                     # nulls where there were none
    bad = bad.drop(columns=["churned"])                    # missing column
    bad.to_csv(tmp_path / "bad.csv", index=False)
    res = mlwork_cli("datasets", "validate", "churn", "--file", tmp_path / "bad.csv", cwd=ws_root)
    assert res.returncode == 1, res.stdout + res.stderr
    out = res.stdout
    for needle in ["'churned' is missing", "share an id", "null values", "not seen before: 'platinum'", "250"]:
        assert needle in out, (needle, out)
    ok = mlwork_cli("datasets", "validate", "churn@1", "--file", tmp_path / "good.csv", cwd=ws_root)
    assert ok.returncode == 0 and "valid" in ok.stdout
    show = mlwork_cli("datasets", "show", "churn@1", cwd=ws_root)
    assert show.returncode == 0 and "customer_id" in show.stdout and "id" in show.stdout
    (tmp_path / "empty.csv").write_text("")
    res = mlwork_cli("datasets", "log", tmp_path / "empty.csv", "x", cwd=ws_root)
    assert res.returncode == 1 and "the file is empty" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("loader", ["load_iris", "load_wine", "load_diabetes", "load_breast_cancer", "load_digits"])
def test_real_bundled_datasets(ws_root, loader):
    "Real data shipped with scikit-learn: log, reload, profile against the target, validate itself."
    import sklearn.datasets as d
    frame = getattr(d, loader)(as_frame=True).frame
    with Workspace.open(ws_root) as ws:
        dv = ws.datasets.log(frame, loader, target="target")
        assert dv.load().equals(frame)
        assert dv.validate(frame).ok
        prof = dv.profile
        assert prof.rows == len(frame) and set(prof.columns) == set(frame.columns)
        assert set(prof.d["relations"]) == set(frame.columns) - {"target"}


def test_awkward_frames(ws_root):
    n = 300
    df = pd.DataFrame({
        "when": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
        "flag": np.arange(n) % 2 == 0,
        "maybe_int": pd.array([None if i % 10 == 0 else i for i in range(n)], dtype="Int64"),
        "text": pd.array([f"t{i % 7}" for i in range(n)], dtype="string"),
        "huge_card": [f"user-{i}" for i in range(n)],
        "all_null": [np.nan] * n,
        "with_inf": np.where(np.arange(n) == 5, np.inf, np.arange(n, dtype=float)),
    })
    with Workspace.open(ws_root) as ws:
        dv = ws.datasets.log(df, "awkward", time="when")
        notes = " ".join(dv.schema.notes)
        assert "entirely null" in notes and "infinite" in notes
        assert dv.schema["when"].role == "time" and dv.schema["flag"].kind == "bool"
        assert dv.load().shape == df.shape and dv.validate(df).ok
        big = pd.DataFrame({"id": [f"u{i}" for i in range(2000)]})
        hc = ws.datasets.log(big, "high-card")
        assert any("2,000 distinct values" in n for n in hc.schema.notes)
        assert len(hc.profile["id"]["top"]) == 20            # summarised by its top values
        for bad, needle in [(pd.DataFrame(), "no columns"), (pd.DataFrame({"a": []}), "no rows"),
                            (pd.DataFrame([[1, 2]], columns=["a", "a"]), "duplicate column names"),
                            (pd.DataFrame({0: [1]}), "must be strings"), (pd.DataFrame({"m": [1, "x", 2.5]}), "mixes types")]:
            with pytest.raises(DataError, match=needle):
                ws.datasets.log(bad, "bad")


def test_explorer_on_a_million_rows(ws_root):
    "The explorer stays responsive on 1M rows: exact table statistics, sampled plots, quick column switches."
    import time
    from mlwork.widgets.explore import DataExplorer
    rng = np.random.default_rng(0)
    n = 1_000_000
    df = pd.DataFrame({f"x{i}": rng.normal(i, 1, n) for i in range(8)})
    df["cat"] = pd.Categorical(rng.choice(list("abcdef"), n))
    df["y"] = rng.integers(0, 2, n)
    w = DataExplorer(df, target="y").wait(120)
    assert w.overview().set_index("column").loc["x3", "distinct"] == df.x3.nunique()   # exact
    t = time.perf_counter()
    for c in ["x1", "cat", "x7", "y"]:
        w.column = c
    switch = (time.perf_counter() - t) / 4
    assert w.errors.layout.display != "block"
    print(f"column switch on 1M rows: {switch * 1000:.0f} ms")
