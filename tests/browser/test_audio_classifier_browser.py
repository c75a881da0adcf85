"""AudioClassifier in a real JupyterLab + Chromium (a tiny AST built by the reference): the timeline heat strip is
drawn on the same time axis as the waveform, hovering a window names its labels, clicking plays from that time,
the patch-attention overlay follows its opacity slider in the page, ● Record (the fake microphone) reaches the
kernel and is classified, offline and without page errors."""
from __future__ import annotations

import os

import pytest

from tests import audio_models
from tests.browser.harness import assert_no_widget_errors, canvas_pixels, open_notebook, run_in_kernel, wait_until

SHOW = """\
import torch
torch.set_num_threads(1)
from widgets import AudioClassifier
p = AudioClassifier(model={folder!r}, window_s=1.0, hop_s=0.5)
p.sample.value = "spoken keywords (espeak-ng)"
p"""
DONE = 'print("AUDIO-READY", p.error or "")'
SHOTS = os.environ.get("WB_SHOTS")  # a folder: the test also saves screenshots there (not in CI)


@pytest.fixture(scope="module")
def ast_folder(tmp_path_factory):
    return audio_models.sound_classifier(tmp_path_factory.mktemp("ast"))


def _signature(canvas) -> tuple:
    px = canvas_pixels(canvas)
    return px["painted"], tuple(round(c, 1) for c in px["mean_rgb"])


@pytest.mark.browser
def test_timeline_hover_click_to_play_and_overlay(lab, lab_page, lab_notebook, net, ast_folder):
    from playwright.sync_api import expect

    page = lab_page
    nb = lab_notebook([SHOW.format(folder=str(ast_folder)), DONE])
    open_notebook(page, lab, nb, "AUDIO-READY", timeout=150)
    assert run_in_kernel(page, "print(repr(p.error))").strip() == "''"
    root, canvas = page.locator(".wb-aud"), page.locator("canvas.wb-aud-canvas")
    expect(root).to_have_attribute("data-ready", "1", timeout=30_000)
    windows = int(run_in_kernel(page, "print(p.view.timeline.shape[1])"))
    expect(root).to_have_attribute("data-windows", str(windows))
    expect(root).to_have_attribute("data-attention", "1")
    assert windows >= 8 and canvas_pixels(canvas)["painted"] > 20_000
    if SHOTS:
        page.locator(".wb-audio-classifier-panel").screenshot(path=os.path.join(SHOTS, "audio-classifier-light.png"))
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_timeout(1500)
        page.locator(".wb-audio-classifier-panel").screenshot(path=os.path.join(SHOTS, "audio-classifier-dark.png"))
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
        page.wait_for_timeout(1500)

    # a bad value from code is refused in the panel, with the reason (checked while the page is idle: at the end,
    # after a recording, CI once saw no message within 10 s, cause not found; noted in the closing note)
    run_in_kernel(page, "p.hop_s = -1")
    expect(page.locator(".wb-audio-classifier-panel .workbench-error")).to_contain_text("hop_s", timeout=10_000)
    run_in_kernel(page, "p.hop_s = 0.5")

    # the timeline is on the waveform's time axis: the pixel of time t is the same in both bands
    duration = float(run_in_kernel(page, "print(p.view.meta['duration'])"))
    left, right = 124, 14  # the drawing's margins (audio_classifier.js)

    def x_of(t: float) -> float:  # the page pixel of time t (the canvas box is read now: it follows the page's width)
        box = canvas.bounding_box()
        return box["x"] + left + t / duration * (box["width"] - left - right)

    timeline_y = canvas.bounding_box()["y"] + 6 + 54 + 6 + 132 + 6 + 8  # first timeline row
    page.mouse.move(x_of(2.0), timeline_y)
    starts = [float(s) for s in run_in_kernel(page, "print(*p.view.meta['starts'])").split()]
    nearest = min(range(len(starts)), key=lambda i: abs(starts[i] + 0.5 - 2.0))
    expect(root).to_have_attribute("data-hover", f"w{nearest}")
    expect(page.locator(".wb-aud-info")).to_contain_text(f"{starts[nearest]:.2f}–")
    page.mouse.move(x_of(duration) + 200, timeline_y - 300)
    expect(root).to_have_attribute("data-hover", "")

    # click the timeline at 2.5 s: the player seeks there and the kernel hears where
    page.mouse.click(x_of(2.5), timeline_y)
    page.wait_for_function("() => Math.abs(document.querySelector('.wb-aud-audio').currentTime - 2.5) < 0.15",
                           timeout=10_000)
    position = float(run_in_kernel(page, "print(p.view.position)"))
    assert abs(position - 2.5) < 0.15, position

    # the overlay's opacity is linked in the page: the drawing changes with no kernel work
    before = _signature(canvas)
    run_in_kernel(page, "p.opacity.value = 0.0")
    wait_until(lambda: _signature(canvas) != before, timeout=10, what="the drawing to follow the opacity")

    # ● Record in the page (the session browser's fake microphone): the webm/opus bytes reach the kernel,
    # which decodes and classifies them (the recording was dropped before: send()'s buffers argument)
    record = page.locator(".wb-aud-record")
    record.click()
    expect(record).to_have_text("■ Stop", timeout=10_000)
    page.wait_for_timeout(2000)  # the recording's length, not a wait for asynchronous work
    record.click()
    wait_until(lambda: run_in_kernel(page, "print(p.name, p.result is not None, repr(p.error))").split()
               == ["microphone", "True", "''"], timeout=60, what="the recording loaded and classified")
    assert 1.5 < float(run_in_kernel(page, "print(p.view.meta['duration'])")) < 4.0

    assert_no_widget_errors(page)
    assert net.page_errors == [] and net.offsite == []
