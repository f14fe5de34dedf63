"""ExperimentBrowser in real JupyterLab and headless Chromium: filter, select two runs, see the charts."""
from jupyter_browser import SCREENSHOTS, open_notebook, run_all, screenshot, wait_kernel_idle, write_notebook

CELLS = [
    "import mlwork as mw\nimport plotly.graph_objects as go",
    '''\
ws = mw.Workspace.init("compare-ws")
for i in range(30):
    model = ["rf", "gbm", "lr"][i % 3]
    with ws.start_run("churn", name=f"{model}-{i}", params={"model": model, "depth": 2 + i % 5, "seed": 0}) as r:
        for step in range(5): r.log_metric("loss", 1 / (step + 1) + i / 100)
        r.log_metrics({"auc": 0.7 + i / 200, "accuracy": 0.6 + (i % 4) / 50})
        r.log_figure(go.Figure(go.Scatter(x=[0, 0.3, 1], y=[0, 0.5 + i / 100, 1], name="roc")), "eval/roc", html=False)''',
    "b = mw.compare(ws, 'churn')\nb",
]


def test_filter_select_two_runs_and_compare(jupyter_lab, browser_page):
    from playwright.sync_api import expect
    page = browser_page
    write_notebook(jupyter_lab.root / "compare" / "compare.ipynb", CELLS)
    open_notebook(page, jupyter_lab, "compare/compare.ipynb")
    assert len(run_all(page)) == len(CELLS)

    rows = page.locator(".dt-scroll-body tbody tr, .dataTables_scrollBody tbody tr")   # the scrolling body, not the header copy
    expect(rows.first).to_be_visible(timeout=60_000)
    expect(page.locator(".widget-html", has_text="30 runs").first).to_be_visible(timeout=30_000)

    # filter with the where language
    box = page.get_by_placeholder("where: metrics.auc > 0.8 and params.model = 'rf'")
    box.fill("params.model = 'rf'")
    box.press("Enter")
    expect(page.locator(".widget-html", has_text="10 runs matching").first).to_be_visible(timeout=30_000)
    expect(rows).to_have_count(10, timeout=30_000)
    expect(rows.first).to_contain_text("rf-")

    # select two runs like a person: click, then ctrl-click
    rows.nth(0).locator("td").nth(1).click()
    rows.nth(1).locator("td").nth(1).click(modifiers=["Control"])
    bars = page.locator(".js-plotly-plot").first
    expect(bars.locator(".barlayer .trace")).to_have_count(2, timeout=30_000)
    expect(bars.locator(".legendtext")).to_have_count(2)

    # the params tab: parallel coordinates and the param differences
    page.locator(".lm-TabBar-tab", has_text="Params").click()
    expect(page.locator(".widget-html", has_text="Params that differ").first).to_be_visible(timeout=30_000)
    page.locator(".lm-TabBar-tab", has_text="Figures").click()
    expect(page.locator(".js-plotly-plot .scatterlayer .trace").first).to_be_visible(timeout=30_000)

    wait_kernel_idle(page)
    shot = screenshot(page, SCREENSHOTS / "compare.png")
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 20_000
