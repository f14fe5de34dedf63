"""MonitorPanel in real JupyterLab and headless Chromium: a model with a quiet and a drifted month of scored data,
the header says DRIFT, the drift heatmap marks drifted cells ●, the performance chart has its three traces and the
actions table shows the first promotion; then click the payment_method cell of report #2 like a user and see its
reference-against-current distribution in the DataExplorer's compare view. A server row (as `mlwork serve
churn@production` writes with its heartbeat) shows under "Serving now" with its version and counters."""
import re, time
from jupyter_browser import SCREENSHOTS, open_notebook, run_all, screenshot, wait_kernel_idle, write_notebook

CELLS = [
    'import mlwork as mw\nfrom mlwork.monitor import example_model',
    '''\
ws = mw.Workspace.init("monitor-ws")
m1, quiet, drifted = example_model(ws)
roles = dict(target="churned", id="customer_id", time="period")
ws.monitor.check("churn", ws.datasets.log(quiet, "churn-scored", **roles))
ws.monitor.check("churn", ws.datasets.log(drifted, "churn-scored", **roles))
from mlwork.serving import register_server        # what `mlwork serve churn@production` records with its heartbeat
rid = register_server(ws.store, "s1", "http://127.0.0.1:8000", {"churn": {
    "ref": "churn@production", "version": 1, "runtime": "onnx", "requests": 120, "errors": 3, "p50_ms": 1.2,
    "p99_ms": 8.5, "log_dropped": 2, "by_version": {"1": 117}}})''',
    'p = mw.monitor_panel(ws, "churn")\np',
]

# The pixel centre (viewport coordinates) of heatmap category (x index `col`, y label `row`): plotly's axis
# objects map a category's index to pixels within the plot area, which starts at the drag layer's corner.
_CELL_CENTRE_JS = """([gd, col, row]) => {
    const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis;
    const r = ya._categories.indexOf(row);
    if (r < 0) throw new Error(`no y category ${row}: ${ya._categories}`);
    const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
    return {x: box.left + xa.l2p(col), y: box.top + ya.l2p(r), xcat: xa._categories[col],
            inside: xa.l2p(col) > 0 && xa.l2p(col) < xa._length && ya.l2p(r) > 0 && ya.l2p(r) < ya._length};
}"""


def test_monitor_panel_in_jupyterlab(jupyter_lab, browser_page):
    from playwright.sync_api import expect
    page = browser_page
    write_notebook(jupyter_lab.root / "monitor" / "monitor.ipynb", CELLS)
    open_notebook(page, jupyter_lab, "monitor/monitor.ipynb")
    t0 = time.perf_counter()
    assert len(run_all(page)) == len(CELLS)
    print(f"run all: {time.perf_counter() - t0:.1f} s")

    header = page.locator(".mlwork-monitor-header")
    expect(header).to_contain_text("churn: monitoring", timeout=60_000)
    expect(header).to_contain_text("report #2")
    expect(header).to_contain_text("DRIFT (70% of columns)")
    expect(header).not_to_contain_text("no dataset drift")
    expect(header).to_contain_text("retrain_on = never")
    expect(page.locator(".mlwork-status")).to_contain_text("2 report(s)")

    # what is served: the alias and the prediction log's traffic, and the live server with its counters
    expect(page.locator(".mlwork-serving")).to_contain_text("production = v1")
    served = page.locator("table.mlwork-served-table tbody tr")
    expect(served).to_have_count(1)
    for text in ("churn@production", "v1", "onnx", "120", "3 (2.5%)", "1.2 ms", "8.5 ms"):
        expect(served.first).to_contain_text(text)
    expect(served.first.locator("td").last).to_have_text("2")                  # log drops
    expect(served.first).not_to_contain_text("not loaded")

    # the drift heatmap: one heatmap trace, two report columns, drifted cells marked ● (none in the quiet month)
    plots = page.locator(".js-plotly-plot")
    heat = plots.filter(has_text="Drift per feature over time")
    expect(heat).to_have_count(1, timeout=60_000)
    expect(heat.locator("g.hm")).to_have_count(1)
    expect(heat.locator(".xtick text")).to_have_count(2)
    expect(heat.locator(".ytick text", has_text=re.compile(r"^payment_method$"))).to_have_count(1)
    marks = heat.locator("text", has_text="●")
    expect(marks.first).to_be_visible()
    expect(marks).to_have_count(7)         # 7 of the 10 features drifted in report #2 (the 70%), none in #1

    # the performance chart: estimated, realised and validation ROC AUC
    perf = plots.filter(has_text="Performance: estimated")
    expect(perf).to_have_count(1)
    legend = perf.locator(".legendtext")
    expect(legend).to_have_count(3)
    expect(legend).to_have_text(["estimated ROC AUC", "realised ROC AUC", "validation ROC AUC"])

    # the monitor's actions: retrain_on = never, so no retraining; the only action is v1's first promotion
    actions = page.locator(".mlwork-actions")
    expect(actions).to_have_count(1)
    rows = page.locator("table.mlwork-actions tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("promote")
    expect(rows.first).to_contain_text("production")
    expect(rows.first).to_contain_text("first model")
    expect(actions).not_to_contain_text("retrain")
    expect(page.locator(".mlwork-detail")).to_have_count(0)

    # click the drifted payment_method cell of report #2 (the second column) like a user
    heat.scroll_into_view_if_needed()
    wait_kernel_idle(page)
    c = page.evaluate(_CELL_CENTRE_JS, [heat.element_handle(), 1, "payment_method"])
    assert c["inside"] and c["xcat"].startswith("#2 "), c
    page.mouse.move(c["x"], c["y"])
    expect(heat.locator(".hovertext")).to_contain_text("payment_method")     # the hover label of that cell
    t0 = time.perf_counter()
    page.mouse.click(c["x"], c["y"])
    detail = page.locator(".mlwork-detail")
    expect(detail).to_contain_text("payment_method", timeout=60_000)
    print(f"click -> detail shown: {time.perf_counter() - t0:.2f} s")
    expect(detail).to_contain_text("report #2")
    expect(detail).to_contain_text("new 'crypto'")
    expect(page.locator(".mlwork-status")).to_contain_text("showing payment_method of report #2")
    dist = plots.filter(has_text="payment_method: distribution")
    expect(dist).to_have_count(1, timeout=60_000)
    expect(dist.locator(".legendtext")).to_have_text(["current", "reference"])
    expect(dist.locator(".xtick text", has_text=re.compile(r"^crypto$"))).to_have_count(1)

    expect(page.locator(".widget-output", has_text=re.compile("Traceback"))).to_have_count(0)
    expect(page.locator(".jp-OutputArea-output", has_text=re.compile("Traceback"))).to_have_count(0)

    wait_kernel_idle(page)
    page.mouse.move(0, 0)                                                # no hover label in the pictures
    expect(heat.locator(".hovertext")).to_have_count(0)
    header.scroll_into_view_if_needed()
    shot = screenshot(page, SCREENSHOTS / "monitor.png")                    # header, serving now, heatmap, the detail line
    dist.scroll_into_view_if_needed()
    compare = screenshot(page, SCREENSHOTS / "monitor-compare.png")         # the DataExplorer's compare view
    print(f"screenshots: {shot} {compare}")
    assert shot.stat().st_size > 20_000 and compare.stat().st_size > 20_000
