"""AttentionView in a real JupyterLab + Chromium: drawn on canvas, interactive, offline, and
still responsive at 512 tokens x 6 layers x 12 heads (all-MiniLM-L6-v2, the embedded copy)."""
from __future__ import annotations

import os
import time

import pytest

from tests.browser.harness import (assert_no_widget_errors, canvas_pixels, guarded_context, guarded_page, open_notebook,
                                   run_in_kernel, wait_until)

SENTENCE = ("The quick brown fox jumped over the lazy dog while the children watched from the window, "
            "laughing because the dog did not even wake up when the fox landed beside it.")
SHOW = '''\
from widgets import AttentionView
v = AttentionView(model="sentence-transformers/all-MiniLM-L6-v2", text={text!r})
v'''
DONE = 'print("ATTN-READY", v.error or "")'
SHOTS = os.environ.get("WB_SHOTS", "")  # a folder: keep screenshots of the model view (light and dark)


def _signature(canvas) -> tuple:
    px = canvas_pixels(canvas)
    return px["painted"], tuple(round(c, 1) for c in px["mean_rgb"]), px["height"]


@pytest.mark.browser
def test_attention_view_draws_hovers_switches_offline(chromium, lab, lab_page, lab_notebook, net, tmp_path):
    from playwright.sync_api import expect

    page = lab_page
    nb = lab_notebook([SHOW.format(text=SENTENCE), DONE])
    open_notebook(page, lab, nb, "ATTN-READY")
    n_tokens = int(run_in_kernel(page, "print(len(v.record.query_tokens))"))
    assert 35 <= n_tokens <= 45, n_tokens

    root = page.locator(".wb-attn")
    canvas = page.locator("canvas.wb-attn-main")
    expect(canvas).to_be_visible()
    expect(root).to_have_attribute("data-view", "head")
    px = canvas_pixels(canvas)
    assert px["painted"] > 2000, px  # lines and labels
    base = _signature(canvas)

    # hover a query token: only its lines remain -> a different (sparser) picture
    box = canvas.bounding_box()
    rh = min(18, (720 - 30) // n_tokens)
    page.mouse.move(box["x"] + 100, box["y"] + 24 + 5 * rh + rh / 2)
    expect(root).to_have_attribute("data-hover", "q5")
    hovered = _signature(canvas)
    assert hovered != base and hovered[0] < base[0], (base, hovered)
    page.mouse.move(box["x"] + box["width"] + 300, box["y"] - 50)  # leave the canvas
    expect(root).to_have_attribute("data-hover", "")
    assert _signature(canvas) == base

    # switch layer in the browser: the kernel sends layer 3's edges and the picture changes
    page.locator("select.wb-attn-layer").select_option("3")
    expect(root).to_have_attribute("data-edge-layer", "3")
    assert run_in_kernel(page, "print(v.layer, v.edge_meta['layer'])").split() == ["3", "3"]
    layer3 = _signature(canvas)
    assert layer3 != base

    # model view: click layer 1 / head 7 opens it in the head view
    page.locator("button.wb-attn-view-btn[data-view=model]").click()
    expect(root).to_have_attribute("data-view", "model")
    expect(root).to_have_attribute("data-ready", "1", timeout=20_000)
    assert canvas_pixels(canvas)["painted"] > 5000
    # every column shows: the canvas fits its scroller, its right edge inside the visible part
    fit = page.locator(".wb-attn-scroll").evaluate("""s => { const c = s.querySelector('canvas').getBoundingClientRect(),
      r = s.getBoundingClientRect(), b = s.parentElement, d = b.parentElement.dataset;
      return {scroll: s.scrollWidth, client: s.clientWidth, right: c.right, edge: r.right, cell: d.modelCell,
              body: b.clientWidth, side: b.lastElementChild.offsetWidth}; }""")
    assert fit["scroll"] <= fit["client"] and fit["right"] <= fit["edge"], str(fit)
    box = canvas.bounding_box()
    cell = int(root.get_attribute("data-model-cell"))  # the cell size drawn for this output's width
    scale = box["width"] / float(canvas.get_attribute("data-css-width"))  # shown scaled down where the output is narrow
    page.mouse.click(box["x"] + (36 + 7.5 * cell) * scale, box["y"] + (30 + 1.5 * cell) * scale)
    expect(root).to_have_attribute("data-view", "head")
    expect(root).to_have_attribute("data-edge-layer", "1")
    assert run_in_kernel(page, "print(v.layer, v.heads)").strip() == "1 [7]"
    # matrix view: heatmap drawn; wheel zoom asks the kernel for a window
    page.locator("button.wb-attn-view-btn[data-view=matrix]").click()
    expect(root).to_have_attribute("data-view", "matrix")
    expect(root).to_have_attribute("data-ready", "1", timeout=20_000)
    assert canvas_pixels(canvas)["painted"] > 100_000
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 105 + 150, box["y"] + 105 + 150)
    page.mouse.wheel(0, -300)
    page.wait_for_function("() => true")
    full = f"[0, {n_tokens}, 0, {n_tokens}]"
    wait_until(lambda: run_in_kernel(page, "print(v.matrix_meta['window'])").strip() != full, timeout=10,
               what="the zoom to reach the kernel")

    if SHOTS:  # the model view in both themes, for a person to look at
        page.locator("button.wb-attn-view-btn[data-view=model]").click()
        expect(root).to_have_attribute("data-ready", "1", timeout=20_000)
        root.screenshot(path=f"{SHOTS}/attention-model-view-light.png")
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false' && !document.querySelector('#jupyterlab-splash')")
        root.screenshot(path=f"{SHOTS}/attention-model-view-dark.png")
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'")

    # an error set in the kernel shows inside the panel, not only in a log
    run_in_kernel(page, "v.layer = 42")
    expect(page.locator(".wb-attn-error")).to_contain_text("layer 42 was not captured")

    assert_no_widget_errors(page)
    assert net.page_errors == []
    assert net.offsite == []

    # save_html: the file works with no kernel and no network (loaded as page content)
    path = tmp_path / "attention.html"
    run_in_kernel(page, f"v.layer = 0; v.view = 'head'; v.save_html({str(path)!r})")
    page.set_content(path.read_text(), wait_until="load")
    s_root, s_canvas = page.locator(".wb-attn"), page.locator("canvas.wb-attn-main")
    expect(s_root).to_have_attribute("data-view", "head")
    before = _signature(s_canvas)
    assert before[0] > 2000
    page.locator("select.wb-attn-layer").select_option("4")
    expect(s_root).to_have_attribute("data-edge-layer", "4")
    assert _signature(s_canvas) != before
    assert net.page_errors == [] and net.offsite == []

    # a HiDPI screen (device pixel ratio 2): the same drawing with twice the pixels each way at the same CSS size
    hidpi = guarded_page(guarded_context(chromium, net, device_scale_factor=2), net)
    hidpi.set_content(path.read_text(), wait_until="load")
    h_canvas = hidpi.locator("canvas.wb-attn-main")
    expect(hidpi.locator(".wb-attn")).to_have_attribute("data-view", "head")
    sizes = [c.evaluate("c => [c.width, c.height, c.getBoundingClientRect().width]") for c in (s_canvas, h_canvas)]
    assert sizes[1][:2] == [2 * sizes[0][0], 2 * sizes[0][1]] and sizes[1][2] == pytest.approx(sizes[0][2], abs=1), sizes
    assert canvas_pixels(h_canvas)["painted"] > 3 * before[0]
    hidpi.context.close()
    assert net.page_errors == [] and net.offsite == []


@pytest.mark.browser
def test_attention_view_512_tokens_stays_responsive(lab, lab_page, lab_notebook, net):
    from playwright.sync_api import expect

    page = lab_page
    text = " ".join(["the quick brown fox jumps over the lazy dog near the river bank"] * 50)
    nb = lab_notebook([SHOW.format(text=text), DONE])
    open_notebook(page, lab, nb, "ATTN-READY", timeout=150)
    assert run_in_kernel(page, "print(len(v.record.query_tokens), v.record.attentions.shape)").strip() == \
        "512 (6, 12, 512, 512)"
    root, canvas = page.locator(".wb-attn"), page.locator("canvas.wb-attn-main")
    expect(root).to_have_attribute("data-edge-layer", "0")
    assert canvas_pixels(canvas)["painted"] > 10_000

    def responsive() -> bool:
        """The page answers a script between drawings (how fast is benchmarks/bench_attention.py's business)."""
        return page.evaluate("() => document.querySelectorAll('canvas.wb-attn-main').length") == 1

    assert responsive()
    for view in ("model", "matrix", "head"):
        page.locator(f"button.wb-attn-view-btn[data-view={view}]").click()
        expect(root).to_have_attribute("data-view", view)
        expect(root).to_have_attribute("data-ready", "1", timeout=20_000)
        assert responsive(), view
        assert canvas_pixels(canvas)["painted"] > 10_000, view
    draw_ms = float(root.get_attribute("data-draw-ms"))
    assert draw_ms > 0  # the view timed a real drawing
    page.locator("select.wb-attn-layer").select_option("5")
    expect(root).to_have_attribute("data-edge-layer", "5", timeout=20_000)
    assert responsive()
    # the kernel is not blocked either
    t0 = time.monotonic()
    assert run_in_kernel(page, "print('alive')", timeout=10).strip() == "alive"
    kernel_s = time.monotonic() - t0
    sent = run_in_kernel(page, "print(v.bytes_sent()['total'])")
    assert int(sent) <= 2 * 1024 * 1024
    assert net.page_errors == [] and net.offsite == []
    print(f"\n[attention 512] draw {draw_ms:.0f} ms, kernel round trip {kernel_s:.2f} s, sent {int(sent)} B")
