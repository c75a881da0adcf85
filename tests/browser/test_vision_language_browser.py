"""Vision-language panels in a real JupyterLab + Chromium on tiny random models (offline): labels typed into
ZeroShotImageClassifier re-score the photo; a click on SegmentAnything's photo produces a mask (the prompt went to
the kernel, which answered on the cached embedding), a shift-click adds a background point, a drag adds a box, and
picking another candidate mask happens in the browser alone."""
from __future__ import annotations

import os

import pytest

from tests.browser.harness import (assert_no_widget_errors, canvas_pixels, comm_frames, open_notebook, run_in_kernel,
                                  settled_comm_frames, wait_until)

SETUP = '''\
from workbench import pipeline
from workbench.classroom import tiny_vision_model
from widgets import SegmentAnything, ZeroShotImageClassifier
zm, zp = tiny_vision_model("zero-shot-image-classification")
z = ZeroShotImageClassifier(model=pipeline("zero-shot-image-classification", model=zm, processor=zp), debounce_ms=0)
z.source.load_sample("chelsea")
z'''
SAM = '''\
sm, sp = tiny_vision_model("mask-generation")
s = SegmentAnything(model=pipeline("mask-generation", model=sm, processor=sp))
s.source.load_sample("chelsea")
s'''
DONE = 'print("VL-READY", z.error or "", s.error or "")'
SHOTS = os.environ.get("WB_SHOTS")  # a folder: the test also saves screenshots there (not in CI)


@pytest.mark.browser
def test_typed_labels_and_a_click_to_segment(lab, lab_page, lab_notebook, net):
    from playwright.sync_api import expect

    page = lab_page
    sent = comm_frames(page)
    nb = lab_notebook([SETUP, SAM, DONE])
    open_notebook(page, lab, nb, "VL-READY", timeout=150)

    # zero-shot: typed labels become bars
    box = page.locator(".wb-zsi-labels input")
    box.fill("a cat, a rocket launch")
    panel = page.locator(".wb-zsi-panel")
    expect(panel).to_contain_text("a rocket launch", timeout=20_000)
    expect(panel).to_contain_text("a cat")

    # SAM: a click -> three candidate masks drawn over the photo
    root = page.locator(".wb-sam")
    expect(root).to_have_attribute("data-ready", "1", timeout=20_000)
    canvas = page.locator("canvas.wb-sam-canvas")
    photo_only = canvas_pixels(canvas)
    canvas.scroll_into_view_if_needed()  # the mouse clicks in the viewport
    bb = canvas.bounding_box()
    page.mouse.click(bb["x"] + bb["width"] * 0.42, bb["y"] + bb["height"] * 0.45)
    expect(root).to_have_attribute("data-candidates", "3", timeout=20_000)
    assert int(root.get_attribute("data-mask-pixels")) > 0
    assert canvas_pixels(canvas) != photo_only
    assert run_in_kernel(page, "print(len(s.canvas.points), s.canvas.points[0][2], len(s.result['scores']))").split() == \
        ["1", "1", "3"]
    x, y = (float(v) for v in run_in_kernel(page, "print(*s.canvas.points[0][:2])").split())
    assert abs(x - 451 * 0.42) < 3 and abs(y - 300 * 0.45) < 3  # the photo's pixels, not the canvas's

    # shift-click: a background point; drag: a box; each answered by the kernel
    page.keyboard.down("Shift")
    page.mouse.click(bb["x"] + bb["width"] * 0.1, bb["y"] + bb["height"] * 0.1)
    page.keyboard.up("Shift")
    expect(page.locator(".wb-sam-panel")).to_contain_text("IoU")
    page.mouse.move(bb["x"] + bb["width"] * 0.2, bb["y"] + bb["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(bb["x"] + bb["width"] * 0.5, bb["y"] + bb["height"] * 0.5, steps=5)
    page.mouse.move(bb["x"] + bb["width"] * 0.8, bb["y"] + bb["height"] * 0.9, steps=5)
    page.mouse.up()
    wait_until(lambda: run_in_kernel(page, "print([p[2] for p in s.canvas.points], len(s.canvas.box), s.result is not None)"
                                     ).strip() == "[1, 0] 4 True", interval=0.3, what="the kernel's points, box and mask")
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "sam-light.png"), full_page=True)

    # another candidate: drawn in the browser alone
    before, drawn = settled_comm_frames(page, sent), canvas_pixels(canvas)
    selected = int(run_in_kernel(page, "print(s.canvas.selected)"))
    page.locator("button.wb-sam-cand").nth((selected + 1) % 3).click()
    expect(page.locator("button.wb-sam-cand").nth((selected + 1) % 3)).to_have_class("wb-sam-cand wb-active")
    assert canvas_pixels(canvas) != drawn
    assert settled_comm_frames(page, sent) == before, f"{sent[0] - before} comm messages went to the kernel"

    # a bad prompt set from code shows inside the panel
    run_in_kernel(page, "s.canvas.points = [[9999, 1, 1]]")
    expect(page.locator(".wb-sam-panel")).to_contain_text("inside the 451 x 300 photo")
    assert_no_widget_errors(page)
    assert net.page_errors == [] and net.offsite == []
    if SHOTS:
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_timeout(1500)
        page.screenshot(path=os.path.join(SHOTS, "sam-dark.png"), full_page=True)
