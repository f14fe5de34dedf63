"""Real-browser widget tests: JupyterLab on 127.0.0.1, driven by Debian's headless Chromium via Playwright.

A pytest plugin module. Enable it with `pytest_plugins = ["jupyter_browser"]` in tests/conftest.py.

Fixtures
    jupyter_lab   (session)  a JupyterLab server on a free loopback port with a random token and
                             throw-away config/runtime/settings/workspace dirs; `.url`, `.token`,
                             `.root` (the served folder: copy or write notebooks there), `.log`,
                             `.notebook_url(relpath)`.
    browser_page  (function) a Playwright page in a fresh headless Chromium (fresh profile dir,
                             1400x1700 viewport). On teardown: screenshot if the test failed,
                             browser console errors printed, the test's kernels shut down.

Helpers
    write_notebook(path, cells, kernel="mlwork")   a notebook of code cells, pinned to a kernel
    open_notebook(page, lab, relpath)              open it, wait until the kernel is really idle
    run_all(page)                                  Run > Run All Cells; wait until every code cell
                                                   has run (raises with the error if one fails)
    wait_kernel_idle(page)                         wait until the status bar reads "... | Idle"
    screenshot(page, path)                         PNG of the viewport (or of one locator)
    SCREENSHOTS                                    where tests keep their pictures for a person to look at
                                                   (bench/out/screenshots, ignored by git; MLWORK_SCREENSHOTS)
    empty_charts(page)                             titles of plotly charts that draw nothing (default axes)
    raw_numbers(text)                              number formats a person should never see (1.772e+09, None, ...)
    set_theme(page, "JupyterLab Dark")             Settings > Theme > THEME; wait until the page has switched
    theme_problems(page, scope)                    in a dark theme: light boxes and dark text in `scope`

Nothing is skipped: a missing Chromium, Playwright, JupyterLab or kernelspec fails the test with a
message saying that `make test` installs it.
"""
from __future__ import annotations

import json, os, re, secrets, shutil, signal, socket, subprocess, sys, tempfile, time
import urllib.error, urllib.parse, urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
JUPYTER = VENV / "bin" / "jupyter"
KERNEL = "mlwork"
KERNELSPEC = VENV / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1700}
SCREENSHOTS = Path(os.environ.get("MLWORK_SCREENSHOTS") or ROOT / "bench" / "out" / "screenshots")   # ignored by git
START_TIMEOUT = 60        # seconds for the server to answer /api/status
STOP_TIMEOUT = 20         # seconds between SIGTERM and SIGKILL

# JupyterLab user settings written into the fresh settings dir.
LAB_SETTINGS = {
    # no news / update pop-up (and no request to the internet)
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
    # every cell attached to the DOM and laid out, so widgets render even below the fold
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _need(ok, what):
    if not ok:
        pytest.fail(f"{what} is missing: `make test` installs it (Debian packages chromium and "
                    f"fonts-dejavu-core, the dev extra of pyproject.toml with jupyterlab and playwright, "
                    f"and the kernelspec `{KERNEL}`).", pytrace=False)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, n=60):
    try: return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError: return "(no log)"


# -- the server ------------------------------------------------------------------------------------
@dataclass
class JupyterLab:
    url: str          # http://127.0.0.1:PORT (no trailing slash)
    token: str
    root: Path        # the folder the server serves; tests write/copy notebooks here
    log: Path         # the server's stdout+stderr
    proc: subprocess.Popen

    def notebook_url(self, relpath) -> str:
        "URL opening `relpath` (relative to .root) in a reset workspace (no tabs left from earlier tests)."
        rel = urllib.parse.quote(Path(relpath).as_posix())
        return f"{self.url}/lab/tree/{rel}?reset&token={self.token}"

    def api(self, path, method="GET"):
        "Call the REST API; return the decoded JSON (or None when the answer is empty)."
        req = urllib.request.Request(f"{self.url}/api/{path.lstrip('/')}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_sessions(self):
        "Shut down every notebook session and its kernel (keeps a session-wide server light)."
        for s in self.api("sessions"):
            try: self.api(f"sessions/{s['id']}", method="DELETE")
            except urllib.error.HTTPError: pass


def _start_lab(top: Path) -> JupyterLab:
    _need(JUPYTER.exists(), f"JupyterLab ({JUPYTER})")
    _need(KERNELSPEC.exists(), f"The kernelspec `{KERNEL}` ({KERNELSPEC})")
    dirs = {k: top / k for k in ("config", "runtime", "data", "settings", "workspaces", "ipython", "root")}
    for d in dirs.values(): d.mkdir(parents=True, exist_ok=True)
    for rel, value in LAB_SETTINGS.items():
        f = dirs["settings"] / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))
    # server side too: no news feed, no update check
    (dirs["config"] / "jupyter_server_config.json").write_text(json.dumps(
        {"LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLWORK_", "JUPYTER", "IPYTHON"))}
    env.update(JUPYTER_CONFIG_DIR=dirs["config"], JUPYTER_RUNTIME_DIR=dirs["runtime"],
               JUPYTER_DATA_DIR=dirs["data"], JUPYTERLAB_SETTINGS_DIR=dirs["settings"],
               JUPYTERLAB_WORKSPACES_DIR=dirs["workspaces"], IPYTHONDIR=dirs["ipython"],
               JUPYTER_PLATFORM_DIRS="1")
    env = {k: str(v) for k, v in env.items()}
    token = secrets.token_hex(24)
    log = top / "server.log"
    last_err = ""
    for attempt in range(3):    # a free port can be taken between the probe and the bind: retry
        port = _free_port()
        cmd = [str(JUPYTER), "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={dirs['root']}"]
        if os.geteuid() == 0: cmd.append("--allow-root")
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, cwd=dirs["root"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        lab = JupyterLab(f"http://127.0.0.1:{port}", token, dirs["root"], log, proc)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None: break
            try:
                with urllib.request.urlopen(f"{lab.url}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200: return lab
            except (urllib.error.URLError, OSError): pass
            time.sleep(0.1)
        if proc.poll() is None:
            _stop(proc)
            raise RuntimeError(f"JupyterLab did not answer /api/status within {START_TIMEOUT}s.\n"
                               f"Server log ({log}):\n{_tail(log)}")
        last_err = _tail(log)
        if "already in use" not in last_err.lower(): break
    raise RuntimeError(f"JupyterLab exited with code {proc.returncode}.\nServer log ({log}):\n{last_err}")


def _stop(proc: subprocess.Popen):
    "SIGTERM (the server then shuts its kernels down), SIGKILL to its process group after a timeout."
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try: proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            try: os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError: pass
            proc.wait(10)


@pytest.fixture(scope="session")
def jupyter_lab():
    "A JupyterLab server for the session (see JupyterLab); stopped at the end."
    top = Path(tempfile.mkdtemp(prefix="mlwork-lab-"))
    lab = _start_lab(top)
    try:
        yield lab
    finally:
        try: lab.shutdown_sessions()
        except Exception: pass
        _stop(lab.proc)
        shutil.rmtree(top, ignore_errors=True)


# -- the browser -----------------------------------------------------------------------------------
@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    "Record each phase's report on the item, so browser_page can screenshot failures."
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"_jb_rep_{rep.when}", rep)


@pytest.fixture
def browser_page(request, jupyter_lab, tmp_path_factory):
    "A Playwright page (sync API) in a fresh headless Chromium, 1400x1700."
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "The Python package playwright")
    _need(os.access(CHROMIUM, os.X_OK), f"Chromium ({CHROMIUM})")
    profile = tmp_path_factory.mktemp("chromium-profile")
    console = []
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport=VIEWPORT, device_scale_factor=1)
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.set_default_timeout(30_000)
            page.on("console", lambda m: console.append(f"console.{m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            yield page
            rep = getattr(request.node, "_jb_rep_call", None)
            if rep is not None and rep.failed:
                shot = tmp_path_factory.mktemp("failed") / f"{request.node.name}.png"
                try:
                    page.screenshot(path=str(shot))
                    print(f"screenshot of the failed test: {shot}")
                except Exception as e:
                    print(f"no screenshot of the failed test: {e}")
        finally:
            ctx.close()
            if console: print("browser console:\n  " + "\n  ".join(console[-50:]))
            try: jupyter_lab.shutdown_sessions()
            except Exception as e: print(f"could not shut the test's kernels down: {e}")


# -- helpers ---------------------------------------------------------------------------------------
def write_notebook(path, cells, kernel=KERNEL):
    "Write a notebook of code cells (strings; a string starting with '#md\\n' is a markdown cell)."
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": f"Python ({kernel})", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(c[4:]) if c.startswith("#md\n") else nbformat.v4.new_code_cell(c)
                for c in cells]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


_IDLE = re.compile(r"\|\s*Idle\s*$")


def wait_kernel_idle(page, timeout=60_000):
    "Wait until the status bar's kernel item reads `<kernel> | Idle` (the real readiness signal)."
    page.locator(".jp-StatusBar-TextItem").filter(has_text=_IDLE).first.wait_for(state="visible",
                                                                                   timeout=timeout)


def _dialog_text(page):
    d = page.locator(".jp-Dialog")
    return d.first.inner_text() if d.count() else ""


def open_notebook(page, lab, relpath, timeout=60_000):
    "Open `relpath` (relative to lab.root) and wait until its kernel is really ready; return the panel."
    page.goto(lab.notebook_url(relpath))
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first
    try:
        panel.locator(".jp-Cell").first.wait_for(state="visible", timeout=timeout)
        wait_kernel_idle(page, timeout=timeout)
    except Exception as e:
        bar = " | ".join(page.locator(".jp-StatusBar-TextItem").all_inner_texts())
        raise AssertionError(f"notebook {relpath} did not open with an idle kernel: {e}\n"
                             f"status bar: {bar!r}\ndialog: {_dialog_text(page)!r}\n"
                             f"server log:\n{_tail(lab.log, 30)}") from None
    return panel


_PROMPTS_JS = """() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim())"""


def _prompts(page):
    return page.evaluate(_PROMPTS_JS)


_WATCH_PROMPTS_JS = """() => {
    // Set window.__jbPromptChanged when any input prompt of the current notebook changes. Run All
    // marks every queued cell [*] first, so this sees the run start even if it ends before a poll.
    if (window.__jbPromptObserver) window.__jbPromptObserver.disconnect();
    window.__jbPromptChanged = false;
    const root = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
    const obs = new MutationObserver(ms => {
        for (const m of ms) {
            const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
            if (el && el.closest && el.closest('.jp-InputPrompt')) { window.__jbPromptChanged = true; return; }
        }
    });
    obs.observe(root, {subtree: true, childList: true, characterData: true});
    window.__jbPromptObserver = obs;
}"""


def run_all(page, timeout=120_000):
    "Run > Run All Cells; wait until every code cell's prompt shows [n]. Raises with the error output."
    page.evaluate(_WATCH_PROMPTS_JS)
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]').click()
    # 1: the run has started (some prompt changed); 2: nothing is queued or running any more.
    page.wait_for_function("() => window.__jbPromptChanged === true", timeout=timeout)
    not_running = "() => !(%s)().some(t => t.includes('*'))" % _PROMPTS_JS
    page.wait_for_function(not_running, timeout=timeout)
    wait_kernel_idle(page, timeout=timeout)
    page.wait_for_function(not_running, timeout=timeout)
    page.evaluate("() => window.__jbPromptObserver && window.__jbPromptObserver.disconnect()")
    prompts = _prompts(page)
    if not all(re.fullmatch(r"\[\d+\]:?", t) for t in prompts):
        errors = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                              ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        raise AssertionError(f"Run All stopped before the end; prompts {prompts}\n"
                             + "\n---\n".join(errors.all_inner_texts())[-4000:])
    return prompts


def screenshot(page, path, locator=None):
    "Save a PNG of the viewport (or of `locator`) at `path`; return the Path."
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    (locator or page).screenshot(path=str(path), animations="disabled")
    return path


_EMPTY_CHARTS_JS = """(root) => [...(root || document).querySelectorAll('.js-plotly-plot')].filter(gd => {
    // a chart draws something when one of its traces has values (x, y, z, dimensions or values)
    const drawn = (gd.data || []).some(t => ['x', 'y', 'z', 'dimensions', 'values'].some(k => t[k] && t[k].length));
    return !drawn;
}).map(gd => { const t = gd.layout && gd.layout.title; return (t && (t.text || t)) || '(untitled)'; })"""


def empty_charts(page, scope=None):
    "Titles of the plotly charts (in `scope`, a locator, or the whole page) that draw nothing: an empty frame."
    return page.evaluate(_EMPTY_CHARTS_JS, scope.element_handle() if scope is not None else None)


# What a table or a chart should never show a person: scientific notation, more than four decimals,
# Python's None/nan/NaT, and SI-prefixed fractions on an axis ("300µ").
RAW_NUMBER = re.compile(r"\d\.?\d*e[+-]\d+|\d+\.\d{5,}|\bNone\b|\bnan\b|\bNaN\b|\bNaT\b|(?<![\w.])\d+(?:\.\d+)?[µnp](?![\w])")


def raw_numbers(text):
    "The raw number formats found in `text` (empty when it reads well)."
    return RAW_NUMBER.findall(text)


_CHART_TEXT_JS = """(root) => [...(root || document).querySelectorAll(
    '.js-plotly-plot .xtick text, .js-plotly-plot .ytick text, .js-plotly-plot .gtitle, .js-plotly-plot .legendtext')]
    .map(e => e.textContent).join('\\n')"""


def visible_text(page, scope):
    "The text a person reads in `scope` (a locator): its inner text and the tick labels, titles and legends of its charts."
    return scope.inner_text() + "\n" + page.evaluate(_CHART_TEXT_JS, scope.element_handle())


def set_theme(page, theme="JupyterLab Dark", timeout=30_000):
    "Settings > Theme > `theme` (the command apputils:change-theme), like a person; wait until the page has switched."
    light = "false" if "Dark" in theme else "true"
    if page.evaluate("() => document.body.dataset.jpThemeLight") == light: return
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Settings$")).click()
    page.locator("li.lm-Menu-item[data-type='submenu']", has_text=re.compile(r"^Theme$")).click()
    item = page.locator("li.lm-Menu-item[data-command='apputils:change-theme']",
                        has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(theme)}$")))
    item.click()
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'", timeout=timeout)
    page.wait_for_timeout(500)          # the theme's stylesheet applied, the charts' colours follow their CSS


_THEME_PROBLEMS_JS = """(root) => {
    // In a dark theme: boxes painted light (a background, or an SVG rectangle's fill) and text painted dark.
    const rgba = c => { const m = (c || '').match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
        const v = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
    const lum = ([r, g, b]) => (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    const name = e => e.tagName.toLowerCase() + (e.getAttribute('class') ? '.' + e.getAttribute('class').trim().split(/\\s+/).join('.') : '');
    const out = new Set();
    for (const e of root.querySelectorAll('*')) {
        const r = e.getBoundingClientRect();
        if (r.width < 1 || r.height < 1) continue;
        const cs = getComputedStyle(e);
        if (cs.visibility === 'hidden' || cs.display === 'none') continue;
        const bg = rgba(e instanceof SVGElement ? (e.tagName === 'rect' ? cs.fill : null) : cs.backgroundColor);
        if (bg && bg[3] > 0.5 && lum(bg) > 0.75 && r.width > 16 && r.height > 8) out.add(`light box ${name(e)} ${cs.backgroundColor || cs.fill}`);
        const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        if (!own || e.closest('.hm, .heatmaplayer, .hoverlayer, .modebar')) continue;
        const fg = rgba(e instanceof SVGElement ? cs.fill : cs.color);
        let under = null;                          // the nearest painted background under the text (none: the dark page)
        for (let a = e; a && !under; a = a.parentElement) { const c = rgba(getComputedStyle(a).backgroundColor); if (c && c[3] > 0.5) under = c; }
        if (fg && fg[3] > 0.3 && lum(fg) < 0.35 && (!under || lum(under) < 0.35))
            out.add(`dark text ${name(e)} ${e instanceof SVGElement ? cs.fill : cs.color}: ${e.textContent.trim().slice(0, 40)}`);
    }
    return [...out];
}"""


def theme_problems(page, scope):
    "In a dark theme: what in `scope` (a locator) is painted light (boxes) or dark (text): should be nothing."
    return page.evaluate(_THEME_PROBLEMS_JS, scope.element_handle())



def small_png(page, src, dst, width=900, regions=((0, 0, None, None),)):
    """Save a smaller copy of the PNG `src` at `dst` (for the README): its `regions` (left, top, right, bottom in pixels;
    None: to the edge), stacked top to bottom, scaled by Chromium to `width` pixels wide. Returns the Path of `dst`."""
    import base64
    data = base64.b64encode(Path(src).read_bytes()).decode()
    w, h = page.evaluate("""(d) => new Promise(r => { const i = new Image(); i.onload = () => r([i.width, i.height]);
                                                     i.src = 'data:image/png;base64,' + d; })""", data)
    parts = []
    for left, top, right, bottom in regions:
        right, bottom = right or w, bottom or h
        k = width / (right - left)
        parts.append(f"""<div style="width:{width}px;height:{round((bottom - top) * k)}px;overflow:hidden;position:relative">
            <img src="data:image/png;base64,{data}" style="position:absolute;left:{-left * k}px;top:{-top * k}px;
            width:{w * k}px;height:{h * k}px"></div>""")
    page.set_content(f'<body style="margin:0;background:#fff"><div id="c" style="width:{width}px">{"".join(parts)}</div></body>')
    return screenshot(page, dst, page.locator("#c"))
