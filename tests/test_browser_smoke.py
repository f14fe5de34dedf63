"""Smoke test of the real-browser widget stack: JupyterLab + ipywidgets + plotly FigureWidget in Chromium.

Fixtures come from the plugin module tests/jupyter_browser.py (registered in tests/conftest.py).
"""
import re

from jupyter_browser import SCREENSHOTS, open_notebook, run_all, screenshot, wait_kernel_idle, write_notebook

CELLS = [
    "import ipywidgets as W\nimport plotly.graph_objects as go",
    '''\
fig = go.FigureWidget(go.Scatter(x=[0, 1, 2], y=[1, 3, 2], mode="markers+lines", name="pts"))
fig.update_layout(width=700, height=420, title="smoke", margin=dict(l=40, r=20, t=50, b=40))
label = W.Label("clicks: 0")
button = W.Button(description="Add point")

def on_click(_):
    n = len(fig.data[0].x)
    with fig.batch_update():
        fig.data[0].x = list(fig.data[0].x) + [n]
        fig.data[0].y = list(fig.data[0].y) + [n % 3 + 1]
    label.value = f"clicks: {n - 2}"

button.on_click(on_click)
W.VBox([W.HBox([button, label]), fig])''',
    "print('done', len(fig.data[0].x))",
]


def test_button_updates_figure_widget(jupyter_lab, browser_page):
    from playwright.sync_api import expect
    page = browser_page
    write_notebook(jupyter_lab.root / "smoke" / "widgets.ipynb", CELLS)

    open_notebook(page, jupyter_lab, "smoke/widgets.ipynb")
    prompts = run_all(page)
    assert len(prompts) == len(CELLS)

    button = page.locator("button.widget-button", has_text="Add point")
    expect(button).to_be_visible(timeout=30_000)
    expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible(timeout=30_000)
    points = page.locator(".js-plotly-plot .scatterlayer .trace .point")
    expect(points).to_have_count(3, timeout=30_000)
    label = page.locator(".widget-label", has_text=re.compile(r"^clicks: \d+$"))
    expect(label).to_have_text("clicks: 0")

    button.click()
    expect(label).to_have_text("clicks: 1", timeout=30_000)
    expect(points).to_have_count(4, timeout=30_000)

    button.click()
    expect(label).to_have_text("clicks: 2", timeout=30_000)
    expect(points).to_have_count(5, timeout=30_000)

    wait_kernel_idle(page)      # the front end's replies to the update are handled: a settled picture
    shot = screenshot(page, SCREENSHOTS / "smoke.png")
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000, shot.stat().st_size
