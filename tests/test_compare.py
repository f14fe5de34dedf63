"""Comparing runs at scale: a 10k-run store, the browser built over it, a selection, and the HTML report."""
import random, time
from mlwork.workspace import Workspace
from mlwork.widgets.browser import ExperimentBrowser
from conftest import mlwork_cli


def test_ten_thousand_runs(ws_root, tmp_path):
    rng = random.Random(0)
    with Workspace.open(ws_root) as ws:
        with ws.start_run("big", name="sweep") as parent:
            for k in range(5):
                parent.log_children([{"name": f"run-{k}-{i}",
                                      "params": {f"p{j}": rng.choice(["a", "b"]) if j < 5 else rng.randint(1, 9) for j in range(20)},
                                      "metrics": {f"m{j}": rng.random() for j in range(10)}} for i in range(2000)])
        t = time.perf_counter()
        b = ExperimentBrowser(ws, "big")
        built = time.perf_counter() - t
        assert len(b.grid.df) == 100 and not b.complete          # the newest page first; the others load in a thread
        b._rest.join(60)
        loaded = time.perf_counter() - t
        assert len(b.grid.df) == 10_001 and b.complete and not b.errors.outputs
        ids = list(b._df.run_id[1:21])
        b.selected = ids
        assert len(b.bars.data) == 20 and not b.errors.outputs
        b.where = "metrics.m0 > 0.5 and params.p0 = 'a'"
        assert 0 < len(b.grid.df) < 5000 and set(b.selected) <= set(b._df.run_id)
        print(f"built over 10k runs in {built:.2f} s (every run in {loaded:.2f} s); selection update {b.last_update_seconds * 1000:.0f} ms")
    out = tmp_path / "big.html"
    res = mlwork_cli("report", "compare", "big", "--where", "metrics.m1 > 0.9", "--order-by", "-metrics.m1",
                     "--limit", "5", "-o", out, cwd=ws_root)
    assert res.returncode == 0, res.stderr
    page = out.read_text()
    assert "big: 5 runs compared" in page and page.count("<script") <= 3      # plotly.js once, not per chart
