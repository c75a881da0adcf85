"""The Generate panel in a real browser: tokens stream into the page one by one, hover needs no kernel, and a
click on a candidate in the decoding tree forces that branch (the kernel decodes on from it)."""

from __future__ import annotations

import pytest

from tests.formats.gguf_fixtures import write_tiny_gpt2

PANEL_CELL = """
import time
from widgets import Generate
panel = Generate(model={folder!r}, prompt="Hello", max_new_tokens=24)
slow = panel.pipe.generate_steps
def paced(*args, on_step, **kwargs):  # a tiny model is too fast to watch: pace it like a real one
    def step(s):
        time.sleep(0.08)
        on_step(s)
    return slow(*args, on_step=step, **kwargs)
panel.pipe.generate_steps = paced
panel"""


@pytest.mark.browser
def test_tokens_stream_and_a_click_forces_the_branch(lab, lab_page, lab_notebook, net, tmp_path):
    from playwright.sync_api import expect

    from tests.browser.harness import assert_no_widget_errors, open_notebook, run_in_kernel

    folder = write_tiny_gpt2(tmp_path / "tiny-gpt2")
    page = lab_page
    nb = lab_notebook([PANEL_CELL.format(folder=str(folder)), 'print("PANEL-OK")'])
    open_notebook(page, lab, nb, "PANEL-OK", timeout=150)
    expect(page.locator(".wb-generate .wb-gen-prompt")).to_have_count(1, timeout=60_000)
    run_in_kernel(page, "panel.generate()")
    # streaming: the page shows a partial continuation before the whole one
    page.wait_for_function("() => { const n = document.querySelectorAll('.wb-gen-token').length;"
                           " return n > 0 && n < 24; }", timeout=30_000)
    page.wait_for_function("() => document.querySelectorAll('.wb-gen-token').length === 24", timeout=60_000)
    tokens = page.locator(".wb-generate .wb-gen-token")
    tokens.nth(2).hover()  # hover: the alternatives, drawn in the browser
    expect(page.locator(".wb-gen-tip")).to_be_visible()
    assert page.locator(".wb-gen-tip .wb-gen-tip-row").count() == 5
    # the tree: one column per step; click the runner-up of step 3
    steps = page.locator(".wb-generate .wb-gen-step")
    assert steps.count() == 24
    candidate = steps.nth(2).locator(".wb-gen-cand:not(.wb-chosen)").first
    token = int(candidate.get_attribute("data-token"))
    candidate.click()
    page.wait_for_function(f"""() => {{ const c = document.querySelectorAll('.wb-gen-step')[2];
        return c && c.querySelector('.wb-gen-cand.wb-chosen').dataset.token === '{token}'; }}""", timeout=30_000)
    run_in_kernel(page, "panel.wait(60)")
    out = run_in_kernel(page, "print(panel.view.nodes[panel.view.path[2]]['token'], len(panel.view.nodes), "
                              "len(panel.view.path), repr(panel.error))")
    forced, count, depth, error = out.split(maxsplit=3)
    assert int(forced) == token and int(count) > 24 and int(depth) == 24 and error.strip() == "''"
    # the old branch is kept: its candidate is marked as explored
    expect(steps.nth(2).locator(".wb-gen-cand.wb-explored")).to_have_count(2)
    assert_no_widget_errors(page)
    assert not net.offsite and not net.page_errors
