"""The alignment view of Summarize in a real JupyterLab + Chromium: hovering an output token shades the
source tokens it attended to (a different output token, a different shading), hovering a source token shades
the output tokens that used it, "all heads" draws one heatmap row per head, a layer change reaches the
kernel; offline, no page errors."""
from __future__ import annotations

import pytest

from tests.browser.harness import REPO_ROOT, assert_no_widget_errors, canvas_pixels, open_notebook, run_in_kernel

FOLDER = REPO_ROOT / "tests" / "fixtures" / "reference_pipelines" / "tiny_bart_cnn"
TEXT = ("The town council voted on Tuesday to reopen the old stone bridge over the river after two years of "
        "repairs. Engineers said the bridge is now safe for cyclists and walkers.")
SHOW = f'''\
from widgets import Summarize
p = Summarize(model={str(FOLDER)!r}, text={TEXT!r}, max_length=12, num_beams=3)
p.run(wait=True)
p'''
DONE = 'print("S2S-READY", p.error or "")'

WEIGHTS = "(sel) => Array.from(document.querySelectorAll(sel), (e) => e.dataset.weight || '')"


@pytest.mark.browser
def test_alignment_view_hover_links_output_and_source(lab, lab_page, lab_notebook, net):
    from playwright.sync_api import expect

    page = lab_page
    open_notebook(page, lab, lab_notebook([SHOW, DONE]), "S2S-READY")
    n_out = int(run_in_kernel(page, "print(len(p.view.state['output_tokens']))"))
    root = page.locator(".wb-s2s")
    expect(page.locator(".wb-s2s-out")).to_have_count(n_out)
    assert page.locator(".wb-s2s-src").count() == int(run_in_kernel(page, "print(len(p.view.state['source_tokens']))"))
    expect(page.locator(".wb-s2s-beam-table tr")).to_have_count(3)

    seen = []
    for j in (2, 6):  # two output tokens: each shades the source its own way
        page.locator(f".wb-s2s-out[data-j='{j}']").hover()
        expect(root).to_have_attribute("data-hover", f"o{j}")
        weights = page.evaluate(WEIGHTS, ".wb-s2s-src")
        assert "1.000" in weights and len(set(weights)) > 3, weights  # the strongest source token in full colour
        shaded = page.locator(".wb-s2s-src[data-weight='1.000']").first
        assert shaded.evaluate("(e) => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
        seen.append(weights)
    assert seen[0] != seen[1]
    expected = run_in_kernel(page, "import numpy as np; a = p.view.mean.astype('float32')[-1][6]; "
                                   "print(int(a.argmax()))").strip()
    assert seen[1].index("1.000") == int(expected)  # the browser's shading is the kernel's attention

    page.locator(".wb-s2s-src[data-i='4']").hover()  # a source token: the output tokens that used it
    expect(root).to_have_attribute("data-hover", "s4")
    out_weights = page.evaluate(WEIGHTS, ".wb-s2s-out")
    assert "1.000" in out_weights and len(set(out_weights)) > 2

    page.locator("select.wb-s2s-heads").select_option("all")  # every head of the layer, as heatmap rows
    page.locator(".wb-s2s-out[data-j='3']").hover()
    canvas = page.locator("canvas.wb-s2s-heads-map")
    expect(canvas).to_be_visible()
    px = canvas_pixels(canvas)
    assert px["height"] == 4 and px["painted"] > 0, px
    page.locator("select.wb-s2s-layer").select_option("0")
    assert run_in_kernel(page, "import time\nfor _ in range(50):\n    time.sleep(0.1)\n    if p.view.heads_layer == 0: break\n"
                               "print(p.view.layer, p.view.heads_layer)").split() == ["0", "0"]

    assert_no_widget_errors(page)
    assert net.page_errors == [] and net.offsite == []
