"""The four widgets in real JupyterLab and headless Chromium, each on a demo-like workspace (the demo's churn data:
an id column, a datetime, a drifted month; a sweep with an unnamed run; a champion and a candidate; two drift reports)
and on an empty workspace: no chart frame without data (default axes), no raw number format (1.772e+09, None,
0.0002626), no traceback; a sentence where there is nothing to show. A screenshot of each widget is kept in
SCREENSHOTS (bench/out/screenshots) for a person to look at, in JupyterLab's light theme and then in its dark theme
(NAME-dark.png), switched like a person without running a cell again: no light box and no dark text in the dark."""
import re, time
from jupyter_browser import (SCREENSHOTS, empty_charts, open_notebook, raw_numbers, run_all, screenshot, set_theme,
                             theme_problems, visible_text, wait_kernel_idle, write_notebook)

SETUP = '''\
import pandas as pd
import mlwork as mw
from mlwork.synthetic import churn_pair
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
ws = mw.Workspace.init("demo-ws")
month1, month2 = churn_pair(n_customers=2000, seed=3)
_, month3 = churn_pair(n_customers=2000, seed=4, start="2026-02", covariate_drift=1.0, new_category=True, missing_burst=0.2)
roles = dict(target="churned", id="customer_id", time="period")
v1, v2, v3 = (ws.datasets.log(d, "churn", **roles) for d in (month1, month2, month3))
X, y = month1.drop(columns=["churned", "customer_id", "period"]), month1.churned
num = [c for c in X if X[c].dtype.kind in "if"]
runs = {}
for name, clf in [("logreg on churn@1", LogisticRegression(max_iter=500)),
                  ("random_forest on churn@1", RandomForestClassifier(60, max_depth=6, random_state=0)),
                  (None, LogisticRegression(C=0.01, max_iter=500))]:
    with ws.start_run("demo-churn", name=name, params={"model": type(clf).__name__, "C": getattr(clf, "C", None)}) as run:
        pipe = make_pipeline(ColumnTransformer([("n", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
                                                ("c", OneHotEncoder(handle_unknown="ignore"), [c for c in X if c not in num])]),
                             clf).fit(X, y)
        run.use_dataset(v1, "train")
        p = pipe.predict_proba(month2[X.columns])[:, 1]
        run.log_metrics({"roc_auc": roc_auc_score(month2.churned, p), "accuracy": accuracy_score(month2.churned, p > 0.5)})
        run.log_model(pipe, signature=X.head(50))
    runs[name] = run
ws.registry.register(runs["logreg on churn@1"], "churn", description="logistic regression")
ws.registry.promote("churn", 1, reason="first model")
ws.registry.register(runs["random_forest on churn@1"], "churn", description="random forest")
(ws.root / "settings.ini").write_text((ws.root / "settings.ini").read_text() + "\\n[promotion]\\neval_dataset = churn@2\\n"
    "min_metric = roc_auc >= 0.6\\nbeat_champion_by = 0.0\\nschema_compatible = true\\nmax_latency_ms = 200\\n")
ws = mw.Workspace.open(ws.root)
ws.monitor.check("churn", v2); ws.monitor.check("churn", v3)
empty = mw.Workspace.init("empty-ws")'''

WIDGETS = {   # name -> (code, a selector that shows the widget has rendered)
    "demo-explore": ("mw.explore(ws.datasets.get('churn@3'), reference=ws.datasets.get('churn@1'))",
                     ".js-plotly-plot .barlayer .trace"),
    "demo-compare": ("mw.compare(ws, 'demo-churn')", ".dt-scroll-body tbody tr, .dataTables_scrollBody tbody tr"),
    "demo-promotion": ("mw.promotion(ws, 'churn')", "table.mlwork-gates"),
    "demo-monitor": ("mw.monitor_panel(ws, 'churn')", ".mlwork-monitor-header"),
    "empty-explore": ("mw.explore(pd.DataFrame({'amount': [12.5, 3.25, 7.0], 'when': pd.to_datetime(['2026-01-01', "
                      "'2026-01-02', '2026-01-05'])}))", ".mlwork-empty:has-text('No target column')"),
    "empty-compare": ("mw.compare(empty, 'demo-churn')", ".mlwork-empty"),
    "empty-promotion": ("mw.promotion(empty, 'churn')", ".mlwork-empty"),
    "empty-monitor": ("mw.monitor_panel(empty, 'churn')", ".mlwork-empty"),
}

# large: 200 columns, 10,000 runs. In a notebook of their own (test_widgets_large): on the demo's page, the 10,000-run
# table and 200-column charts made the demo widgets wait for the browser.
LARGE_SETUP = '''\
import numpy as np, pandas as pd
import mlwork as mw
from sklearn.linear_model import LogisticRegression
def wide_frame(n, seed, shift=0.0):
    r = np.random.default_rng(seed)
    X = r.normal(size=(n, 200)).round(3)
    X[:, :40] += shift                                     # 40 of 200 columns drifted
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(200)])
    df["y"] = (X[:, 0] + X[:, 1] + r.normal(size=n) > 0).astype(int)
    return df
wide = mw.Workspace.init("wide-ws")
w1, w2 = wide.datasets.log(wide_frame(1000, 0), "wide", target="y"), wide.datasets.log(wide_frame(1000, 1, 1.0), "wide", target="y")
d1 = wide_frame(1000, 0)
for i, C in enumerate([1.0, 0.01]):
    with wide.start_run("wide", name=f"logreg C={C}", params={"C": C}) as run:
        run.use_dataset(w1, "train")
        run.log_model(LogisticRegression(C=C, max_iter=300).fit(d1.drop(columns="y"), d1.y), signature=d1.drop(columns="y").head(20))
    wide.registry.register(run, "wide", description=f"logistic regression C={C}")
    if i == 0: wide.registry.promote("wide", 1, reason="first model")
(wide.root / "settings.ini").write_text((wide.root / "settings.ini").read_text() + "\\n[promotion]\\neval_dataset = wide@2\\n"
    "min_metric = roc_auc >= 0.6\\nbeat_champion_by = 0.0\\n")
wide = mw.Workspace.open(wide.root)
wide.monitor.check("wide", w1); wide.monitor.check("wide", w2)
big = mw.Workspace.init("big-ws")
with big.start_run("exp", name="parent") as parent:
    parent.log_children([{"name": f"run-{i}", "params": {"C": [0.01, 0.1, 1.0][i % 3], "model": "lr"},
                          "metrics": {"auc": (i * 7919 % 1000) / 1000}} for i in range(10_000)])'''
LARGE = {
    "large-explore": ("mw.explore(wide.datasets.get('wide@2'), reference=wide.datasets.get('wide@1'))",
                      ".js-plotly-plot .barlayer .trace"),
    "large-compare": ("mw.compare(big, 'exp')", ".dt-scroll-body tbody tr, .dataTables_scrollBody tbody tr"),
    "large-promotion": ("mw.promotion(wide, 'wide')", "table.mlwork-gates"),
    "large-monitor": ("mw.monitor_panel(wide, 'wide')", ".mlwork-monitor-header"),
}

# what each widget must say where it has nothing to draw
SENTENCES = {"demo-explore": ["No missing values"], "demo-compare": ["Select runs in the table above"],
             "empty-explore": ["No target column is named", "No missing values"],
             "empty-compare": ["No runs in experiment 'demo-churn'"],
             "empty-promotion": ["No model named 'churn' is registered"], "empty-monitor": ["No model named 'churn' is registered"]}


def _run_widgets(page, lab, folder, setup, widgets, extra_ready=()):
    """Write a notebook of `setup` then one cell per widget, run it all, wait until every widget has drawn and reads
    well (no empty chart frame, no raw number, no traceback, the sentences of SENTENCES); screenshot each in the light
    theme. Returns {name: its output area}."""
    from playwright.sync_api import expect
    write_notebook(lab.root / folder / f"{folder}.ipynb", [setup] + [code for code, _ in widgets.values()])
    open_notebook(page, lab, f"{folder}/{folder}.ipynb")
    t0 = time.perf_counter()
    assert len(run_all(page, timeout=240_000)) == 1 + len(widgets)
    print(f"\n{folder}: run all {time.perf_counter() - t0:.1f} s")
    cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")
    outputs = {name: cells.nth(i + 1).locator(".jp-Cell-outputArea") for i, name in enumerate(widgets)}
    for name, (_, ready) in widgets.items():
        expect(outputs[name].locator(ready).first).to_be_visible(timeout=60_000)
    for name, ready in extra_ready:
        expect(outputs[name].locator(ready).first).to_be_visible(timeout=30_000)
    wait_kernel_idle(page)

    def problems_of(name, out):
        text = visible_text(page, out)
        found = [f"{name}: empty chart frame(s) {e}" for e in [empty_charts(page, out)] if e]
        found += [f"{name}: raw number format(s) {sorted(set(r))}" for r in [raw_numbers(text)] if r]
        found += [f"{name}: a traceback:\n{text[:2000]}"] if "Traceback" in text else []
        return found + [f"{name}: does not say {s!r}" for s in SENTENCES.get(name, []) if s not in text]

    deadline = time.monotonic() + 30                 # widgets still drawing on a busy machine get a little time
    while (problems := [p for name, out in outputs.items() for p in problems_of(name, out)]) and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    for name, out in outputs.items():
        out.scroll_into_view_if_needed()
        shot = screenshot(page, SCREENSHOTS / f"{name}.png", out)
        assert shot.stat().st_size > 5_000, shot
    print(f"screenshots: {SCREENSHOTS}")
    assert not problems, "\n".join(problems)
    return outputs


def _dark(page, outputs, before=lambda: None):
    """Switch to JupyterLab Dark like a person (no cell run again), call `before()`, screenshot every widget as NAME-dark.png;
    no light box and no dark text in any. Back to JupyterLab Light at the end (the server's settings are shared)."""
    try:
        set_theme(page, "JupyterLab Dark")
        before()
        wait_kernel_idle(page)
        dark = {}
        for name, out in outputs.items():
            out.scroll_into_view_if_needed()
            page.wait_for_timeout(200)
            shot = screenshot(page, SCREENSHOTS / f"{name}-dark.png", out)
            assert shot.stat().st_size > 5_000, shot
            dark[name] = theme_problems(page, out)
        problems = [f"{name}: {p}" for name, found in dark.items() for p in found]
        assert not problems, "in the dark theme:\n" + "\n".join(problems)
    finally:
        set_theme(page, "JupyterLab Light")


def test_widgets_on_demo_and_empty_workspaces(jupyter_lab, browser_page):
    from playwright.sync_api import expect
    page = browser_page
    outputs = _run_widgets(page, jupyter_lab, "widgets", SETUP, WIDGETS,
                           extra_ready=[("demo-monitor", ".js-plotly-plot .main-svg"),
                                        ("demo-promotion", ".js-plotly-plot .scatterlayer .trace")])

    # what issue 12 asked for, seen by a person
    explore = outputs["demo-explore"]
    expect(explore.locator(".widget-select select")).to_have_value("tenure_months")        # not customer_id
    overview = explore.locator("table.mlwork-overview")
    expect(overview.locator("tr", has_text="period")).to_contain_text("2026-03-01")       # a date, not 1.772e+09
    explore.locator(".widget-select select").select_option("customer_id")
    expect(explore.locator(".mlwork-empty", has_text="is an id column")).to_have_count(2, timeout=30_000)  # summary + relation
    compare = outputs["demo-compare"]
    expect(compare.locator(".dt-scroll-body tbody tr, .dataTables_scrollBody tbody tr").first).to_contain_text("finished")
    expect(compare.locator("th", has_text="duration (s)").first).to_be_visible()
    expect(outputs["demo-promotion"].locator("table.mlwork-gates th", has_text=re.compile("^data$"))).to_have_count(1)
    expect(outputs["demo-promotion"].locator("table.mlwork-gates")).to_contain_text("churn@2 ([promotion] eval_dataset)")
    screenshot(page, SCREENSHOTS / "demo-explore-id.png", explore)

    # the keyboard alone: Tab from the where box reaches the table's rows, Down moves, Space selects a run (the
    # metrics tab draws it); Tab reaches the tag box and the Tag button, Enter presses it
    rows = compare.locator(".dt-scroll-body tbody tr, .dataTables_scrollBody tbody tr")
    focused_row = "() => { const r = document.activeElement.closest('tbody tr'); return r ? r.textContent : null; }"
    compare.locator(".widget-text input").first.focus()
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate(focused_row): break
    first = page.evaluate(focused_row)
    assert first, f"Tab did not reach the table's rows (focus on {page.evaluate('() => document.activeElement.outerHTML.slice(0, 200)')})"
    page.keyboard.press("ArrowDown")
    second = page.evaluate(focused_row)
    assert second and second != first, (first, second)
    page.keyboard.press("Space")
    expect(compare.locator("tbody tr.selected")).to_have_count(1)
    expect(compare.locator("tbody tr.selected")).to_contain_text(second[:8])
    expect(compare.locator(".js-plotly-plot .barlayer .trace").first).to_be_visible(timeout=30_000)   # Python heard it
    for _ in range(10):
        if page.evaluate("() => document.activeElement.placeholder") == "tag: key=value": break
        page.keyboard.press("Tab")
    page.keyboard.type("reviewed=yes")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Tag"
    page.keyboard.press("Enter")
    expect(compare).to_contain_text("tagged 1 run(s) reviewed=yes", timeout=30_000)
    screenshot(page, SCREENSHOTS / "demo-compare-keyboard.png", compare)
    # the promotion panel: from the reason box, Tab goes through its buttons in order, each a real <button>
    promotion = outputs["demo-promotion"]
    promotion.locator("textarea").first.focus()
    seen = []
    for _ in range(12):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("() => document.activeElement.tagName + ':' + document.activeElement.textContent.trim()"))
    for name in ("Promote", "Reject", "Rollback", "Refresh"):
        assert f"BUTTON:{name}" in seen, (name, seen)

    # the dark theme, switched without running a cell again: every widget follows it
    def explore_back():
        explore.locator(".widget-select select").select_option("tenure_months")   # back to its first picture
        expect(explore.locator(".js-plotly-plot .barlayer .trace").first).to_be_visible(timeout=30_000)
    _dark(page, outputs, explore_back)


def test_widgets_large(jupyter_lab, browser_page):
    "The four widgets on 200 columns (explore, promotion, monitor) and 10,000 runs (compare), in both themes."
    from playwright.sync_api import expect
    page = browser_page
    outputs = _run_widgets(page, jupyter_lab, "large", LARGE_SETUP, LARGE,
                           extra_ready=[("large-monitor", ".js-plotly-plot .main-svg"),
                                        ("large-promotion", ".js-plotly-plot .scatterlayer .trace")])
    expect(outputs["large-compare"]).to_contain_text("10,001 runs")
    _dark(page, outputs)
