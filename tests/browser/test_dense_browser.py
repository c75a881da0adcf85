"""Segment (and Depth) in a real JupyterLab + Chromium, on tiny random models (offline): the legend hides a class,
the opacity slider and hover work with no message to the kernel (websocket frames counted), a click isolates a
segment; the static picture follows values set from code."""
from __future__ import annotations

import os
import re

from tests.browser.harness import (assert_no_widget_errors, canvas_pixels, comm_frames, open_notebook, run_in_kernel,
                                  settled_comm_frames)

SEGMENT = '''\
from workbench import pipeline
from workbench.classroom import tiny_vision_model
from widgets import Segment
seg_model, seg_proc = tiny_vision_model("image-segmentation")
s = Segment(model=pipeline("image-segmentation", model=seg_model, processor=seg_proc))
s.source.load_sample("astronaut")
s'''
DEPTH = '''\
import skimage.data
from widgets import Depth
depth_model, depth_proc = tiny_vision_model("depth-estimation")
d = Depth(model=pipeline("depth-estimation", model=depth_model, processor=depth_proc))
left, _, disparity = skimage.data.stereo_motorcycle()
d.estimate(left, name="motorcycle")
d.compare(disparity, name="measured disparity")
d'''
DONE = 'print("DENSE-READY", s.error or "", d.error or "")'
SHOTS = os.environ.get("WB_SHOTS")  # a folder: the test also saves screenshots there (not in CI)


def test_segment_and_depth_work_in_the_browser_without_kernel_round_trips(lab, lab_page, lab_notebook, net):
    from playwright.sync_api import expect

    page = lab_page
    if os.environ.get("WB_DEBUG"):
        page.on("pageerror", lambda exc: print("PAGEERROR", exc.stack))
    sent = comm_frames(page)
    nb = lab_notebook([SEGMENT, DEPTH, DONE])
    open_notebook(page, lab, nb, "DENSE-READY", timeout=150)
    root = page.locator(".wb-segment")
    expect(root).to_have_attribute("data-ready", "1", timeout=20_000)
    n = int(run_in_kernel(page, "print(len(s.segments_info))").strip())
    assert n >= 3
    expect(root).to_have_attribute("data-visible", str(n))
    canvas = page.locator("canvas.wb-segment-canvas")
    full = canvas_pixels(canvas)
    before = settled_comm_frames(page, sent)

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
    tip = page.locator(".wb-segment .wb-vis-tip")
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
    assert settled_comm_frames(page, sent) == before, f"{sent[0] - before} comm messages went to the kernel"

    # values set from code move the browser and the saved picture; a bad one shows in the panel
    old = run_in_kernel(page, "print(len(s.static_html))").strip()
    run_in_kernel(page, "s.hidden = [s.segments_info[0]['label']]")
    expect(root).to_have_attribute("data-visible", run_in_kernel(page, "print(len(s.segments()))").strip())
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "segment-hidden-light.png"), full_page=True)
    assert run_in_kernel(page, "print(len(s.static_html))").strip() != old
    run_in_kernel(page, "s.opacity = 3")
    expect(page.locator(".wb-segment-panel")).to_contain_text("opacity must be from 0 to 1")
    check_depth(page, sent)
    assert_no_widget_errors(page)
    assert net.page_errors == [] and net.offsite == []
    if SHOTS:
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_timeout(1500)
        for panel, shot in ((".wb-segment", "segment-dark.png"), (".wb-depth", "depth-dark.png")):
            page.locator(panel).scroll_into_view_if_needed()
            page.screenshot(path=os.path.join(SHOTS, shot), full_page=True)


def check_depth(page, sent) -> None:
    """Depth: hover reads the value the kernel sent, the blend and the 3-D view work in the browser alone."""
    from playwright.sync_api import expect

    root = page.locator(".wb-depth")
    root.scroll_into_view_if_needed()
    expect(root).to_have_attribute("data-ready", "1", timeout=20_000)
    expect(page.locator(".wb-depth .wb-vis-info")).to_contain_text("rank correlation")
    before = settled_comm_frames(page, sent)
    canvas = page.locator("canvas.wb-depth-depth")
    bb = canvas.bounding_box()
    page.mouse.move(bb["x"] + bb["width"] * 0.3, bb["y"] + bb["height"] * 0.6)
    tip = page.locator(".wb-depth .wb-vis-tip")
    expect(tip).to_contain_text("relative depth")
    expect(root).to_have_attribute("data-hover-cell", re.compile(r"\d+,\d+"))
    x, y = (int(v) for v in root.get_attribute("data-hover-cell").split(","))
    h, w, want = run_in_kernel(page, f"m = d.view.depth; print(*m.shape, f'{{float(m[{y}, {x}]):.3f}}')").split()
    assert abs(x - 0.3 * int(w)) <= 2 and abs(y - 0.6 * int(h)) <= 2  # the cell under the pointer
    assert root.get_attribute("data-hover") == want  # the value the kernel sent for that cell
    page.locator(".wb-depth-layout").click()
    expect(root).to_have_attribute("data-arrangement", "overlay")
    page.locator("input.wb-depth-blend").evaluate("(e) => { e.value = '0.25'; e.dispatchEvent(new Event('input')); }")
    expect(root).to_have_attribute("data-blend", "0.25")
    page.locator(".wb-depth-view").click()
    expect(root).to_have_attribute("data-view", "3d")
    cloud = page.locator("canvas.wb-depth-cloud")
    expect(root).not_to_have_attribute("data-points", "0")
    first = canvas_pixels(cloud)
    assert first["painted"] > 1000
    cb = cloud.bounding_box()
    page.mouse.move(cb["x"] + 200, cb["y"] + 200)
    page.mouse.down()
    page.mouse.move(cb["x"] + 320, cb["y"] + 230, steps=5)
    page.mouse.up()
    expect(root).not_to_have_attribute("data-yaw", "0.500")
    assert canvas_pixels(cloud) != first
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "depth-cloud-light.png"), full_page=True)
    page.locator(".wb-depth-view").click()
    page.locator(".wb-depth-layout").click()
    expect(root).to_have_attribute("data-arrangement", "side")
    assert settled_comm_frames(page, sent) == before, f"{sent[0] - before} comm messages went to the kernel"
    assert run_in_kernel(page, "print(d.view.view, d.view.blend)").strip() == "2d 0.6"  # the kernel never heard of it
    if SHOTS:
        root.scroll_into_view_if_needed()
        page.screenshot(path=os.path.join(SHOTS, "depth-side-light.png"), full_page=True)
