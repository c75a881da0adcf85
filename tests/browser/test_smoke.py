"""Smoke test of the real-browser harness: stock ipywidgets and an anywidget canvas render in
JupyterLab, state syncs both ways, and nothing leaves the machine."""
from __future__ import annotations

import pytest

from tests.browser.harness import (
    assert_no_widget_errors,
    canvas_pixels,
    open_notebook,
    run_in_kernel,
)

SLIDER = """\
import ipywidgets as W
slider = W.IntSlider(value=7, min=0, max=10, description="smoke")
slider.add_class("wb-smoke-slider")
slider"""

CANVAS = '''\
import anywidget
import traitlets

class Block(anywidget.AnyWidget):
    _esm = """
    function render({ model, el }) {
      const c = document.createElement("canvas");
      c.className = "wb-smoke-canvas";
      c.width = 64; c.height = 32;
      el.appendChild(c);
      const draw = () => {
        const ctx = c.getContext("2d");
        ctx.clearRect(0, 0, c.width, c.height);
        ctx.fillStyle = model.get("color");
        ctx.fillRect(8, 8, 48, 16);
        c.dataset.color = model.get("color");
      };
      model.on("change:color", draw);
      draw();
    }
    export default { render };
    """
    color = traitlets.Unicode("rgb(200, 30, 60)").tag(sync=True)

block = Block()
block'''

DONE = 'print("SMOKE-OK")'


@pytest.mark.browser
def test_widgets_render_offline(lab, lab_page, lab_notebook, net):
    from playwright.sync_api import expect

    page = lab_page
    nb = lab_notebook([SLIDER, CANVAS, DONE])
    took = open_notebook(page, lab, nb, "SMOKE-OK")

    # ipywidgets: the slider is drawn with its value ...
    slider = page.locator(".wb-smoke-slider")
    expect(slider).to_be_visible()
    expect(slider.locator(".widget-readout")).to_have_text("7")
    # ... and a key press in the browser reaches the kernel.
    slider.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    expect(slider.locator(".widget-readout")).to_have_text("8")
    assert run_in_kernel(page, "print(slider.value)").strip() == "8"

    # anywidget: the ES module painted the canvas (48x16 opaque pixels of the trait's colour).
    canvas = page.locator("canvas.wb-smoke-canvas")
    expect(canvas).to_be_visible()
    px = canvas_pixels(canvas)
    assert (px["width"], px["height"]) == (64, 32)
    assert px["painted"] == 48 * 16, px
    assert px["mean_rgb"] == pytest.approx([200, 30, 60], abs=2), px
    # kernel -> browser: a trait change repaints.
    run_in_kernel(page, 'block.color = "rgb(20, 200, 60)"')
    expect(canvas).to_have_attribute("data-color", "rgb(20, 200, 60)")
    assert canvas_pixels(canvas)["mean_rgb"] == pytest.approx([20, 200, 60], abs=2)

    assert_no_widget_errors(page)
    assert net.page_errors == []
    assert net.offsite == [], net.offsite
    assert any("/api/kernels" in u for u in net.requests)  # the log really records traffic
    print(f"\n[browser smoke] open + run all: {took:.1f} s")
