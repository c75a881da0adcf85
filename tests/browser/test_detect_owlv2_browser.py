"""Detect with an open-vocabulary detector (a tiny random OWLv2, offline) in a real JupyterLab + Chromium: queries typed
in the panel's box give boxes tagged with those queries; "find similar" then a drag on the photo runs image-guided
detection in the kernel and draws the example box."""
from __future__ import annotations

import os

import pytest

from tests.browser.harness import assert_no_widget_errors, open_notebook, run_in_kernel

SETUP = '''\
from workbench import pipeline
from workbench.classroom import tiny_vision_model
from widgets import Detect
owl_model, owl_proc = tiny_vision_model("zero-shot-object-detection")
d = Detect(model=pipeline("zero-shot-object-detection", model=owl_model, processor=owl_proc))
d.source.load_sample("chelsea")
d'''
DONE = 'print("OWL-READY", d.error or "")'
SHOTS = os.environ.get("WB_SHOTS")  # a folder: the test also saves screenshots there (not in CI)


@pytest.mark.browser
def test_typed_queries_and_a_dragged_example_give_boxes(lab, lab_page, lab_notebook, net):
    from playwright.sync_api import expect

    page = lab_page
    nb = lab_notebook([SETUP, DONE])
    open_notebook(page, lab, nb, "OWL-READY", timeout=150)
    root = page.locator(".wb-detect")
    expect(root).to_have_attribute("data-ready", "1", timeout=20_000)
    expect(root).to_have_attribute("data-drawn", "0")  # no queries yet: the photo alone
    box = page.locator(".wb-detect-queries input")
    box.fill("a cat, a remote control")
    box.press("Enter")
    expect(root).not_to_have_attribute("data-drawn", "0", timeout=20_000)
    labels = run_in_kernel(page, "print(sorted({x['label'] for x in d.detections()}))").strip()
    assert labels in ("['a cat', 'a remote control']", "['a cat']", "['a remote control']"), labels
    chips = page.locator(".wb-vis-chip")
    expect(chips.first).to_contain_text("a ")  # every chip is one of the typed queries
    for text in chips.all_text_contents():
        assert text.startswith(("a cat (", "a remote control (")), text
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "owlv2-queries-light.png"), full_page=True)

    # find similar: drag a box around an example; the kernel runs image-guided detection
    page.locator("button.wb-detect-similar").click()
    expect(root).to_have_attribute("data-draw-mode", "1")
    canvas = page.locator("canvas.wb-detect-canvas")
    bb = canvas.bounding_box()
    page.mouse.move(bb["x"] + bb["width"] * 0.2, bb["y"] + bb["height"] * 0.15)
    page.mouse.down()
    page.mouse.move(bb["x"] + bb["width"] * 0.45, bb["y"] + bb["height"] * 0.5, steps=5)
    page.mouse.up()
    expect(root).to_have_attribute("data-draw-mode", "0")
    expect(page.locator(".wb-vis-chip").first).to_contain_text("example", timeout=20_000)
    example = run_in_kernel(page, "print(d.view.meta['example'], d.view.meta['labels'])").strip()
    assert example.endswith("['example']") and example != "[] ['example']", example
    assert_no_widget_errors(page)
    assert net.page_errors == [] and net.offsite == []
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "owlv2-similar-light.png"), full_page=True)
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_timeout(1500)
        page.screenshot(path=os.path.join(SHOTS, "owlv2-similar-dark.png"), full_page=True)
