"""Small shared helpers for benchmark scripts: timing and the embedded MiniLM folder."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Callable


def best_of(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median seconds per call after warm-up (the median resists a noisy neighbour on 2 cores)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def subprocess_seconds(code: str, repeats: int = 7) -> float:
    """Median wall time of a fresh interpreter running `code` (cold imports, warm disk cache)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def panel_page_result(module: str, css: list[str], page_script: str) -> dict:
    """Runs a panel's ES module (static/<module>, siblings inlined) in headless Chromium under `page_script`
    (a module script that finds the panel's `render` as `mod` and sets `window.__result`); returns that result."""
    from playwright.sync_api import sync_playwright

    from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS
    from widgets._base import STATIC, es_module

    js = es_module(module).replace("export default { render };", "const mod = { render };")
    style = "".join((STATIC / name).read_text() for name in css)
    html = (f"<!doctype html><html><head><style>{style}</style></head><body><div id=\"host\"></div>\n"
            f"<script type=\"module\">\n{js}\n{page_script}\n</script></body></html>")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_content(html)
        page.wait_for_timeout(200)
        if errors:
            raise RuntimeError(f"the {module} page failed: {errors}")
        res = page.wait_for_function("() => window.__result", timeout=60_000).json_value()
        browser.close()
    return res
