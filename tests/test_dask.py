"""Jobs on a real Dask cluster (a `dask scheduler` and two `dask worker` processes on 127.0.0.1) against PostgreSQL:
a sweep, a worker killed mid-job, the client exiting mid-sweep, refusal of unreachable settings, cancellation."""
import os, signal, subprocess, sys, time
from pathlib import Path
import pytest
from conftest import BIN, clean_env, mlwork_cli, _free_port
from test_jobs import job_notebook

pytest.importorskip("distributed")


def _wait_port(port, proc, timeout=30):
    import socket
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None: raise RuntimeError(f"the Dask process exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0: return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class Cluster:
    "A scheduler and worker processes, each in its own process group (so a test can kill one worker)."
    def __init__(self, tmp, **env):
        self.port, self.tmp, self.workers, self.env = _free_port(), tmp, [], clean_env(**env)
        self.spec = f"dask://127.0.0.1:{self.port}"
        self.scheduler = subprocess.Popen([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                           "--no-dashboard"], env=self.env, start_new_session=True,
                                          stdout=subprocess.DEVNULL, stderr=open(tmp / "scheduler.log", "w"))
        _wait_port(self.port, self.scheduler)

    def add_worker(self, name):
        p = subprocess.Popen([BIN / "dask", "worker", f"tcp://127.0.0.1:{self.port}", "--nthreads", "1", "--no-nanny",
                              "--no-dashboard", "--name", name, "--host", "127.0.0.1"],
                             env=self.env, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=open(self.tmp / f"{name}.log", "w"))
        self.workers.append(p)
        return p

    def wait_for_workers(self, n, timeout=60):
        from distributed import Client
        with Client(f"tcp://127.0.0.1:{self.port}", timeout=20) as c: c.wait_for_workers(n, timeout=timeout)

    def stop(self):
        for p in [*self.workers, self.scheduler]:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in [*self.workers, self.scheduler]:
            try: p.wait(10)
            except subprocess.TimeoutExpired: os.killpg(p.pid, signal.SIGKILL); p.wait()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        c.add_worker("w1"); c.add_worker("w2")
        c.wait_for_workers(2)
        yield c
    finally:
        c.stop()


@pytest.fixture
def team_ws(ws_root, pg_url, tmp_path, cluster, monkeypatch):
    "A workspace on PostgreSQL with artifacts in an absolute folder (shared: the workers run on this machine)."
    from mlwork.workspace import Workspace
    art = tmp_path / "shared-artifacts"
    monkeypatch.setenv("MLWORK_STORE", pg_url)
    monkeypatch.setenv("MLWORK_ARTIFACTS", str(art))
    monkeypatch.setenv("MLWORK_EXECUTOR", cluster.spec)
    job_notebook(ws_root / "jobs" / "steps.ipynb", [
        "steps = 3\nfail_at = -1\nsleep = 0.0",
        "import time, mlwork as mw\nws = mw.Workspace.open()",
        "assert fail_at != 3, 'asked to fail in cell 3'",
        "with ws.start_run('steps', params={'steps': steps}) as run:\n"
        "    for i in range(steps):\n        run.log_metric('loss', 1 / (i + 1))\n        time.sleep(sleep)",
    ])
    with Workspace.open(ws_root) as ws:
        yield ws


def _wait_status(ws, ids, statuses=("FINISHED", "FAILED", "KILLED"), timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        rows = [ws.jobs.get(j) for j in ids]
        if all(r.status in statuses for r in rows): return rows
        time.sleep(0.5)
    raise TimeoutError([(r.id, r.status) for r in rows])


def test_sweep_on_the_cluster_records_like_the_local_executor(team_ws, cluster):
    ws = team_ws
    t0 = time.time()
    jobs = ws.jobs.map("steps", [{"steps": n} for n in (2, 3, 4, 5)] + [{"fail_at": 3}])
    print(f"5 jobs on 2 Dask workers: {time.time() - t0:.1f} s")
    assert [j.status for j in jobs] == ["FINISHED"] * 4 + ["FAILED"]
    assert {j.info["executor"] for j in jobs} == {cluster.spec}
    assert jobs[4].error["ename"] == "AssertionError" and "asked to fail" in jobs[4].error["source"]
    for j, n in zip(jobs, (2, 3, 4, 5)):
        runs = j.runs()
        assert len(runs) == 1 and runs["metrics.loss"][0] == pytest.approx(1 / n)
        assert ws.get_run(runs.run_id[0]).info["job_id"] == j.id
        info = ws.get_run(runs.run_id[0]).info
        assert info["code_path"] == str((ws.root / "jobs" / "steps.ipynb").resolve()), info["code_path"]   # not the worker's temp copy
        assert "injected-parameters" in j.output_path.read_text() and "<html" in j.html_path.read_text()[:500].lower()
    # the executed notebook came back through the artifact store, not through this machine's job folder
    assert len(ws.runs("steps")) == 4


def test_cli_runs_a_job_on_the_cluster(team_ws, cluster):
    res = mlwork_cli("jobs", "run", "steps", "-p", "steps=2", "--executor", cluster.spec, cwd=team_ws.root,
                     MLWORK_STORE=os.environ["MLWORK_STORE"], MLWORK_ARTIFACTS=os.environ["MLWORK_ARTIFACTS"])
    assert res.returncode == 0, res.stdout + res.stderr
    job = team_ws.jobs.get(res.stdout.split()[0])
    assert job.status == "FINISHED" and job.info["executor"] == cluster.spec


def test_unreachable_settings_are_refused_before_submission(ws_root, cluster):
    from mlwork.workspace import Workspace
    from mlwork.runner import JobError
    job_notebook(ws_root / "jobs" / "steps.ipynb", ["steps = 3"])
    with Workspace.open(ws_root) as ws:
        with pytest.raises(JobError, match=r"relative to the workspace folder.*postgresql\+psycopg.*shares this file system"):
            ws.jobs.run("steps", executor=cluster.spec)
        assert len(ws.jobs.ls()) == 0
    res = mlwork_cli("jobs", "run", "steps", "--executor", cluster.spec, cwd=ws_root)
    assert res.returncode == 1 and "s3://BUCKET/PREFIX" in res.stderr, res.stderr


def test_timeout_and_cancel_on_the_cluster(team_ws):
    ws = team_ws
    job = ws.jobs.run("steps", {"steps": 100, "sleep": 1.0}, timeout=4)
    assert job.status == "FAILED" and job.error["ename"] == "TimeoutError"
    ids = [ws.jobs.submit("steps", {"steps": 100, "sleep": 1.0})]
    from mlwork.dask_executor import DaskExecutor, package, run_task
    from distributed import Client, fire_and_forget
    with Client(f"tcp://127.0.0.1:{ws.settings.executor.rsplit(':', 1)[1]}") as c:
        fire_and_forget(c.submit(run_task, package(ws.jobs, ids[0]), pure=False, retries=0))
    _wait_status(ws, ids, ("RUNNING",), timeout=60)
    time.sleep(3)
    assert ws.jobs.cancel(ids[0]).status == "KILLED"
    time.sleep(3)
    job = ws.jobs.get(ids[0])
    assert job.status == "KILLED" and job.error["ename"] == "Cancelled"


def test_client_exiting_mid_sweep_leaves_the_jobs_running(team_ws, cluster):
    ws = team_ws
    code = ("import sys, mlwork as mw\nws = mw.Workspace.open(sys.argv[1])\n"
            "ws.jobs.map('steps', [{'steps': 3, 'sleep': 1.0, 'fail_at': i} for i in range(4)])\n")
    env = clean_env(MLWORK_STORE=os.environ["MLWORK_STORE"], MLWORK_ARTIFACTS=os.environ["MLWORK_ARTIFACTS"],
                    MLWORK_EXECUTOR=cluster.spec)
    proc = subprocess.Popen([sys.executable, "-c", code, str(ws.root)], env=env)
    end = time.time() + 60
    while time.time() < end and "RUNNING" not in set(ws.jobs.ls().status): time.sleep(0.3)
    proc.kill(); proc.wait()                                   # the client is gone mid-sweep
    ids = list(ws.jobs.ls().job_id)
    assert len(ids) == 4
    rows = _wait_status(ws, ids, timeout=120)
    assert sorted(r.status for r in rows) == ["FAILED"] + ["FINISHED"] * 3   # fail_at=3 fails; all recorded


def test_worker_killed_mid_job_leaves_the_job_failed(team_ws, cluster):
    ws = team_ws
    ids = [ws.jobs.submit("steps", {"steps": 60, "sleep": 1.0})]
    from mlwork.dask_executor import package, run_task
    from distributed import Client, fire_and_forget
    spare = cluster.add_worker("w3")                 # the one killed below may be any of them
    cluster.wait_for_workers(3)
    with Client(f"tcp://127.0.0.1:{cluster.port}") as c:
        fire_and_forget(c.submit(run_task, package(ws.jobs, ids[0]), pure=False, retries=0))
    _wait_status(ws, ids, ("RUNNING",), timeout=60)
    time.sleep(4)
    pid = ws.jobs.get(ids[0]).info["pid"]            # the job process; its parent is the Dask worker
    import psutil
    worker = psutil.Process(pid).parent()
    victim = next(p for p in cluster.workers if p.pid == worker.pid)
    os.killpg(victim.pid, signal.SIGKILL); victim.wait()
    job = _wait_status(ws, ids, timeout=60)[0]
    assert job.status == "FAILED" and job.error["ename"] == "WorkerDied" and "died" in job.error["evalue"]
    time.sleep(3)
    assert ws.jobs.get(ids[0]).status == "FAILED"    # not run again on another worker
    assert len(ws.jobs.get(ids[0]).runs()) <= 1
    cluster.workers.remove(victim)
    if victim is not spare: pass
    cluster.wait_for_workers(2)


def test_doctor_on_a_healthy_team_workspace(team_ws, cluster, monkeypatch):
    res = mlwork_cli("doctor", cwd=team_ws.root, MLWORK_STORE=os.environ["MLWORK_STORE"],
                     MLWORK_ARTIFACTS=os.environ["MLWORK_ARTIFACTS"], MLWORK_EXECUTOR=cluster.spec)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all checks passed" in res.stdout and "worker(s)" in res.stdout and "FAIL" not in res.stdout
    # a worker whose packages differ from this machine's is named, with what to install
    from mlwork import dask_executor as dx
    from mlwork.doctor import diagnose
    real = dx.worker_environments
    monkeypatch.setattr(dx, "worker_environments", lambda spec: {a: {**e, "scikit-learn": "0.1"} for a, e in real(spec).items()})
    report = diagnose(team_ws.settings)
    assert not report.ok and "scikit-learn" in report.text() and "0.1 there" in report.text()
    assert "install the same versions on the workers" in report.text()


def test_doctor_on_a_broken_workspace(ws_root):
    port = _free_port()                     # nothing listens there
    res = mlwork_cli("doctor", cwd=ws_root, MLWORK_STORE=f"postgresql+psycopg://postgres@127.0.0.1:{port}/x",
                     MLWORK_ARTIFACTS="/proc/mlwork-cannot-write", MLWORK_EXECUTOR=f"dask://127.0.0.1:{port}")
    out = res.stdout
    assert res.returncode == 1, out + res.stderr
    assert out.count("FAIL") >= 3 and "check(s) failed" in out
    assert "cannot reach it" in out and "MLWORK_STORE" in out                     # the store
    assert "write/read round trip failed" in out                                  # the artifacts
    assert "Cannot reach the Dask scheduler" in out and "dask scheduler" in out   # the executor
