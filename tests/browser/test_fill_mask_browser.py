"""FillMask in a real JupyterLab + Chromium: typing in the box updates the top-k bars, offline."""
from __future__ import annotations

import pytest

from tests.browser.harness import assert_no_widget_errors, open_notebook, run_in_kernel

SHOW = """\
import torch, workbench
from workbench.auto import AutoConfig, AutoModelForMaskedLM
from workbench.embedded import embedded_folder
from widgets import FillMask
torch.manual_seed(0)
model = AutoModelForMaskedLM.from_config(AutoConfig.for_model(
    "bert", vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37))
pipe = workbench.pipeline("fill-mask", model=model, tokenizer=embedded_folder("sentence-transformers/all-MiniLM-L6-v2"))
p = FillMask(pipe, debounce_ms=120)
p"""
DONE = 'print("FILL-READY", p.error or "")'


def _bar_labels(page) -> list[str]:
    return page.locator(".wb-fill-mask-panel .wb-bar-row").evaluate_all("rows => rows.map(r => r.dataset.label)")


@pytest.mark.browser
def test_typing_in_fill_mask_updates_bars(lab, lab_page, lab_notebook, net):
    from playwright.sync_api import expect

    page = lab_page
    nb = lab_notebook([SHOW, DONE])
    open_notebook(page, lab, nb, "FILL-READY")
    box = page.locator(".wb-fill-mask-panel textarea.widget-textarea, .wb-fill-mask-panel .wb-fill-input textarea")
    expect(box.first).to_be_visible()
    bars = page.locator(".wb-fill-mask-panel .wb-bar-row")
    assert bars.count() == 0

    box.first.click()
    box.first.press_sequentially("the capital of france is [MASK].", delay=15)  # real keystrokes
    expect(bars).to_have_count(5, timeout=20_000)
    first = _bar_labels(page)
    assert run_in_kernel(page, "print(p.text)").strip() == "the capital of france is [MASK]."
    expected = run_in_kernel(page, "print('|'.join(d['token_str'].strip() or d['token_str'] for d in p.result))")
    assert first == expected.strip().split("|")
    sentences = page.locator(".wb-fill-mask-panel .wb-fill-sentence")
    expect(sentences.first).to_contain_text("the capital of france is")

    # keep typing: a different context gives different predictions and the bars follow
    box.first.press("End")
    box.first.press_sequentially(" i love [MASK] food", delay=15)
    expect(page.locator(".wb-fill-mask-panel .wb-fill-group")).to_have_count(2, timeout=20_000)
    assert run_in_kernel(page, "print(len(p.result), p.error == '')").split() == ["2", "True"]

    # an input without the mask token: the error shows inside the panel
    box.first.fill("no mask at all")
    expect(page.locator(".wb-fill-mask-panel .workbench-error")).to_contain_text("[MASK]", timeout=20_000)
    # ... and the stale result beside it is dimmed, until a good input answers again
    result = page.locator(".wb-fill-mask-panel .wb-result")
    page.wait_for_function("e => parseFloat(getComputedStyle(e).opacity) < 0.5", arg=result.element_handle())
    box.first.fill("paris is a [MASK] city.")
    expect(bars).to_have_count(5, timeout=20_000)
    page.wait_for_function("e => getComputedStyle(e).opacity === '1'", arg=result.element_handle())

    # the top-k slider, dragged with the mouse: to its left end (1 bar), then a key press to 2
    slider = page.locator(".wb-fill-mask-panel .widget-slider")
    handle, track = slider.locator(".noUi-handle").first, slider.locator(".noUi-target").first
    h, t = handle.bounding_box(), track.bounding_box()
    page.mouse.move(h["x"] + h["width"] / 2, h["y"] + h["height"] / 2)
    page.mouse.down()
    page.mouse.move(t["x"] - 20, h["y"] + h["height"] / 2, steps=8)
    page.mouse.up()
    expect(slider.locator(".widget-readout")).to_have_text("1")
    expect(bars).to_have_count(1, timeout=20_000)
    handle.focus()
    page.keyboard.press("ArrowRight")
    expect(bars).to_have_count(2, timeout=20_000)
    assert run_in_kernel(page, "print(p.top_k, len(p.result))").split() == ["2", "2"]

    assert_no_widget_errors(page)
    assert net.page_errors == []
    assert net.offsite == []
