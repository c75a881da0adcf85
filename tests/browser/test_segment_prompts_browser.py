"""Segment with CLIPSeg (tiny, random, offline) in a real JupyterLab + Chromium: prompts typed in the box become one
heat map each; the threshold slider, the legend (hide a prompt) and hover (each prompt's probability under the
pointer, the value the kernel sent) work with no message to the kernel."""
from __future__ import annotations

import os
import re

from tests.browser.harness import (assert_no_widget_errors, canvas_pixels, comm_frames, open_notebook, run_in_kernel,
                                  settled_comm_frames)

SETUP = '''\
from workbench import pipeline
from workbench.classroom import tiny_vision_model
from widgets import Segment
cm, cp = tiny_vision_model("zero-shot-image-segmentation")
s = Segment(model=pipeline("image-segmentation", model=cm, processor=cp))
s.source.load_sample("chelsea")
s'''
DONE = 'print("PROMPTS-READY", s.error or "")'
SHOTS = os.environ.get("WB_SHOTS")  # a folder: the test also saves screenshots there (not in CI)


def test_typed_prompts_become_heat_maps(lab, lab_page, lab_notebook, net):
    from playwright.sync_api import expect

    page = lab_page
    sent = comm_frames(page)
    open_notebook(page, lab, lab_notebook([SETUP, DONE]), "PROMPTS-READY", timeout=150)
    root = page.locator(".wb-segment")
    box = page.locator(".wb-segment-prompts input")
    box.fill("a cat, a remote control")
    box.press("Enter")
    expect(root).to_have_attribute("data-ready", "1", timeout=20_000)
    expect(root).to_have_attribute("data-visible", "2")
    expect(page.locator(".wb-segment-class")).to_have_count(2)
    expect(page.locator(".wb-segment-legend")).to_contain_text("a remote control")
    canvas = page.locator("canvas.wb-segment-canvas")
    drawn = canvas_pixels(canvas)
    before = settled_comm_frames(page, sent)

    # the threshold slider: drawn again in the browser, each prompt's share above it counted there
    assert root.get_attribute("data-areas") == "1.0000,1.0000"
    slider = page.locator("input.wb-segment-threshold")
    slider.evaluate("(e) => { e.value = '0.5'; e.dispatchEvent(new Event('input')); }")
    expect(root).to_have_attribute("data-threshold", "0.50")
    areas = [float(a) for a in root.get_attribute("data-areas").split(",")]
    want = [float(a) for a in run_in_kernel(page, "print(*[f'{(m >= 127.5).mean():.4f}' for m in s.view.soft])").split()]
    assert areas == want and any(0 < a < 1 for a in areas)
    assert canvas_pixels(canvas) != drawn

    # hover: every prompt's probability under the pointer, as the kernel sent it
    canvas.scroll_into_view_if_needed()
    bb = canvas.bounding_box()
    page.mouse.move(bb["x"] + bb["width"] * 0.5, bb["y"] + bb["height"] * 0.5)
    tip = page.locator(".wb-segment .wb-vis-tip")
    expect(tip).to_contain_text("a cat")
    shown = dict((name.strip(), float(v)) for name, v in re.findall(r"([a-z ]+) (\d\.\d\d)", tip.text_content()))
    near = run_in_kernel(page, '''\
h, w = s.view.soft.shape[1:]; y, x = h // 2, w // 2
print(*[f"{v / 255:.2f}" for v in s.view.soft[0, y - 1:y + 2, x - 1:x + 2].ravel()])''').split()
    assert f"{shown['a cat']:.2f}" in near
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "segment-prompts-light.png"), full_page=True)

    # the legend hides a prompt
    page.locator(".wb-segment-class").nth(1).click()
    expect(root).to_have_attribute("data-visible", "1")
    assert settled_comm_frames(page, sent) == before, f"{sent[0] - before} comm messages went to the kernel"
    assert run_in_kernel(page, "print(s.view.threshold, s.view.hidden)").strip() == "0.0 []"  # the kernel never heard
    assert_no_widget_errors(page)
    assert net.page_errors == [] and net.offsite == []
    if SHOTS:
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_timeout(1500)
        root.scroll_into_view_if_needed()
        page.screenshot(path=os.path.join(SHOTS, "segment-prompts-dark.png"), full_page=True)
