"""Detect and ImageClassifier in a real JupyterLab + Chromium, on tiny random models (offline): the threshold
slider and the class chips change the drawn boxes with no message to the kernel (websocket frames counted),
hover shows the tooltip and the query's cross-attention heat map, and the ViT overlay switches layers in the
browser alone."""
from __future__ import annotations

import os
import re

import pytest

from tests.browser.harness import (assert_no_widget_errors, canvas_pixels, comm_frames, open_notebook, run_in_kernel,
                                  settled_comm_frames)

SETUP = '''\
from workbench import pipeline
from workbench.classroom import tiny_vision_model
from widgets import Detect, ImageClassifier
det_model, det_proc = tiny_vision_model("object-detection")
d = Detect(model=pipeline("object-detection", model=det_model, processor=det_proc), threshold=0.0)
d.source.load_sample("astronaut")
d'''
CLASSIFY = '''\
cls_model, cls_proc = tiny_vision_model("image-classification")
c = ImageClassifier(model=pipeline("image-classification", model=cls_model, processor=cls_proc))
c.source.load_sample("chelsea")
c'''
DONE = 'print("VISION-READY", d.error or "", c.error or "")'
SHOTS = os.environ.get("WB_SHOTS")  # a folder: the test also saves screenshots there (not in CI)


@pytest.mark.browser
def test_detect_and_classifier_work_in_the_browser_without_kernel_round_trips(lab, lab_page, lab_notebook, net):
    from playwright.sync_api import expect

    page = lab_page
    if os.environ.get("WB_DEBUG"):
        page.on("pageerror", lambda exc: print("PAGEERROR", exc.stack))
    sent = comm_frames(page)
    nb = lab_notebook([SETUP, CLASSIFY, DONE])
    open_notebook(page, lab, nb, "VISION-READY", timeout=150)
    root = page.locator(".wb-detect")
    expect(root).to_have_attribute("data-ready", "1", timeout=20_000)
    expect(root).to_have_attribute("data-drawn", "30")  # threshold 0: every query's box
    canvas = page.locator("canvas.wb-detect-canvas")
    with_boxes = canvas_pixels(canvas)
    overlay = page.locator(".wb-imgattn")
    expect(overlay).to_have_attribute("data-ready", "1", timeout=20_000)  # both panels drawn: no more render traffic

    # the threshold slider: fewer boxes drawn, and not one message to the kernel
    before = settled_comm_frames(page, sent)
    cut = run_in_kernel(page, """\
import numpy as np
s = d.view.scores
print(next(f"{t:.3f}" for t in np.round(np.sort(s)[::-1], 3) if 0 < (s >= t).sum() < len(s)))""").strip()
    slider = page.locator("input.wb-detect-threshold")
    slider.evaluate("(e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }", cut)
    expect(root).to_have_attribute("data-threshold", cut)
    drawn = int(root.get_attribute("data-drawn"))
    assert 1 <= drawn < 30, drawn
    assert canvas_pixels(canvas) != with_boxes
    slider.evaluate("(e) => { e.value = '0'; e.dispatchEvent(new Event('input')); }")
    expect(root).to_have_attribute("data-drawn", "30")
    chip = page.locator(".wb-vis-chip").first
    chip.click()  # hide the commonest class
    expect(root).not_to_have_attribute("data-drawn", "30")
    chip.click()
    expect(root).to_have_attribute("data-drawn", "30")
    assert settled_comm_frames(page, sent) == before, f"{sent[0] - before} comm messages went to the kernel"
    assert run_in_kernel(page, "print(d.view.threshold)").strip() == "0.0"  # the kernel never heard of it

    # hover the smallest box: tooltip with label and score, and its query's heat map over the photo
    box = [float(v) for v in run_in_kernel(page, '''\
import numpy as np
b = d.view.boxes; a = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
i = int(np.argmin(np.where(a > 0, a, np.inf))); print(*b[i], d.view.meta["width"], i)''').split()]
    x0, y0, x1, y1, width, row = box
    bb = canvas.bounding_box()
    scale = bb["width"] / width
    page.mouse.move(bb["x"] + (x0 + x1) / 2 * scale, bb["y"] + (y0 + y1) / 2 * scale)
    tip = page.locator(".wb-vis-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("query")
    expect(root).to_have_attribute("data-hover", str(int(row)))
    expect(root).to_have_attribute("data-heat", "1")
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "detect-hover-light.png"), full_page=True)
    page.mouse.move(bb["x"] - 50, bb["y"] - 50)
    expect(root).to_have_attribute("data-heat", "0")
    assert settled_comm_frames(page, sent) == before

    # ImageClassifier: bars, the overlay painted, layers switched in the browser alone
    expect(page.locator(".wb-cls-bars")).to_be_visible()
    ocanvas = page.locator("canvas.wb-imgattn-canvas")
    first = canvas_pixels(ocanvas)
    page.locator("select.wb-imgattn-layer").select_option("0")
    page.locator("select.wb-imgattn-view").select_option("head 2")
    expect(overlay).to_have_attribute("data-shown", "head 2 \u00b7 layer 0")
    assert canvas_pixels(ocanvas) != first
    assert settled_comm_frames(page, sent) == before

    # a bad value set from code shows inside the panel
    run_in_kernel(page, "d.threshold = 7")
    expect(page.locator(".wb-detect-panel")).to_contain_text("the score threshold must be from 0 to 1")
    # the frame counter is not blind: a click on a kernel-side button is one comm message, counted once settled
    before = settled_comm_frames(page, sent)
    page.locator(".wb-image-classifier-panel button", has_text=re.compile(r"^\s*Load\s*$")).click()
    assert settled_comm_frames(page, sent) == before + 1
    expect(page.locator(".wb-image-classifier-panel")).to_contain_text("type a file path")  # the kernel heard it
    assert_no_widget_errors(page)
    assert net.page_errors == [] and net.offsite == []
    if SHOTS:  # the same panels in the dark theme (for people, not asserted)
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_timeout(1500)
        page.screenshot(path=os.path.join(SHOTS, "panels-dark.png"), full_page=True)
