"""Segment on mask classifiers (tiny random Mask2Former and OneFormer, offline) in a real JupyterLab + Chromium: the
subtask menu offers panoptic, instance and semantic; choosing one reruns the model in the kernel and the browser
draws the new segments (for OneFormer with a new task token: its drawing changes)."""
from __future__ import annotations

import os

from tests.browser.harness import assert_no_widget_errors, canvas_pixels, open_notebook, run_in_kernel

CELL = '''\
from workbench import pipeline
from workbench.classroom import tiny_vision_model
from widgets import Segment
m2f_model, m2f_proc = tiny_vision_model("universal-segmentation")
u = Segment(model=pipeline("image-segmentation", model=m2f_model, processor=m2f_proc))
u.source.load_sample("coffee")
u'''
ONEFORMER = '''\
of_model, of_proc = tiny_vision_model("task-conditioned-segmentation")
o = Segment(model=pipeline("image-segmentation", model=of_model, processor=of_proc))
o.source.load_sample("coffee")
o'''
DONE = 'print("M2F-READY", u.error or "", o.error or "")'
SHOTS = os.environ.get("WB_SHOTS")  # a folder: the test also saves screenshots there (not in CI)


def test_subtask_menu_switches_mask2former_and_oneformer_segments(lab, lab_page, lab_notebook, net):
    from playwright.sync_api import expect

    page = lab_page
    open_notebook(page, lab, lab_notebook([CELL, ONEFORMER, DONE]), "M2F-READY", timeout=180)
    root = page.locator(".wb-segment").nth(0)
    expect(root).to_have_attribute("data-ready", "1", timeout=20_000)
    menu = page.locator("select.wb-segment-subtask").nth(0)
    assert menu.locator("option").all_inner_texts() == ["panoptic", "instance", "semantic"]
    expect(menu).to_have_value("panoptic")
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "mask2former-panoptic-light.png"), full_page=True)
    menu.select_option("instance")
    # the menu's change reaches the kernel before this cell (one websocket, in order) and reruns there
    want = run_in_kernel(page, 'print(u.view.meta.get("subtask"), len(u.segments_info))').split()
    assert want[0] == "instance" and int(want[1]) >= 3  # the tiny model's instances: several, overlapping
    expect(root).to_have_attribute("data-visible", want[1], timeout=20_000)
    expect(menu).to_have_value("instance")
    # OneFormer: the switch reruns the model with the "semantic" task token; the drawing changes
    one = page.locator(".wb-segment").nth(1)
    expect(one).to_have_attribute("data-ready", "1", timeout=20_000)
    one_menu = page.locator("select.wb-segment-subtask").nth(1)
    expect(one_menu).to_have_value("panoptic")
    one_canvas = one.locator("canvas.wb-segment-canvas")
    before = canvas_pixels(one_canvas)
    one_menu.select_option("semantic")
    want = run_in_kernel(page, 'print(o.view.meta.get("subtask"), len(o.segments_info))').split()
    assert want[0] == "semantic"
    expect(one).to_have_attribute("data-visible", want[1], timeout=20_000)
    page.wait_for_timeout(300)  # the next animation frame draws the new overlay
    after = canvas_pixels(one_canvas)
    assert after["mean_rgb"] != before["mean_rgb"], (before, after)
    assert_no_widget_errors(page)
    assert net.page_errors == [] and net.offsite == []
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "mask2former-instance-light.png"), full_page=True)
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_timeout(1500)
        page.screenshot(path=os.path.join(SHOTS, "mask2former-instance-dark.png"), full_page=True)
