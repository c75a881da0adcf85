"""Segment (and Depth) in a real JupyterLab + Chromium, on tiny random models (offline): the legend hides a class,
the opacity slider and hover work with no message to the kernel (websocket frames counted), a click isolates a
segment; the static picture follows values set from code."""
from __future__ import annotations

import os
import time

from tests.browser.harness import assert_no_widget_errors, canvas_pixels, open_notebook, run_in_kernel
from tests.browser.test_vision_browser import _comm_frames

SEGMENT = '''\
from workbench import pipeline
from workbench.classroom import tiny_vision_model
from widgets import Segment
seg_model, seg_proc = tiny_vision_model("image-segmentation")
s = Segment(model=pipeline("image-segmentation", model=seg_model, processor=seg_proc))
s.source.load_sample("astronaut")
s'''
DONE = 'print("DENSE-READY", s.error or "")'
SHOTS = os.environ.get("WB_SHOTS")  # a folder: the test also saves screenshots there (not in CI)


def test_segment_legend_opacity_hover_and_isolation_in_the_browser(lab, lab_page, lab_notebook, net):
    from playwright.sync_api import expect

    page = lab_page
    if os.environ.get("WB_DEBUG"):
        page.on("pageerror", lambda exc: print("PAGEERROR", exc.stack))
    sent = _comm_frames(page)
    nb = lab_notebook([SEGMENT, DONE])
    open_notebook(page, lab, nb, "DENSE-READY", timeout=150)
    root = page.locator(".wb-segment")
    expect(root).to_have_attribute("data-ready", "1", timeout=20_000)
    n = int(run_in_kernel(page, "print(len(s.segments_info))").strip())
    assert n >= 3
    expect(root).to_have_attribute("data-visible", str(n))
    canvas = page.locator("canvas.wb-segment-canvas")
    full = canvas_pixels(canvas)
    time.sleep(0.5)
    before = sent[0]

    # the legend: hide the largest class, then show it again
    first = page.locator(".wb-segment-class").first
    first.click()
    expect(root).not_to_have_attribute("data-visible", str(n))
    expect(root).to_have_attribute("data-hidden", first.get_attribute("data-key"))
    assert canvas_pixels(canvas)["mean_rgb"] != full["mean_rgb"]
    first.click()
    expect(root).to_have_attribute("data-visible", str(n))

    # opacity: redrawn, not rebuilt
    page.locator("input.wb-segment-opacity").evaluate("(e) => { e.value = '0'; e.dispatchEvent(new Event('input')); }")
    expect(root).to_have_attribute("data-opacity", "0.00")
    bare = canvas_pixels(canvas)
    assert bare["mean_rgb"] != full["mean_rgb"]
    page.locator("input.wb-segment-opacity").evaluate("(e) => { e.value = '0.8'; e.dispatchEvent(new Event('input')); }")
    expect(root).to_have_attribute("data-opacity", "0.80")

    # hover: the segment under the pointer (looked up in the kernel's own map) with its label and area
    x, y, w, label = run_in_kernel(page, '''\
import numpy as np
m = s.index_map; i = int(np.bincount(m[m >= 0].ravel()).argmax())
ys, xs = np.nonzero(m == i); k = len(ys) // 2
print(xs[k], ys[k], m.shape[1], s.segments_info[i]["label"])''').split()
    bb = canvas.bounding_box()
    scale = bb["width"] / float(w)
    page.mouse.move(bb["x"] + (float(x) + 0.5) * scale, bb["y"] + (float(y) + 0.5) * scale)
    tip = page.locator(".wb-vis-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text(label)
    expect(tip).to_contain_text("% of the image")
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "segment-hover-light.png"), full_page=True)
    hovered = root.get_attribute("data-hover")
    page.mouse.click(bb["x"] + (float(x) + 0.5) * scale, bb["y"] + (float(y) + 0.5) * scale)
    expect(root).to_have_attribute("data-isolated", hovered)
    expect(root).to_have_attribute("data-visible", "1")
    page.locator(".wb-segment-all").click()
    expect(root).to_have_attribute("data-visible", str(n))
    time.sleep(0.5)
    assert sent[0] == before, f"{sent[0] - before} comm messages went to the kernel"

    # values set from code move the browser and the saved picture; a bad one shows in the panel
    old = run_in_kernel(page, "print(len(s.static_html))").strip()
    run_in_kernel(page, "s.hidden = [s.segments_info[0]['label']]")
    expect(root).to_have_attribute("data-visible", run_in_kernel(page, "print(len(s.segments()))").strip())
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "segment-hidden-light.png"), full_page=True)
    assert run_in_kernel(page, "print(len(s.static_html))").strip() != old
    run_in_kernel(page, "s.opacity = 3")
    expect(page.locator(".wb-segment-panel")).to_contain_text("opacity must be from 0 to 1")
    assert_no_widget_errors(page)
    assert net.page_errors == [] and net.offsite == []
    if SHOTS:
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_timeout(1500)
        page.screenshot(path=os.path.join(SHOTS, "segment-dark.png"), full_page=True)
