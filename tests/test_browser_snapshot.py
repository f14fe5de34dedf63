"""Saved notebooks: the four widgets on the demo-like workspace of test_browser_widgets, run in real JupyterLab,
saved like a person (Ctrl+S), then read from disk: each widget leaves two outputs, the widget view and a static
`text/html` snapshot (at most 200 KB) that names the widget's key facts. While the widgets are live the snapshots are
hidden. The saved notebook is then

* exported with `jupyter nbconvert --to html` and opened in Chromium (what an HTML export or a code-hosting site
  shows: no kernel, no widget state): every snapshot is there, photographed as `saved-html-NAME.png`;
* opened again in JupyterLab as a notebook it did not save itself (a copy from a clone, untrusted): JupyterLab draws
  the snapshots, not "model not found" (`saved-lab.png`);
* opened again as JupyterLab saved it (trusted, a new kernel without the widgets' models): the widget manager gives
  up on each widget ("Error displaying widget: model not found"); the snapshot's style hides that error and shows
  the snapshot (`saved-lab-trusted.png`)."""
import subprocess
import nbformat
from jupyter_browser import (JUPYTER, SCREENSHOTS, open_notebook, run_all, screenshot, wait_kernel_idle,
                             write_notebook)
from test_browser_widgets import SETUP, WIDGETS

VIEW = "application/vnd.jupyter.widget-view+json"
DEMO = [name for name in WIDGETS if name.startswith("demo-")]
# what each snapshot must say: the widget's key facts in words
FACTS = {"demo-explore": ["DataExplorer: a snapshot", "tenure_months", "2026-03-01", "churned"],
         "demo-compare": ["ExperimentBrowser: a snapshot", "demo-churn", "✔ finished", "logreg on churn@1", "3 runs"],
         "demo-promotion": ["PromotionPanel: a snapshot", "✔ PASS", "churn@2 ([promotion] eval_dataset)", "roc_auc"],
         "demo-monitor": ["MonitorPanel: a snapshot", "churn@3", "DRIFT"]}


def _save(page, path):
    "Ctrl+S in the notebook; wait until the file on disk holds the widgets' outputs."
    before = path.stat().st_mtime_ns
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first.click()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    page.wait_for_function("() => true")
    for _ in range(100):
        if path.stat().st_mtime_ns != before: break
        page.wait_for_timeout(200)
    page.wait_for_timeout(500)
    return nbformat.read(str(path), as_version=4)


def test_saved_notebook_shows_snapshots(jupyter_lab, browser_page):
    from playwright.sync_api import expect
    page = browser_page
    path = write_notebook(jupyter_lab.root / "saved" / "saved.ipynb", [SETUP] + [WIDGETS[n][0] for n in DEMO])
    open_notebook(page, jupyter_lab, "saved/saved.ipynb")
    assert len(run_all(page, timeout=240_000)) == 1 + len(DEMO)
    cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")
    for i, name in enumerate(DEMO):
        expect(cells.nth(i + 1).locator(WIDGETS[name][1]).first).to_be_visible(timeout=60_000)
    wait_kernel_idle(page)

    # live: the widgets are drawn and their snapshots hidden
    live = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .mlwork-snapshot")
    expect(live).to_have_count(len(DEMO))
    assert not any(live.nth(i).is_visible() for i in range(len(DEMO))), "a snapshot shows below its live widget"

    # saved: each widget left two outputs, the view and the snapshot
    nb = _save(page, path)
    snaps = {}
    for i, name in enumerate(DEMO):
        outs = [o.data for o in nb.cells[i + 1].outputs if o.output_type in ("display_data", "execute_result")]
        assert len(outs) == 2 and VIEW in outs[0] and "text/html" not in outs[0] and list(outs[1]) == ["text/html"], \
            (name, [list(d) for d in outs])
        snaps[name] = outs[1]["text/html"]
        print(f"{name}: snapshot {len(snaps[name].encode()) / 1000:.1f} KB")
        assert len(snaps[name].encode()) <= 200_000, name
        missing = [f for f in FACTS[name] if f not in snaps[name]]
        assert not missing, f"{name}'s snapshot does not say {missing}:\n{snaps[name][:3000]}"
    assert "Traceback" not in "".join(snaps.values()) and "No snapshot" not in "".join(snaps.values())

    # exported to HTML (no kernel, no widget state): the snapshots are shown
    html_path = path.with_suffix(".html")
    res = subprocess.run([str(JUPYTER), "nbconvert", "--to", "html", str(path)], capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    page.route("http*://**/*", lambda route: route.abort() if "127.0.0.1" not in route.request.url else route.continue_())
    page.goto(html_path.as_uri(), wait_until="domcontentloaded")
    shots = page.locator(".mlwork-snapshot")
    expect(shots).to_have_count(len(DEMO), timeout=30_000)
    for i, name in enumerate(DEMO):
        expect(shots.nth(i)).to_contain_text(FACTS[name][-1])
        shots.nth(i).scroll_into_view_if_needed()
        screenshot(page, SCREENSHOTS / f"saved-html-{name[5:]}.png", shots.nth(i))
    page.unroute("http*://**/*")

    # reopened in JupyterLab as a copy it did not save (untrusted, e.g. from a clone): the snapshots, not empty boxes
    nb.metadata["mlwork_copy"] = True                     # another content: no longer signed as trusted
    nbformat.write(nb, str(path.with_name("copy.ipynb")))
    jupyter_lab.shutdown_sessions()
    open_notebook(page, jupyter_lab, "saved/copy.ipynb")
    shots = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .mlwork-snapshot")
    expect(shots).to_have_count(len(DEMO), timeout=30_000)
    expect(shots.nth(2)).to_contain_text("✔ PASS")
    shots.nth(0).scroll_into_view_if_needed()
    screenshot(page, SCREENSHOTS / "saved-lab.png")

    # reopened as JupyterLab saved it (trusted, a new kernel): the snapshots stand in for "model not found"
    jupyter_lab.shutdown_sessions()
    open_notebook(page, jupyter_lab, "saved/saved.ipynb")
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    errors = panel.locator(".jp-OutputArea-output.jupyter-widgets")
    expect(errors).to_have_count(len(DEMO), timeout=30_000)                 # the manager gave up on every widget...
    shots = panel.locator(".mlwork-snapshot")
    for i, name in enumerate(DEMO):
        expect(shots.nth(i)).to_be_visible()                                 # ...and the snapshots show instead
        expect(shots.nth(i)).to_contain_text(FACTS[name][-1])
        assert not errors.nth(i).is_visible(), f"{name}: 'model not found' is still shown"
    seen = [t.strip()[:80] for t in panel.locator(".jp-CodeCell .jp-OutputArea-output").all_inner_texts() if t.strip()]
    assert not any("model not found" in t for t in panel.inner_text().splitlines()), seen
    shots.nth(0).scroll_into_view_if_needed()
    screenshot(page, SCREENSHOTS / "saved-lab-trusted.png")
