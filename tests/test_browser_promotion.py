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
