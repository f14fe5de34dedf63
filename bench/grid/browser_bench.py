"""(c) selection reaches Python, (d) time to visible, refresh keeps selection -- in real JupyterLab + Chromium.

Uses the helpers of tests/jupyter_browser.py (imported, not modified). For each candidate: a notebook that
builds the grid from 10k x 34 runs next to a "refresh" button and two labels; the labels are written by
*Python* callbacks, so text appearing in them proves the browser->kernel->browser round trip.
Run: .venv/bin/python bench/grid/browser_bench.py [candidate ...]  -> browser_bench.json, /tmp/grid_<name>*.png
"""
import json, shutil, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))
import jupyter_browser as jb                      # noqa: E402
from playwright.sync_api import sync_playwright   # noqa: E402

sys.path.insert(0, str(HERE))
from gridbench import ADAPTERS                    # noqa: E402

SETUP = f"""import sys, time, json
sys.path.insert(0, {str(HERE)!r})
import ipywidgets as W
from gridbench import ADAPTERS, make_runs, refreshed
df = make_runs(); df2 = refreshed(df)"""

SHOW = """A = ADAPTERS[{name!r}]
T0 = time.time()
grid = A.build(df)
T_BUILD = time.time() - T0
sel = W.Label('sel:none'); sel.add_class('bench-sel')
info = W.Label(''); info.add_class('bench-info')
btn = W.Button(description='refresh'); btn.add_class('bench-refresh')
A.observe_selection(grid, lambda ids: setattr(sel, 'value', 'sel:' + json.dumps([str(i) for i in ids])))
def on_refresh(_):
    before = A.selected_ids(grid)
    t = time.time(); A.update(grid, df2); dt = time.time() - t
    info.value = 'upd:' + json.dumps({{'update_s': dt, 'sel_before': [str(i) for i in before],
                                      'sel_after_sync': [str(i) for i in A.selected_ids(grid)]}})
btn.on_click(on_refresh)
display(W.VBox([W.HBox([btn, sel]), info, grid]))
info.value = 'built:' + json.dumps({{'T0': T0, 'build_s': T_BUILD}})"""

# rAF loop: record Date.now() when the grid first has a painted, non-empty element (same clock as time.time()).
WATCH_JS = """sel => { window.__tVis = null; const f = () => {
  const e = document.querySelector(sel);
  if (e && e.getBoundingClientRect().height > 0) { window.__tVis = Date.now(); return; }
  requestAnimationFrame(f); }; requestAnimationFrame(f); }"""


def label(page, cls):
    return page.locator(f".{cls}").first.inner_text()


def wait_label(page, cls, prefix, timeout=30_000, not_equal=None):
    page.wait_for_function(
        "([c, p, n]) => { const e = document.querySelector('.' + c); return e && e.innerText.startsWith(p) && e.innerText !== n; }",
        arg=[cls, prefix, not_equal], timeout=timeout)
    return label(page, cls)


def click_rows(page, name, mods_rows):
    "Click data rows: [(modifier|None, visible_row_index)]."
    if name == "ipydatagrid":          # canvas: click by coordinates (row header 64 px, column header 20, rows 20)
        box = page.locator(".ipydatagrid-widget canvas").first.bounding_box()
        for mod, r in mods_rows:
            page.mouse.move(box["x"] + 64 + 150, box["y"] + 20 + 20 * r + 10)
            if mod: page.keyboard.down(mod)
            page.mouse.click(box["x"] + 64 + 150, box["y"] + 20 + 20 * r + 10)
            if mod: page.keyboard.up(mod)
            page.wait_for_timeout(300)
    else:
        rows = page.locator(ADAPTERS[name].ROW)
        for mod, r in mods_rows:
            cell = rows.nth(r).locator("td, .ag-cell").nth(1)
            cell.click(modifiers=[mod] if mod else None)
            page.wait_for_timeout(300)


def run_one(pw, lab, name):
    res = {"candidate": name}
    nb = jb.write_notebook(lab.root / f"grid_{name}.ipynb", [SETUP, SHOW.format(name=name)])
    ctx = pw.chromium.launch_persistent_context(tempfile.mkdtemp(prefix="chr-"), executable_path=jb.CHROMIUM,
                                                headless=True, args=jb.CHROMIUM_ARGS, viewport=jb.VIEWPORT)
    console = []
    try:
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.on("console", lambda m: console.append(m.text[:300]) if m.type == "error" else None)
        page.on("pageerror", lambda e: console.append(str(e)[:300]))
        jb.open_notebook(page, lab, nb.name)
        page.evaluate(WATCH_JS, ADAPTERS[name].VISIBLE)
        try:
            jb.run_all(page)
        except AssertionError as e:
            res["error"] = str(e)[:1500]; jb.screenshot(page, f"/tmp/grid_{name}_error.png"); return res
        built = json.loads(wait_label(page, "bench-info", "built:")[6:])
        res["kernel_build_s"] = built["build_s"]
        try:
            page.wait_for_function("() => window.__tVis !== null", timeout=60_000)
            res["visible_after_cell_start_s"] = page.evaluate("() => window.__tVis") / 1000 - built["T0"]
        except Exception as e:
            res["visible_error"] = str(e)[:300]
        page.wait_for_timeout(1500)
        jb.screenshot(page, f"/tmp/grid_{name}.png")
        # (c) selection: click row 0, ctrl-click row 2, shift-click row 5
        steps = [(None, 0), ("Control", 2), ("Shift", 5)]
        seen = []
        for i in range(len(steps)):
            prev = label(page, "bench-sel")
            click_rows(page, name, [steps[i]])
            try:
                seen.append(wait_label(page, "bench-sel", "sel:", timeout=5000, not_equal=prev))
            except Exception:
                seen.append(f"(no change in Python after {steps[i]})")
        res["selection_seen_in_python"] = seen
        jb.screenshot(page, f"/tmp/grid_{name}_selected.png")
        # refresh in place: click the button (runs A.update in the kernel), then look at the selection again
        page.locator(".bench-refresh").first.click()
        upd = json.loads(wait_label(page, "bench-info", "upd:", timeout=60_000)[4:])
        page.wait_for_timeout(3000)                      # let the front end re-render and sync any selection change
        res.update(kernel_update_s=upd["update_s"], sel_before=upd["sel_before"],
                   sel_after_update_sync=upd["sel_after_sync"], sel_label_3s_after_update=label(page, "bench-sel"))
        jb.screenshot(page, f"/tmp/grid_{name}_refreshed.png")
        res["console_errors"] = console[:8]
    finally:
        ctx.close()
        try: lab.shutdown_sessions()
        except Exception: pass
    return res


if __name__ == "__main__":
    names = sys.argv[1:] or list(ADAPTERS)
    top = Path(tempfile.mkdtemp(prefix="gridbench-lab-"))
    lab = jb._start_lab(top)
    out = []
    try:
        with sync_playwright() as pw:
            for n in names:
                t = time.time()
                try: r = run_one(pw, lab, n)
                except Exception as e: r = {"candidate": n, "error": f"{type(e).__name__}: {e}"[:1500]}
                r["wall_s"] = round(time.time() - t, 1)
                print(json.dumps(r, indent=1), flush=True)
                out.append(r)
    finally:
        jb._stop(lab.proc)
        shutil.rmtree(top, ignore_errors=True)
    dst = HERE / ("browser_bench.json" if not sys.argv[1:] else f"browser_bench_{'_'.join(names)}.json")
    dst.write_text(json.dumps(out, indent=1))
