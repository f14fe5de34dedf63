"""PromotionPanel in real JupyterLab and headless Chromium: champion v1 against candidate v2, a refused
promotion without a reason, then type a reason, click Promote, see v2 become the champion and the audit row.
A server row (as `mlwork serve churn@production` writes with its heartbeat) says what is served: v1 with its
counters under "Serving now", and after the promotion, in red, that the alias names v2 but the server has not
loaded it yet."""
import re, time
from jupyter_browser import SCREENSHOTS, open_notebook, run_all, screenshot, wait_kernel_idle, write_notebook

CELLS = [
    '''\
import mlwork as mw
try: promotion = mw.promotion
except AttributeError: from mlwork.widgets.promotion import promotion''',
    '''\
from mlwork.synthetic import churn_pair
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import RandomForestClassifier
ws = mw.Workspace.init("promo-ws")
(ws.root / "settings.ini").write_text((ws.root / "settings.ini").read_text() +
    "\\n[promotion]\\neval_dataset = churn@1\\nmin_metric = roc_auc >= 0.6\\nbeat_champion_by = 0.0\\n"
    "schema_compatible = true\\nmax_latency_ms = 200\\n[serving]\\nheartbeat = 600\\n")
ws = mw.Workspace.open(ws.root)
ref, _ = churn_pair(3000, seed=5)
dv = ws.datasets.log(ref, "churn", target="churned", id="customer_id", time="period")
X, y = ref[["tenure_months", "monthly_charges", "support_calls", "age"]], ref["churned"]
for model in (LogisticRegression(max_iter=1000), RandomForestClassifier(50, max_depth=6, random_state=0)):
    with ws.start_run("churn-models") as run:
        run.use_dataset(dv, "train")
        run.log_model(model.fit(X, y))
    ws.registry.register(run, "churn", description=type(model).__name__)
gates = ws.registry.promote("churn", 1, reason="first model")
assert all(g.passed for g in gates)
from mlwork.serving import register_server        # what `mlwork serve churn@production` records (beat: 600 s here)
rid = register_server(ws.store, "s1", "http://127.0.0.1:8000", {"churn": {
    "ref": "churn@production", "version": 1, "runtime": "onnx", "requests": 120, "errors": 3, "p50_ms": 1.2,
    "p99_ms": 8.5, "log_dropped": 0, "by_version": {"1": 117}}})''',
    'p = promotion(ws, "churn")\np',
]


def test_promote_in_jupyterlab(jupyter_lab, browser_page):
    from playwright.sync_api import expect
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1400})
    write_notebook(jupyter_lab.root / "promotion" / "promotion.ipynb", CELLS)
    open_notebook(page, jupyter_lab, "promotion/promotion.ipynb")
    t0 = time.perf_counter()
    assert len(run_all(page)) == len(CELLS)
    print(f"run all: {time.perf_counter() - t0:.1f} s")

    champion, candidate = page.locator(".mlwork-champion"), page.locator(".mlwork-candidate")
    expect(champion).to_contain_text("churn v1", timeout=60_000)
    expect(candidate).to_contain_text("churn v2")
    gates = page.locator("table.mlwork-gates")
    expect(gates.locator("tbody tr")).to_have_count(4)
    expect(gates).not_to_contain_text("FAIL")
    expect(page.locator("table.mlwork-metrics")).to_contain_text("roc_auc")
    expect(page.locator("table.mlwork-lineage")).to_contain_text("churn@1 (train)")
    served = page.locator("table.mlwork-served-table tbody tr")                # what the server answers with now
    expect(served).to_have_count(1)
    for text in ("churn@production", "v1", "onnx", "120", "3 (2.5%)", "1.2 ms", "8.5 ms"):
        expect(served.first).to_contain_text(text)
    expect(served.first).not_to_contain_text("not loaded")
    expect(served.first.locator("span[title]")).to_have_attribute("title", re.compile(r"at http://127\.0\.0\.1:8000: v1 onnx, 120 requests"))
    expect(page.locator(".mlwork-served")).to_contain_text("median of the processes' p50")
    roc = page.locator(".js-plotly-plot")
    expect(roc).to_have_count(1, timeout=30_000)
    expect(roc.locator(".legendtext")).to_have_count(3)
    expect(roc.locator(".legendtext").nth(1)).to_contain_text("candidate v2")
    history = page.locator("table.mlwork-history tbody tr")
    rows_before = history.count()

    # no reason: refused in the panel, nothing changes
    promote = page.locator("button.widget-button", has_text="Promote")
    promote.click()
    status = page.locator(".mlwork-status")
    expect(status).to_contain_text("needs a reason", timeout=30_000)
    expect(champion).to_contain_text("churn v1")
    expect(history).to_have_count(rows_before)

    # type a reason like a person and promote
    page.locator(".widget-textarea textarea").fill("RF beats LR on churn@1")
    t0 = time.perf_counter()
    promote.click()
    expect(champion).to_contain_text("churn v2", timeout=60_000)
    print(f"promote click -> new champion shown: {time.perf_counter() - t0:.2f} s")
    expect(status).to_contain_text("Promoted churn v2 to production (was v1)")
    expect(history).to_have_count(rows_before + 1)
    expect(history.first).to_contain_text("promote")
    expect(history.first).to_contain_text("RF beats LR on churn@1")
    expect(candidate).to_contain_text("churn v1")                         # the old champion is now the candidate
    expect(served.first).to_contain_text("churn@production is v2 now: not loaded yet")   # the server still answers with v1
    expect(page.locator(".widget-textarea textarea")).to_have_value("")
    expect(promote).to_be_enabled()
    expect(page.locator(".widget-output", has_text=re.compile("Traceback"))).to_have_count(0)

    wait_kernel_idle(page)
    shot = screenshot(page, SCREENSHOTS / "promotion.png")                  # gates, buttons, status, audit log
    champion.scroll_into_view_if_needed()
    top = screenshot(page, SCREENSHOTS / "promotion-top.png")               # headers, serving now, metrics, ROC overlay
    print(f"screenshots: {shot} {top}")
    assert shot.stat().st_size > 20_000 and top.stat().st_size > 20_000


# A canary on live traffic, built without a server: v2 (the challenger) gets half the requests, sticky by customer, the
# versions' answers are logged as `mlwork serve` logs them, the labels come back through `record_feedback`, and a server
# row carries each variant's counters. The panel shows the Live traffic section beside the offline gates.
LIVE_CELLS = [
    CELLS[0],
    '''\
import time
from mlwork.synthetic import churn_pair
from mlwork import traffic as tr, predlog
from mlwork.serving import load_version, prepare_columns, register_server, serving_settings
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import RandomForestClassifier
ws = mw.Workspace.init("live-ws")
(ws.root / "settings.ini").write_text((ws.root / "settings.ini").read_text() +
    "\\n[promotion]\\neval_dataset = churn@1\\nmin_metric = roc_auc >= 0.6\\nbeat_champion_by = 0.0\\n"
    "schema_compatible = true\\nmax_latency_ms = 200\\n[serving]\\nheartbeat = 600\\n")
ws = mw.Workspace.open(ws.root)
ref, month = churn_pair(1500, seed=5)
dv = ws.datasets.log(ref, "churn", target="churned", id="customer_id", time="period")
X, y = ref[["tenure_months", "monthly_charges", "support_calls", "age"]], ref["churned"]
for model in (LogisticRegression(C=1e-3, max_iter=1000), RandomForestClassifier(60, max_depth=6, random_state=0)):
    with ws.start_run("churn-models") as run:
        run.use_dataset(dv, "train")
        run.log_model(model.fit(X, y))
    ws.registry.register(run, "churn", description=type(model).__name__)
reg = ws.registry
reg.promote("churn", 1, reason="first model")
reg.promote("churn", 2, alias="challenger", reason="the forest goes to a canary first", gates=[])
tr.set_policy(ws.store, "churn", tr.Policy("canary", alias="challenger", steps=(20, 50, 100), step=1), reason="canary of v2")
opts, p = serving_settings(ws.settings, "churn"), tr.policy(ws.store, ws.settings, "churn")
loaded = {v: load_version(ws.store, reg, ws.datasets, "churn", v) for v in (1, 2)}
recs, labels, sent = month.head(1000).drop(columns="churned").assign(period=lambda d: d.period.astype(str)).to_dict("records"), [], {}
to = tr.assign(p, "production", "churn", [r["customer_id"] for r in recs])
writer = predlog.LogWriter(ws.store, ws.blobs, {"churn": opts}).start()
for alias in ("production", "challenger"):
    rows, L = [i for i, a in enumerate(to) if a == alias], loaded[reg._alias_version("churn", alias)]
    for j in range(0, len(rows), 8):
        part, rid = rows[j:j + 8], f"{alias}-{j}"
        X_, keep, _, cols = prepare_columns(L.spec, [recs[i] for i in part], opts)
        writer.submit(L, rid, "app", time.time(), 2.0 if alias == "production" else 3.5, cols, keep, *L.predict(X_))
        labels += [{"request_id": rid, "row": k, "label": int(month.churned.iloc[i])} for k, i in enumerate(part)]
        sent[alias] = sent.get(alias, 0) + 1
writer.close()
assert predlog.record_feedback(ws.store, ws.blobs, "churn", labels).matched == 1000
register_server(ws.store, "s1", "http://127.0.0.1:8000", {"churn": {      # one of the champion's requests failed
    "ref": "churn@production", "version": 1, "runtime": "sklearn", "requests": sum(sent.values()), "errors": 1, "p50_ms": 2.0,
    "p99_ms": 9.0, "log_dropped": 0, "by_version": {"1": sent["production"] - 1, "2": sent["challenger"]},
    "variants": {"production": {"requests": sent["production"], "errors": 1, "p50_ms": 2.0, "p99_ms": 9.0},
                 "challenger": {"requests": sent["challenger"], "errors": 0, "p50_ms": 3.5, "p99_ms": 11.0}}}})''',
    'p = promotion(ws, "churn")\np',
]


def test_live_canary_in_jupyterlab(jupyter_lab, browser_page):
    from playwright.sync_api import expect
    from jupyter_browser import set_theme, theme_problems
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1700})
    write_notebook(jupyter_lab.root / "promotion-live" / "promotion-live.ipynb", LIVE_CELLS)
    open_notebook(page, jupyter_lab, "promotion-live/promotion-live.ipynb")
    t0 = time.perf_counter()
    assert len(run_all(page)) == len(LIVE_CELLS)
    print(f"run all: {time.perf_counter() - t0:.1f} s")

    out = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(2).locator(".jp-Cell-outputArea")
    expect(out.locator(".mlwork-candidate")).to_contain_text("churn v2", timeout=60_000)    # the version under canary
    expect(out.locator("table.mlwork-gates tbody tr")).to_have_count(4)                       # the offline gates
    live = out.locator(".mlwork-live")
    expect(live).to_be_visible(timeout=60_000)                                                # read in a thread, then drawn
    expect(live.locator(".mlwork-live-policy")).to_contain_text("canary: challenger answers 50% (step 2 of 3")
    variants = live.locator("table.mlwork-live-variants tbody tr")
    expect(variants).to_have_count(2)
    expect(variants.nth(0)).to_contain_text("production → v1")
    expect(variants.nth(1)).to_contain_text("challenger → v2")
    expect(variants.nth(0).locator("td").nth(6)).to_contain_text(re.compile(r"^1 \(1\.\d%\)$"))   # errors: the counters
    expect(live.locator("table.mlwork-live-variants")).to_contain_text("accuracy (95% interval)")
    expect(live.locator(".mlwork-live-verdict")).to_contain_text("Sequential test")
    gates = live.locator("table.mlwork-live-gates tbody tr")
    expect(gates).to_have_count(3)
    for name in ("live_min_labelled", "live_beat_champion", "live_errors"):
        expect(live.locator("table.mlwork-live-gates")).to_contain_text(name)
    expect(live.locator(".mlwork-live-decision")).to_contain_text("The driver's decision")
    expect(live.locator(".mlwork-live-note")).to_contain_text("v2 fails live_beat_champion: Promote is blocked")
    expect(out.locator(".mlwork-live-note", has_text="Promote is blocked")).to_have_count(1)
    expect(out).not_to_contain_text("reading the live comparison")
    expect(out.locator("button.widget-button", has_text="Stop canary")).to_be_visible()
    expect(out.locator("button.widget-button", has_text="Next step")).to_be_enabled()
    expect(out.locator(".widget-output", has_text=re.compile("Traceback"))).to_have_count(0)

    wait_kernel_idle(page)
    # the offline gates at the top of the view, the live section, the buttons and the audit log under them
    top = "e => e.closest('.widget-html').scrollIntoView({block: 'start'})"
    out.locator("table.mlwork-gates").evaluate(top)
    page.wait_for_timeout(200)
    shot = screenshot(page, SCREENSHOTS / "promotion-live.png")
    try:
        set_theme(page, "JupyterLab Dark")
        out.locator("table.mlwork-gates").evaluate(top)
        page.wait_for_timeout(200)
        dark = screenshot(page, SCREENSHOTS / "promotion-live-dark.png")
        problems = theme_problems(page, live)
        assert not problems, f"in the dark theme: {problems}"
    finally:
        set_theme(page, "JupyterLab Light")
    print(f"screenshots: {shot} {dark}")
    assert shot.stat().st_size > 20_000 and dark.stat().st_size > 20_000

    # the keyboard alone: type a reason, Tab to Next step, Enter: the canary sends its next share
    out.locator("textarea").first.fill("no errors at 50%")
    out.locator("textarea").first.focus()
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent.trim()") == "Next step": break
    assert page.evaluate("() => document.activeElement.tagName + ':' + document.activeElement.textContent.trim()") == "BUTTON:Next step"
    page.keyboard.press("Enter")
    expect(out.locator(".mlwork-status")).to_contain_text("now sends 100% of requests to challenger", timeout=30_000)
    expect(live.locator(".mlwork-live-policy")).to_contain_text("step 3 of 3", timeout=30_000)
    expect(out.locator("table.mlwork-history tbody tr").first).to_contain_text("traffic_advanced")
