"""Jobs with real papermill kernels: success, failure in a cell, timeout, bad parameters, parallel writers, rerun."""
import json, subprocess, sys
import nbformat
import pytest
from mlwork.workspace import Workspace
from mlwork.runner import JobError, ParameterError
from conftest import mlwork_cli, clean_env


def job_notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "mlwork", "display_name": "Python (mlwork)", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def ws(ws_root):
    job_notebook(ws_root / "jobs" / "steps.ipynb", [
        "steps = 3\nfail_at = -1\nsleep = 0.0",
        "import time, mlwork as mw\nws = mw.Workspace.open()",
        "assert fail_at != 3, 'asked to fail in cell 3'",
        "with ws.start_run('steps', params={'steps': steps}) as run:\n"
        "    for i in range(steps):\n        run.log_metric('loss', 1 / (i + 1))\n        time.sleep(sleep)",
    ])
    with Workspace.open(ws_root) as w:
        yield w


def test_job_succeeds_and_links_its_runs(ws):
    job = ws.jobs.run("steps", {"steps": 5})
    assert job.status == "FINISHED" and job.error is None
    runs = job.runs()
    assert len(runs) == 1 and runs["metrics.loss"][0] == 0.2
    assert ws.get_run(runs.run_id[0]).info["job_id"] == job.id
    assert ws.get_run(runs.run_id[0]).info["code_path"] == job.notebook     # the run points back at the job notebook
    out = nbformat.reads(job.output_path.read_text(), as_version=4)
    assert "widgets" not in out.metadata and "injected-parameters" in out.cells[1].metadata.get("tags", [])
    assert "<html" in job.html_path.read_text()[:500].lower()


def test_job_fails_in_cell_3_with_the_cell_recorded(ws):
    res = mlwork_cli("jobs", "run", "steps", "-p", "fail_at=3", cwd=ws.root)
    assert res.returncode == 1, res.stdout + res.stderr
    job = ws.jobs.get(res.stdout.split()[0])
    assert job.status == "FAILED" and job.error["ename"] == "AssertionError"
    assert job.error["source"] == "assert fail_at != 3, 'asked to fail in cell 3'"
    out = nbformat.reads(job.output_path.read_text(), as_version=4)
    failing = out.cells[job.error["cell_index"]]
    assert failing.outputs[0]["output_type"] == "error" and "asked to fail" in job.html_path.read_text()
    show = mlwork_cli("jobs", "show", job.id[:8], cwd=ws.root)
    assert "error in cell" in show.stdout and "asked to fail in cell 3" in show.stdout


def test_job_times_out(ws):
    job = ws.jobs.run("steps", {"steps": 100, "sleep": 1.0}, timeout=4)
    assert job.status == "FAILED" and job.error["ename"] == "TimeoutError"
    assert "time.sleep" in job.error["source"]
    runs = job.runs()      # the run inside was cut off too; it is not left RUNNING once its process is gone
    with Workspace.open(ws.root) as again:
        assert again.get_run(runs.run_id[0]).status == "FAILED"


def test_bad_parameters_are_refused_before_a_kernel_starts(ws):
    before = len(ws.jobs.ls())
    with pytest.raises(ParameterError, match=r"Unknown parameter 'stepz'.*steps: int = 3"):
        ws.jobs.run("steps", {"stepz": 5})
    with pytest.raises(ParameterError, match="Bad parameter steps='five'"):
        ws.jobs.run("steps", {"steps": "five"})
    assert len(ws.jobs.ls()) == before                                   # nothing was recorded or started
    res = mlwork_cli("jobs", "run", "steps", "-p", "steps=five", cwd=ws.root)
    assert res.returncode == 1 and "expected int" in res.stderr


def test_two_parallel_jobs_write_to_one_store(ws):
    res = mlwork_cli("jobs", "run", "steps", "--grid", "steps=200,300", "--parallel", "2", cwd=ws.root)
    assert res.returncode == 0, res.stdout + res.stderr
    df = ws.runs("steps", order_by="params.steps")
    assert list(df["params.steps"]) == [200, 300] and set(df.status) == {"FINISHED"}
    assert len(ws.metric_history(df.run_id, "loss")) == 500


def test_rerun_reports_metric_differences(ws):
    first = ws.jobs.run("steps", {"steps": 4})
    res = mlwork_cli("jobs", "rerun", first.id[:8], cwd=ws.root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "loss" in res.stdout and "difference" in res.stdout
    again = ws.jobs.ls().iloc[0]
    assert again.status == "FINISHED" and again.parameters == {"steps": 4}


def test_jobs_ls_and_output(ws):
    job = ws.jobs.run("steps")
    res = mlwork_cli("jobs", "ls", cwd=ws.root)
    assert res.returncode == 0 and job.id[:8] in res.stdout
    job.html_path.unlink()                                              # restored from the store on demand
    res = mlwork_cli("jobs", "output", job.id, cwd=ws.root)
    assert res.returncode == 0 and res.stdout.strip().endswith("output.html") and job.html_path.exists()


def test_notebook_without_kernelspec_runs_with_the_workspace_kernel(ws, capfd):
    "As nbformat, jupytext or a script write them: no kernelspec, no language. Not a kernel death, not retried."
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("n = 2"), nbformat.v4.new_code_cell("import sys\nprint(sys.executable, n * 21)")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, ws.settings.jobs / "bare.ipynb")
    assert "kernelspec" not in nbformat.read(ws.settings.jobs / "bare.ipynb", as_version=4).metadata
    job = ws.jobs.run("bare", {"n": 1})
    assert job.status == "FINISHED" and job.error is None, job.error
    assert f"{sys.executable} 21" in job.output_path.read_text()          # the workspace's own Python ran it
    broken = ws.settings.jobs / "broken.ipynb"                           # an error of the notebook itself: once, no retry
    broken.write_text('{"cells": [], "metadata": {}, "nbformat": 99, "nbformat_minor": 0}')     # papermill cannot read it
    res = mlwork_cli("jobs", "run", "broken", cwd=ws.root)
    assert res.returncode == 1 and "kernel died" not in res.stdout + res.stderr
    failed = ws.jobs.ls().iloc[0]
    assert failed.status == "FAILED" and failed.notebook == "broken"


def test_dask_executor_is_refused_before_any_job_is_recorded(ws):
    "The embedded store and artifact folder are the laptop's: a Dask worker could not reach them (tests/test_dask.py runs jobs there)."
    before = len(ws.jobs.ls())
    with pytest.raises(JobError, match=r"relative to the workspace folder.*postgresql\+psycopg"):
        ws.jobs.run("steps", executor="dask://scheduler:8786")
    res = mlwork_cli("jobs", "run", "steps", cwd=ws.root, MLWORK_EXECUTOR="dask://scheduler:8786")
    assert res.returncode == 1 and "relative to the workspace" in res.stderr and "MLWORK_EXECUTOR" in res.stderr, res.stderr
    assert len(ws.jobs.ls()) == before                                   # nothing was recorded
