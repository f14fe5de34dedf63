"""Artifacts: content addressing, corruption detection, path checks, and any fsspec URL."""
import hashlib
from pathlib import Path
import pytest
from mlwork.errors import ArtifactCorruptError, InvalidPathError, ArtifactError
from mlwork.workspace import Workspace


def test_corrupted_artifact_is_detected(ws_root):
    with Workspace.open(ws_root) as ws:
        with ws.start_run("a") as run:
            run.log_text("precious results", "results.txt")
        digest = hashlib.sha256(b"precious results").hexdigest()
        blob = Path(ws.blobs.path(digest))
        assert blob.read_bytes() == b"precious results"
        blob.write_bytes(b"precious resultz")            # bit rot / tampering on disk
        with pytest.raises(ArtifactCorruptError) as e:
            ws.get_run(run.id).load_artifact("results.txt")
        assert digest in str(e.value)


def test_same_content_is_stored_once_and_runs_are_not_rewritten(ws_root, tmp_path):
    with Workspace.open(ws_root) as ws:
        f = tmp_path / "model.bin"
        f.write_bytes(b"\x00" * 100_000)
        with ws.start_run("a") as r1: r1.log_artifact(f)
        with ws.start_run("a") as r2:
            r2.log_artifact(f, "copy/model.bin")
            r2.log_artifact(f, "copy/model.bin")          # same content again: fine
            with pytest.raises(ArtifactError, match="never rewritten"):
                r2.log_bytes(b"other", "copy/model.bin")
        blobs = [p for p in Path(ws.settings.artifacts).rglob("*") if p.is_file()]
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        assert sum(p.name == digest[2:] for p in blobs) == 1
        assert not [p for p in blobs if ".tmp-" in p.name]


@pytest.mark.parametrize("bad", ["", "/abs/path", "../escape", "a/../../escape", "a//b", "./a", "a\\b", "C:/x", "~/x"])
def test_bad_logical_paths_are_rejected(ws_root, bad):
    with Workspace.open(ws_root) as ws, ws.start_run("a") as run:
        with pytest.raises(InvalidPathError) as e:
            run.log_bytes(b"x", bad)
        assert repr(bad) in str(e.value)
        assert len(run.artifacts()) == 1                   # only the environment list


def test_folder_and_dataframe_and_figure_artifacts(ws_root, tmp_path):
    import pandas as pd
    (tmp_path / "d/sub").mkdir(parents=True)
    (tmp_path / "d/a.txt").write_text("a")
    (tmp_path / "d/sub/b.txt").write_text("b")
    with Workspace.open(ws_root) as ws, ws.start_run("a") as run:
        assert run.log_artifact(tmp_path / "d") == ["d/a.txt", "d/sub/b.txt"]
        run.log_dataframe(pd.DataFrame({"x": [1, 2]}), "tables/x")
        import io
        assert pd.read_parquet(io.BytesIO(run.load_artifact("tables/x.parquet"))).x.tolist() == [1, 2]
        import plotly.graph_objects as go                  # the dev extra installs plotly
        paths = run.log_figure(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), "plots/line")
        assert paths == ["plots/line.json", "plots/line.html"]
        assert b"<html" in run.load_artifact("plots/line.html")


def test_fsspec_url_for_artifacts(ws_root):
    "Any fsspec URL works; the in-memory file system stands in for object storage (no S3 here)."
    import os
    os.environ["MLWORK_ARTIFACTS"] = "memory://mlwork-test-bucket/artifacts"
    try:
        with Workspace.open(ws_root) as ws, ws.start_run("a") as run:
            run.log_bytes(b"in memory", "m.bin")
            assert ws.blobs.local is False
            assert run.load_artifact("m.bin") == b"in memory"
    finally:
        del os.environ["MLWORK_ARTIFACTS"]
