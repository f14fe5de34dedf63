"""A process killed with SIGKILL loses nothing it was told was saved, and its run ends FAILED."""
import os, signal, subprocess, sys, time
import sqlalchemy as sa
from mlwork.workspace import Workspace
from conftest import clean_env

CHILD = """
import sys, time
import mlwork as mw
ws = mw.Workspace.open(sys.argv[1])
run = ws.start_run("crash", name="victim", params={"lr": 0.1})
print("run", run.id, flush=True)
i = 0
while True:                      # log as fast as possible; report each value once the call returned
    run.log_metric("loss", 1.0 / (i + 1), step=i)
    print("ok", i, flush=True)
    i += 1
    if i >= int(sys.argv[2]): time.sleep(3600)
"""


def _spawn(root, n):
    return subprocess.Popen([sys.executable, "-u", "-c", CHILD, str(root), str(n)], env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _read_until(proc, predicate, timeout=60):
    lines, t0 = [], time.time()
    while time.time() - t0 < timeout:
        line = proc.stdout.readline()
        if not line: break
        lines.append(line.split())
        if predicate(lines): return lines
    raise AssertionError(f"child did not get there: {lines[-3:]} {proc.stderr.read() if proc.poll() is not None else ''}")


def _kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_sigkill_mid_run_marks_failed_and_keeps_acknowledged_values(ws_root):
    Workspace.open(ws_root).close()
    proc = _spawn(ws_root, 10**9)      # never stops by itself
    lines = _read_until(proc, lambda ls: sum(l[0] == "ok" for l in ls) >= 300)
    run_id = lines[0][1]
    _kill(proc)                         # in the middle of a stream of writes
    acked = max(int(l[1]) for l in lines if l[0] == "ok")
    with Workspace.open(ws_root) as ws:
        assert run_id in ws.reaped
        run = ws.get_run(run_id)
        assert run.status == "FAILED" and "ended without closing" in run.error
        steps = ws.metric_history(run_id, "loss").step
        assert set(range(acked + 1)) <= set(steps)      # everything acknowledged is there
        assert run.params == {"lr": "0.1"}
        with ws.store.transaction(write=False) as conn:
            assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"


def test_killed_while_idle_is_reaped_on_next_open(ws_root):
    Workspace.open(ws_root).close()
    proc = _spawn(ws_root, 5)           # logs 5 values, then sleeps inside the run
    lines = _read_until(proc, lambda ls: sum(l[0] == "ok" for l in ls) == 5)
    run_id = lines[0][1]
    with Workspace.open(ws_root) as ws:  # the process is alive: its run is left alone
        assert run_id not in ws.reaped and ws.get_run(run_id).status == "RUNNING"
    _kill(proc)
    with Workspace.open(ws_root) as ws:
        assert ws.reaped == [run_id]
        assert ws.get_run(run_id).status == "FAILED"
        assert len(ws.metric_history(run_id)) == 5


def test_run_on_another_host_without_heartbeat_is_reaped(ws_root):
    """Liveness across hosts uses the heartbeat. There is no second host here, so the test writes
    the rows another host's process would have written (a test double for that host)."""
    from mlwork.store import runs
    with Workspace.open(ws_root) as ws:
        with ws.start_run("remote") as r_old: pass
        with ws.start_run("remote") as r_new: pass
        now = time.time()
        with ws.store.transaction() as conn:
            for rid, beat in ((r_old.id, now - 600), (r_new.id, now - 5)):
                conn.execute(runs.update().where(runs.c.id == rid).values(
                    status="RUNNING", end_time=None, host="some-other-host", pid=1234, heartbeat_at=beat))
    with Workspace.open(ws_root) as ws:
        assert ws.reaped == [r_old.id]
        assert ws.get_run(r_old.id).status == "FAILED" and "No heartbeat" in ws.get_run(r_old.id).error
        assert ws.get_run(r_new.id).status == "RUNNING"


def test_uncaught_exception_at_top_level_ends_open_run_failed(ws_root):
    code = f"""
import mlwork as mw
ws = mw.Workspace.open({str(ws_root)!r})
run = ws.start_run("script")       # no `with`: the run is left open
print(run.id, flush=True)
raise RuntimeError("the script crashed")
"""
    res = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    run_id = res.stdout.strip()
    code_ok = code.replace('raise RuntimeError("the script crashed")', "")
    res2 = subprocess.run([sys.executable, "-c", code_ok], env=clean_env(), capture_output=True, text=True, timeout=60)
    with Workspace.open(ws_root) as ws:
        failed = ws.get_run(run_id)
        assert failed.status == "FAILED" and "the script crashed" in failed.error
        assert ws.get_run(res2.stdout.strip()).status == "FINISHED"


def test_exit_hooks_installed_by_the_first_run_not_by_import(tmp_path):
    "Importing mlwork (even its tracking) changes nothing in the interpreter; the first run installs the hooks."
    code = f"""
import atexit, sys
import mlwork as mw
import mlwork.tracking as tracking
from mlwork import liveness
from mlwork.store import Store
from mlwork.artifacts import BlobStore
assert sys.excepthook is sys.__excepthook__, sys.excepthook
assert not liveness._hooks["installed"] and liveness._live.thread is None
store, blobs = Store("sqlite:///{tmp_path}/m.db"), BlobStore("{tmp_path}/a")
tracking.experiment_id(store, "hooks")
assert sys.excepthook is sys.__excepthook__
n = atexit._ncallbacks()
run = tracking.start_run(store, blobs, "hooks")
assert sys.excepthook is liveness._excepthook, sys.excepthook
assert atexit._ncallbacks() == n + 1, (n, atexit._ncallbacks())
run2 = tracking.start_run(store, blobs, "hooks")
assert atexit._ncallbacks() == n + 1              # once per process
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
