"""DataExplorer in real JupyterLab and headless Chromium: log two versions, explore, pick a column, compare."""
import re
from jupyter_browser import SCREENSHOTS, open_notebook, run_all, screenshot, wait_kernel_idle, write_notebook

CELLS = [
    "import numpy as np, pandas as pd\nimport mlwork as mw",
    '''\
ws = mw.Workspace.init("explore-ws")
rng = np.random.default_rng(0)
n = 200_000
ref = pd.DataFrame({"age": rng.integers(18, 90, n), "charges": rng.normal(70, 20, n),
                    "plan": pd.Categorical(rng.choice(["basic", "pro"], n))})
ref["churned"] = (rng.random(n) < 0.2 + 0.2 * (ref.plan == "basic")).astype(int)
cur = ref.copy()
cur["charges"] = cur["charges"] + 25
cur["plan"] = cur["plan"].astype(str)
cur.loc[:999, "plan"] = "enterprise"
v1 = ws.datasets.log(ref, "churn", target="churned")
v2 = ws.datasets.log(cur, "churn", target="churned")''',
    "w = mw.explore(v2, reference=v1)\nw",
]


def test_explore_two_versions_in_jupyterlab(jupyter_lab, browser_page):
    from playwright.sync_api import expect
    page = browser_page
    write_notebook(jupyter_lab.root / "explore" / "explore.ipynb", CELLS)
    open_notebook(page, jupyter_lab, "explore/explore.ipynb")
    assert len(run_all(page)) == len(CELLS)

    # the overview table: one row per column, with the schema problem of the new category
    table = page.locator("table.mlwork-overview")
    expect(table).to_be_visible(timeout=60_000)
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(table).to_contain_text("not seen before")
    expect(page.locator(".widget-html", has_text="churn@2").first).to_be_visible()

    plots = page.locator(".js-plotly-plot")
    expect(plots).to_have_count(2, timeout=30_000)          # no missing values in age: a sentence, not a flat line
    expect(page.locator(".mlwork-empty", has_text="No missing values in age")).to_be_visible()
    dist = plots.nth(0)

    # pick a column like a person: the select box
    page.locator(".widget-select select").select_option("charges")
    expect(dist.locator(".gtitle")).to_contain_text("charges: distribution", timeout=30_000)
    expect(dist.locator(".barlayer .trace")).to_have_count(1)

    # switch to compare mode: current and reference overlaid
    page.locator("button.widget-toggle-button", has_text="Compare").click()
    expect(dist.locator(".barlayer .trace")).to_have_count(2, timeout=30_000)
    expect(dist.locator(".legendtext")).to_have_text(["current", "reference"])
    expect(plots.nth(1).locator(".scatterlayer .trace")).to_have_count(2)   # target relation of both

    page.locator(".widget-select select").select_option("plan")
    expect(dist.locator(".gtitle")).to_contain_text("plan: distribution", timeout=30_000)
    expect(dist.locator(".xtick text", has_text="enterprise")).to_have_count(1)
    expect(page.locator(".widget-output", has_text=re.compile("Traceback"))).to_have_count(0)

    wait_kernel_idle(page)
    shot = screenshot(page, SCREENSHOTS / "explore.png")
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 20_000
