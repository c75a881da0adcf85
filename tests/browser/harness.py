"""Real-browser test harness: JupyterLab on 127.0.0.1, driven in Debian's Chromium by Playwright.

Registered for the whole suite by ``tests/conftest.py`` (``pytest_plugins``), so any test
module may use these fixtures. A test that uses ``lab``, ``chromium`` or ``lab_page`` is
marked ``browser`` automatically (``-m "not browser"`` deselects it).

Fixtures
    lab            session   LabServer: JupyterLab with isolated config/data/runtime dirs and the
                             offline configuration that scripts/start.sh uses (scripts/jupyter:
                             Lab settings overrides, Voila's offline template), user settings
                             that keep every cell in the DOM, a token, this interpreter as kernel
                             "python3" (kernels import workbench/widgets from this checkout);
                             stopped by PID. The same server serves Notebook 7 (``/notebooks/``)
                             and Voila (``/voila/render/``) when they are installed.
    playwright     session   the sync Playwright instance (for a browser launched with other flags:
                             ``launch_chromium(playwright, extra_args)``).
    chromium       session   playwright Browser (/usr/bin/chromium, offline-safe flags, and a fake microphone
                             that plays ``fake_microphone``'s WAV in a loop, permission granted).
    fake_microphone session  FakeMicrophone: the ``sentence`` espeak-ng said, its 16 kHz mono ``wav`` (what
                             getUserMedia hears in every page) and the clip's ``seconds``.
    net            function  NetLog: ``requests`` (every URL), ``offsite`` (blocked URLs),
                             ``page_errors`` (uncaught JS exceptions) of ``lab_page``.
    lab_page       function  Page in a fresh context; requests to hosts other than
                             127.0.0.1/localhost are aborted and listed in ``net.offsite``;
                             the test errors at teardown if any happened, or if the page had an
                             uncaught JavaScript error (``net.page_errors``).
    lab_notebook   function  ``make(cells, name=None) -> str``: writes a notebook into
                             ``lab.root`` and returns its name; its kernel is shut down
                             after the test.

Helpers
    write_notebook(path, cells, *, kernel_name="python3") -> Path
    open_notebook(page, lab, name, marker, *, workspace=None, run_all=True, timeout=90.0, ui="lab") -> float
    open_voila(page, lab, name, marker, *, timeout=120.0) -> float
    run_in_kernel(page, code, *, timeout=30.0) -> str
    wait_until(condition, *, timeout=30.0, what="") -> Any    (poll a Python-side condition)
    canvas_pixels(locator) -> dict
    canvas_color_pixels(locator, rgb, *, tol=30) -> int
    assert_no_widget_errors(page) -> None
    comm_frames(page) -> list[int]; settled_comm_frames(page, sent) -> int   (no-kernel-round-trip checks)
    axe_violations(page, selector, *, impacts=("critical",)) -> list[dict]   (axe-core, injected)
    guarded_context(browser, net, **context_options) -> BrowserContext      (offsite requests blocked)
    launch_chromium(playwright, extra_args=()) -> Browser
    write_fake_microphone(path, sentence) -> float                (the fake-capture WAV; returns seconds)
    write_python_kernelspec(kernels_dir, name="python3") -> Path

Only the standard library and pytest are imported at module level: a suite without
playwright still collects; the browser tests then fail (not skip) with the reason.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pytest

from tests.support import free_port

CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
JUPYTER_CONF = REPO_ROOT / "scripts" / "jupyter"  # the offline Jupyter configuration start.sh uses
AXE_JS = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
BROWSER_FIXTURES = {"lab", "chromium", "playwright", "lab_page", "lab_notebook", "fake_microphone"}
# What the fake microphone says (Whisper tiny.en transcribes espeak-ng's voice of it reliably).
FAKE_MIC_SENTENCE = "Please call Stella and ask her to bring these things with her from the store."


# ----------------------------------------------------------------------------- data types
@dataclass
class LabServer:
    """A running JupyterLab; ``root`` is its root dir, where tests drop notebooks."""

    base: str
    token: str
    root: Path
    pid: int
    log: Path

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """Call the server's REST API (``path`` like ``"api/sessions"``); returns parsed JSON or None."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}/{path.lstrip('/')}", data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def shutdown_sessions(self, path: str | None = None) -> None:
        """Shut down the kernel sessions of notebook ``path`` (all sessions when None)."""
        for s in self.api("api/sessions"):
            if path is None or s.get("path") == path:
                try:
                    self.api(f"api/sessions/{s['id']}", method="DELETE")
                except OSError:
                    pass

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError as e:
            return f"(no server log: {e})"


@dataclass
class FakeMicrophone:
    """What Chromium's fake capture device plays in a loop to every getUserMedia({audio: true})."""

    sentence: str
    wav: Path | None  # None: it could not be made (``problem`` says why); the device then plays a beep
    seconds: float = 0.0
    problem: str = ""

    def require(self) -> Path:
        if self.wav is None:
            pytest.fail(f"the fake microphone has no speech: {self.problem}", pytrace=False)
        return self.wav


@dataclass
class NetLog:
    """What ``lab_page`` asked the network for."""

    requests: list[str] = field(default_factory=list)
    offsite: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    # known errors of a host's own code (not ours), as (message, script URL substring): allowed, kept apart
    allowed_errors: list[tuple[str, str]] = field(default_factory=list)
    tolerated: list[str] = field(default_factory=list)

    def page_error(self, message: str) -> None:
        if any(text in message and where in message for text, where in self.allowed_errors):
            self.tolerated.append(message)
        else:
            self.page_errors.append(message)


# ----------------------------------------------------------------------------- helpers
def _is_local(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "chrome", "chrome-extension", "file"):  # file: on this machine
        return True
    return (parts.hostname or "") in LOCAL_HOSTS


def write_python_kernelspec(kernels_dir: Path, name: str = "python3") -> Path:
    """A kernelspec that runs ipykernel with *this* interpreter (the venv's), whatever else is installed."""
    d = Path(kernels_dir) / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "metadata": {"debugger": True},
    }))
    return d


def write_notebook(path: Path, cells: Iterable[Any], *, kernel_name: str = "python3") -> Path:
    """Write a notebook: each item is code (a str) or a ready nbformat cell (e.g. a markdown cell)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) if isinstance(c, str) else c for c in cells]
    nb.metadata["kernelspec"] = {"name": kernel_name, "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


_APP_READY = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && k.connectionStatus === 'connected';
}"""

# Truthy once a cell of the current notebook has an error output (read from the notebook
# model: Lab renders errors with the stderr mime type) or an output line equals the marker.
_MARKER_OR_ERROR = """(marker) => {
  const w = window.jupyterapp.shell.currentWidget;
  const cells = w && w.content && w.content.model && w.content.model.cells;
  if (!cells) return null;
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    for (let j = 0; j < c.outputs.length; j++) {
      const o = c.outputs.get(j).toJSON();
      if (o.output_type === 'error') {
        const tb = (o.traceback || []).join('\\n').replace(/\\x1b\\[[0-9;]*m/g, '');
        return {error: `cell ${i}: ${o.ename}: ${o.evalue}\\n${tb}`};
      }
    }
  }
  for (const o of w.node.querySelectorAll('.jp-OutputArea-output')) {
    if ((o.innerText || '').split('\\n').some(l => l.trim() === marker)) return {ok: true};
  }
  return null;
}"""

_RUN_IN_KERNEL = """async ([code, ms]) => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const fut = k.requestExecute({code, store_history: false});
  let out = '';
  fut.onIOPub = (msg) => {
    const t = msg.header.msg_type;
    if (t === 'stream') out += msg.content.text;
    else if (t === 'error') out += msg.content.traceback.join('\\n');
  };
  const late = new Promise((_, fail) => setTimeout(() => fail(new Error('no reply in ' + ms + ' ms')), ms));
  const reply = await Promise.race([fut.done, late]);
  return {status: reply.content.status, out};
}"""

_CANVAS_PIXELS = """(c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0, r = 0, g = 0, b = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 0 && !(d[i] > 250 && d[i + 1] > 250 && d[i + 2] > 250)) {
      painted++; r += d[i]; g += d[i + 1]; b += d[i + 2];
    }
  }
  const n = Math.max(painted, 1);
  return {width: c.width, height: c.height, total: d.length / 4, painted,
          mean_rgb: [r / n, g / n, b / n]};
}"""


def open_notebook(page, lab: LabServer, name: str, marker: str, *, workspace: str | None = None,
                  run_all: bool = True, timeout: float = 90.0, ui: str = "lab") -> float:
    """Open ``name`` (relative to ``lab.root``) in its own workspace (``ui="lab"``) or in Notebook 7
    (``ui="notebook"``), run all cells, and wait until an output line equals ``marker`` exactly.
    Fails fast on any error output. Returns the seconds it took."""
    t0 = time.monotonic()
    ms = timeout * 1000
    if ui == "notebook":
        url = lab.url(f"notebooks/{urllib.parse.quote(name)}")
    else:
        ws = workspace or f"{re.sub(r'[^A-Za-z0-9_-]', '-', Path(name).stem)[:40]}-{uuid.uuid4().hex[:8]}"
        # A fresh workspace per open: otherwise Lab restores earlier tests' tabs.
        url = lab.url(f"lab/workspaces/{ws}/tree/{urllib.parse.quote(name)}")
    page.goto(url, timeout=ms)
    page.wait_for_selector(".jp-NotebookPanel", timeout=ms)
    page.wait_for_function(_APP_READY, timeout=ms)
    if run_all:
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    left = max(1.0, timeout - (time.monotonic() - t0)) * 1000
    try:
        res = page.wait_for_function(_MARKER_OR_ERROR, arg=marker, timeout=left).json_value()
    except Exception as e:  # playwright TimeoutError: say what we waited for
        raise AssertionError(f"{name}: no output line equal to {marker!r} within {timeout:.0f} s "
                             f"({type(e).__name__})") from None
    if "error" in res:
        raise AssertionError(f"{name}: a cell raised:\n{res['error']}")
    return time.monotonic() - t0


_VOILA_DONE = """(marker) => {
  const cells = document.querySelector('#rendered_cells');
  if (!cells || getComputedStyle(cells).display === 'none') return null;  // still executing
  const text = cells.innerText || '';
  if (text.includes('There was an error when executing cell') || text.includes('Traceback'))
    return {error: text.slice(0, 3000)};
  return text.split('\\n').some(l => l.trim() === marker) ? {ok: true} : {error: 'no line equal to ' + marker};
}"""


def open_voila(page, lab: LabServer, name: str, marker: str, *, timeout: float = 120.0) -> float:
    """Render ``name`` with Voila (the server extension on ``lab``): the server runs every cell, the page
    shows the outputs with live widgets. Waits until the cells are shown and one output line equals
    ``marker``; fails on an error output. Returns the seconds it took."""
    t0 = time.monotonic()
    page.goto(lab.url(f"voila/render/{urllib.parse.quote(name)}"), timeout=timeout * 1000)
    left = max(1.0, timeout - (time.monotonic() - t0)) * 1000
    try:
        res = page.wait_for_function(_VOILA_DONE, arg=marker, timeout=left).json_value()
    except Exception as e:  # playwright TimeoutError
        raise AssertionError(f"voila {name}: not rendered within {timeout:.0f} s ({type(e).__name__})") from None
    if "error" in res:
        raise AssertionError(f"voila {name}: {res['error']}")
    return time.monotonic() - t0


def wait_until(condition, *, timeout: float = 30.0, interval: float = 0.1, what: str = "") -> Any:
    """Poll ``condition()`` until it returns something truthy (returned); AssertionError after ``timeout``.
    For conditions only Python can see (a kernel value, a file); in the page use Playwright's waits."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")
        time.sleep(interval)


def run_in_kernel(page, code: str, *, timeout: float = 30.0) -> str:
    """Execute ``code`` in the current notebook's kernel (not as a cell); return its stdout.
    Raises AssertionError with the traceback if it fails."""
    res = page.evaluate(_RUN_IN_KERNEL, [code, int(timeout * 1000)])
    if res["status"] != "ok":
        raise AssertionError(f"kernel code failed:\n{code}\n{res['out']}")
    return res["out"]


def canvas_pixels(locator) -> dict:
    """``width``, ``height``, ``total`` pixels, ``painted`` (opaque and not white) and their ``mean_rgb``."""
    return locator.evaluate(_CANVAS_PIXELS)


_COLOR_PIXELS = """([c, rgb, tol]) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4)
    if (d[i + 3] > 200 && Math.abs(d[i] - rgb[0]) <= tol && Math.abs(d[i + 1] - rgb[1]) <= tol
        && Math.abs(d[i + 2] - rgb[2]) <= tol) n++;
  return n;
}"""


def canvas_color_pixels(locator, rgb: tuple[int, int, int], *, tol: int = 30) -> int:
    """How many opaque pixels of the canvas are within ``tol`` of colour ``rgb`` on every channel."""
    return locator.evaluate(f"(c) => ({_COLOR_PIXELS})([c, {list(rgb)}, {int(tol)}])")


def axe_violations(page, selector: str, *, impacts: Iterable[str] = ("critical",)) -> list[dict]:
    """Run axe-core (npm ``axe-core``, installed under tests/browser/axe) on the elements matching
    ``selector``; return the violations of the given impacts as {id, impact, help, nodes: [html]}."""
    if not AXE_JS.exists():
        pytest.fail(f"the accessibility checks need axe-core at {AXE_JS}: "
                    f"npm ci --prefix {AXE_JS.parents[2]} (scripts/test.sh does it)", pytrace=False)
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(content=AXE_JS.read_text(encoding="utf-8"))
    found = page.evaluate("""async (sel) => {
      const nodes = [...document.querySelectorAll(sel)];
      if (!nodes.length) return null;
      const r = await window.axe.run({include: nodes}, {resultTypes: ['violations']});
      return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                     nodes: v.nodes.map(n => n.html.slice(0, 200))}));
    }""", selector)
    assert found is not None, f"axe: nothing matches {selector!r}"
    wanted = set(impacts)
    return [v for v in found if v["impact"] in wanted]


def comm_frames(page) -> list[int]:
    """A counter (``[n]``) of websocket frames the page sends that carry a comm message (widget state to the
    kernel). Read it through ``settled_comm_frames``."""
    sent = [0]

    def on_ws(ws):
        def frame(payload):
            data = payload if isinstance(payload, (bytes, bytearray)) else str(payload).encode()
            if b"comm_msg" in data:
                sent[0] += 1

        ws.on("framesent", frame)

    page.on("websocket", on_ws)
    return sent


def settled_comm_frames(page, sent: list[int]) -> int:
    """The ``comm_frames`` count once every frame the page has sent so far is counted: a kernel request
    sent now travels the same websocket after them, and Playwright reports frames in order, so when its
    reply is back the earlier frames are in the count (a condition, where a sleep only hoped)."""
    run_in_kernel(page, "pass")
    return sent[0]


def assert_no_widget_errors(page) -> None:
    text = page.evaluate("() => (window.jupyterapp ? window.jupyterapp.shell.currentWidget.node"
                         " : document.body).innerText")
    for bad in ("Error displaying widget", "Click to show javascript error", "Failed to load model class", "Loading widget...",
                "Traceback (most recent call last)"):
        assert bad not in text, f"{bad!r} shown in the notebook"


def write_fake_microphone(path: Path, sentence: str, *, rate: int = 16000) -> float:
    """espeak-ng saying ``sentence`` as 16-bit mono PCM at ``rate`` (Chromium's fake capture reads WAV),
    with 0.5 s of silence before and 1 s after, so a recording that starts anywhere in the loop and lasts
    one loop holds the whole sentence once. Returns the clip's length in seconds."""
    import wave

    import numpy as np
    from scipy.signal import resample_poly

    raw = Path(path).with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-w", str(raw), sentence], check=True, capture_output=True)
    with wave.open(str(raw), "rb") as w:
        src_rate, width = w.getframerate(), w.getsampwidth()
        assert w.getnchannels() == 1 and width == 2, "espeak-ng writes 16-bit mono"
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    g = np.gcd(rate, src_rate)
    x = resample_poly(x, rate // g, src_rate // g)
    x = np.concatenate([np.zeros(rate // 2), x, np.zeros(rate)])
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return len(pcm) / rate


# ----------------------------------------------------------------------------- server plumbing
def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited early (code {proc.returncode}):\n"
                               f"{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"jupyter lab did not answer {url} in {timeout} s")


def _stop_by_pid(proc: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM the server by PID (it shuts its kernels down), then SIGKILL any survivor by PID."""
    try:
        import psutil
    except ImportError:  # ipykernel depends on psutil, so this is a fallback only
        psutil = None
    kids = []
    if psutil is not None:
        try:
            kids = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if psutil is not None:
        _gone, alive = psutil.wait_procs(kids, timeout=5)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass


def _lab_env(tmp: Path) -> dict:
    cfg, data, runtime, share = tmp / "config", tmp / "data", tmp / "runtime", tmp / "share"
    for d in (cfg, data, runtime, share):
        d.mkdir(parents=True, exist_ok=True)
    (cfg / "jupyter_server_config.py").write_text(
        "c.LabApp.news_url = None\n"
        "c.LabApp.check_for_updates_class = 'jupyterlab.NeverCheckForUpdate'\n"
        "c.LabApp.extension_manager = 'readonly'\n"
        "c.JupyterNotebookApp.expose_app_in_browser = True\n"  # Notebook 7: window.jupyterapp, as in Lab
    )
    # JUPYTER_PATH comes first when kernelspecs are looked up: "python3" is this interpreter.
    write_python_kernelspec(share / "kernels")
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # kernels keep the inline backend
    # kernels import workbench/widgets from this checkout, like the tests do
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(JUPYTER_CONFIG_DIR=str(cfg), JUPYTER_DATA_DIR=str(data),
               JUPYTER_RUNTIME_DIR=str(runtime), JUPYTER_PATH=os.pathsep.join([str(share), str(JUPYTER_CONF)]),
               JUPYTER_CONFIG_PATH=str(JUPYTER_CONF),
               IPYTHONDIR=str(tmp / "ipython"), JUPYTER_PLATFORM_DIRS="1",
               PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    return env


def _lab_user_settings(settings: Path) -> None:
    def put(plugin: str, values: dict) -> None:
        pkg, name = plugin.split(":")
        f = settings / pkg / f"{name}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(values))

    # (No "get notified about Jupyter news?" toast: scripts/jupyter/lab/settings/overrides.json, as start.sh.)
    # Render every cell (no virtualisation), so off-screen outputs exist in the DOM.
    put("@jupyterlab/notebook-extension:tracker", {"windowingMode": "none"})


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> LabServer:
    tmp = tmp_path_factory.mktemp("lab")
    root, settings, workspaces = tmp / "root", tmp / "settings", tmp / "workspaces"
    for d in (root, settings, workspaces):
        d.mkdir()
    _lab_user_settings(settings)
    env = _lab_env(tmp)
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
           f"--LabApp.app_settings_dir={JUPYTER_CONF / 'lab' / 'settings'}",
           f"--LabApp.workspaces_dir={workspaces}", "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log_path = tmp / "server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/api/status?token={token}", proc, log_path)
        yield LabServer(base=base, token=token, root=root, pid=proc.pid, log=log_path)
    finally:
        _stop_by_pid(proc)
        log.close()


def launch_chromium(playwright, extra_args: Iterable[str] = ()):
    """Debian's Chromium, headless, with the offline-safe flags (plus ``extra_args``)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args])


@pytest.fixture(scope="session")
def playwright():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"browser tests need Chromium at {CHROMIUM} "
                    "(Debian: apt-get install chromium; .ci/run installs it)", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        pytest.fail(f"browser tests need the playwright package ({e}); "
                    "install the test extra: pip install -e '.[test]'", pytrace=False)
    pw = sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()


@pytest.fixture(scope="session")
def fake_microphone(tmp_path_factory) -> FakeMicrophone:
    path = tmp_path_factory.mktemp("microphone") / "fake-microphone.wav"
    try:
        seconds = write_fake_microphone(path, FAKE_MIC_SENTENCE)
    except (OSError, subprocess.CalledProcessError) as e:  # no espeak-ng: only the recording tests fail
        return FakeMicrophone(FAKE_MIC_SENTENCE, None, problem=f"espeak-ng failed ({e}); .ci/run installs it")
    return FakeMicrophone(FAKE_MIC_SENTENCE, path, seconds)


@pytest.fixture(scope="session")
def chromium(playwright, fake_microphone):
    # One browser for the session: the fake microphone is harmless to pages that never ask for it.
    fake = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    if fake_microphone.wav is not None:
        fake.append(f"--use-file-for-fake-audio-capture={fake_microphone.wav}")
    browser = launch_chromium(playwright, fake)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def net() -> NetLog:
    return NetLog()


def guarded_context(browser, net: NetLog, **options: Any):
    """A fresh browser context whose requests to hosts other than 127.0.0.1/localhost are aborted and
    listed in ``net.offsite`` (every URL in ``net.requests``); pages of it report uncaught JavaScript
    errors into ``net.page_errors`` (use ``guarded_page``)."""
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 1000}, "service_workers": "block",
                                     **options})

    def guard(route):
        url = route.request.url
        net.requests.append(url)
        if _is_local(url):
            route.continue_()
        else:
            net.offsite.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", guard)
    return context


def guarded_page(context, net: NetLog):
    page = context.new_page()
    page.on("pageerror", lambda exc: net.page_error(f"{exc}\n{getattr(exc, 'stack', '') or ''}"))
    page.on("websocket", lambda ws: None if _is_local(ws.url) else net.offsite.append(ws.url))
    return page


def check_page_teardown(page, net: NetLog, request, tmp_path: Path, lab: LabServer | None = None) -> None:
    """After a test: a failure screenshot (and the server log) in the report; then fail on any offsite
    request or uncaught JavaScript error, whatever the test asserted."""
    rep = getattr(request.node, "_wb_call_report", None)
    if rep is not None and rep.failed:
        shot = tmp_path / "failure.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            request.node.add_report_section("call", "browser", f"screenshot: {shot}")
        except Exception:
            pass
        if lab is not None:
            request.node.add_report_section("call", "jupyter server log (tail)", lab.log_tail())
    problems = []
    if net.offsite:
        problems.append("the page tried to reach hosts other than 127.0.0.1/localhost:\n  " + "\n  ".join(net.offsite))
    if net.page_errors:
        problems.append("uncaught JavaScript errors in the page:\n  " + "\n  ".join(net.page_errors))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def lab_page(chromium, lab, net, request, tmp_path):
    context = guarded_context(chromium, net)
    page = guarded_page(context, net)
    try:
        yield page
    finally:
        try:
            check_page_teardown(page, net, request, tmp_path, lab)
        finally:
            context.close()


@pytest.fixture
def lab_notebook(lab, request):
    """``make(cells, name=None) -> str``: write a notebook into ``lab.root``; returns its name."""
    made: list[str] = []
    stem = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[:60]

    def make(cells: Iterable[Any], name: str | None = None) -> str:
        name = name or f"{stem}-{len(made)}.ipynb"
        write_notebook(lab.root / name, cells)
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            lab.shutdown_sessions(name)
        except OSError:
            pass


# ----------------------------------------------------------------------------- hooks
def pytest_collection_modifyitems(config, items):
    for item in items:
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when == "call":
        item._wb_call_report = outcome.get_result()
