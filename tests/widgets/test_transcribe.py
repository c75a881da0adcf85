"""The Transcribe panel driven from Python (renderers, state, errors), plus real-browser tests:
the transcript renders as clickable words, a click seeks the <audio> element and highlights the word; ● Record in the page
(Chromium's fake microphone) records webm/opus that the kernel decodes and transcribes."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from widgets._render.audio import plot_png, transcript_html, wav_bytes
from widgets.transcribe import Transcribe

SENTENCE = "Please call Stella and ask her to bring these things with her from the store."


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("panel") / "stella.wav"
    subprocess.run(["espeak-ng", "-w", str(path), SENTENCE], check=True)
    return path


@pytest.fixture(scope="module")
def pipe():
    from workbench.pipelines import pipeline

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield pipeline("automatic-speech-recognition")
    torch.set_num_threads(before)


def test_renderers(clip):
    data, rate = sf.read(str(clip), dtype="float32")
    png = plot_png(data, rate)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    wav = wav_bytes(data, rate)
    back, back_rate = sf.read(__import__("io").BytesIO(wav))
    assert back_rate == rate and len(back) == len(data)
    page = transcript_html([{"text": " a <b>", "start": 0.0, "end": 1.5, "words": []}], png, "t")
    assert "&lt;b&gt;" in page and "data:image/png;base64," in page and "[0.00–1.50]" in page


def test_transcript_lines_do_not_overlap_in_time():
    from widgets._render.audio import player_segments

    result = {"duration": 4.0, "segments": [{"text": " a", "timestamp": (0.0, 3.72)}, {"text": " b", "timestamp": (3.58, 3.88)}],
              "words": [{"text": " a", "timestamp": (0.0, 3.5)}, {"text": " b", "timestamp": (3.6, 3.88)}]}
    segs = player_segments(result)
    assert [(s["start"], s["end"]) for s in segs] == [(0.0, 3.72), (3.72, 3.88)]
    assert [w["text"] for w in segs[1]["words"]] == [" b"]  # words keep the model's own times
    assert "[3.72–3.88]" in transcript_html(segs)


def test_panel_transcribes_with_words(clip, pipe):
    panel = Transcribe(model=pipe)
    panel.load(str(clip))
    assert panel.error == "" and not panel.run_button.disabled
    assert panel.plot_png[:4] == b"\x89PNG" and "alt=" in panel.plot.value and panel.player.wav[:4] == b"RIFF"  # one player: the clickable one
    panel.beams.value = 2
    result = panel.transcribe()
    assert panel.error == "", panel.error
    assert "stella" in result["text"].lower()
    segs = panel.player.segments
    words = [w for s in segs for w in s["words"]]
    assert len(words) >= 10 and all(w["start"] <= w["end"] for w in words)
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    assert "Stella" in panel.static_html and panel.progress.value == 1.0
    assert panel.progress.description.startswith("done (") and not panel.run_button.disabled
    panel.timestamps.value = True
    panel.transcribe()
    assert all(s["words"] == [] for s in panel.player.segments) and panel.player.segments
    panel.play_from(1.25)
    assert panel.player.seek_request == 1.25


def test_cross_attention_opens_in_attention_view(clip, pipe):
    record = pipe.attention(str(clip))
    assert record.kind == "cross" and record.layers == list(range(pipe.model.config.decoder_layers))
    _, H, T, F = record.attentions.shape
    assert H == pipe.model.config.decoder_attention_heads and T == len(record.query_tokens)
    assert F == len(record.key_tokens) and 200 <= F <= 260  # ~4.6 s of audio at 20 ms per frame
    assert any("Stella" in t for t in record.query_tokens)
    panel = Transcribe(model=pipe)
    panel.show_attention()
    assert "nothing loaded" in panel.error
    panel.load(str(clip))
    view = panel.show_attention()
    assert panel.error == "" and view.error == "" and view.meta["kind"] == "cross"
    assert view.matrix is not None and view.matrix.size  # the matrix view got its (binary) data


def test_panel_shows_errors(tmp_path, clip, pipe):
    panel = Transcribe(model=pipe)
    panel.transcribe()
    assert "nothing to transcribe" in panel.error
    panel.load(b"RIFF\x00\x00garbage" * 10, name="broken.wav")
    assert "corrupt" in panel.error and panel.run_button.disabled
    panel.load({"array": np.zeros(16000, np.float32), "sampling_rate": 16000}, name="quiet")
    assert "silent" in panel.error
    panel.load(np.ones(100, np.float32) * 0.5)  # a raw array: the model's rate is assumed, as the reference does
    assert panel.error == "" and panel.array.size == 100 and panel.plot_png  # 6 ms still draws
    # a recording arrives from the browser as bytes in a custom message
    panel._on_player_msg(panel.player, {"kind": "recorded"}, [clip.read_bytes()])
    assert panel.error == "" and "stella" in panel.text.value.lower()


PANEL_CELL = """\
import torch
torch.set_num_threads(1)
from widgets import Transcribe
panel = Transcribe()
panel.load({path!r})
panel.transcribe()
panel"""


@pytest.mark.browser
def test_click_word_seeks_and_highlights(lab, lab_page, lab_notebook, net, clip):
    from playwright.sync_api import expect

    from tests.browser.harness import assert_no_widget_errors, open_notebook

    page = lab_page
    nb = lab_notebook([PANEL_CELL.format(path=str(clip)), 'print("PANEL-OK")'])
    open_notebook(page, lab, nb, "PANEL-OK", timeout=150)
    words = page.locator(".wb-transcribe .wb-word")
    expect(words.first).to_be_visible(timeout=60_000)
    assert words.count() >= 10
    stella = page.locator(".wb-transcribe .wb-word", has_text="Stella").first
    start = float(stella.get_attribute("data-start"))
    stella.click()
    page.wait_for_function(
        "s => Math.abs(document.querySelector('.wb-transcribe-audio').currentTime - s) < 0.3", arg=start, timeout=10_000)
    expect(page.locator(".wb-transcribe .wb-word.wb-active").first).to_be_visible(timeout=10_000)
    assert page.locator(".wb-transcribe-record").count() == 1
    assert_no_widget_errors(page)
    assert not net.offsite


RECORD_CELL = """\
import torch
torch.set_num_threads(1)
from widgets import Transcribe
panel = Transcribe()
received = []  # what the browser sent: (mime, first bytes), to prove the recording path was exercised
panel.player.on_msg(lambda _w, content, buffers: received.append((content.get("mime"), bytes(buffers[0][:4]))))
panel"""


@pytest.mark.browser
def test_record_in_the_page_and_transcribe(lab, lab_page, lab_notebook, net, fake_microphone):
    """Press ● Record in the page: Chromium's fake microphone plays espeak-ng's sentence, MediaRecorder
    records it as webm/opus, the bytes go to the kernel, which decodes and transcribes them with tiny.en."""
    from playwright.sync_api import expect

    from tests.browser.harness import assert_no_widget_errors, open_notebook, run_in_kernel

    fake_microphone.require()
    page = lab_page
    nb = lab_notebook([RECORD_CELL, 'print("RECORDER-OK")'])
    open_notebook(page, lab, nb, "RECORDER-OK", timeout=150)
    record, note = page.locator(".wb-transcribe-record"), page.locator(".wb-transcribe-record-note")
    expect(record).to_have_text("● Record", timeout=30_000)
    expect(record).to_be_enabled()
    record.click()
    expect(record).to_have_text("■ Stop", timeout=10_000)
    expect(note).to_contain_text("recording")
    # the recording's own length (one loop of the clip), not a wait for asynchronous work
    page.wait_for_timeout(fake_microphone.seconds * 1000)
    record.click()
    expect(note).to_contain_text("transcribing", timeout=10_000)
    # the transcript, or the panel's error, whichever comes first
    page.wait_for_function("""() => document.querySelector('.wb-transcribe-panel textarea').value.trim()
                              || document.querySelector('.wb-transcribe-panel .workbench-error')""", timeout=120_000)
    state = run_in_kernel(page, "print(repr(panel.error), panel.name, received)")
    transcript = page.locator(".wb-transcribe-panel textarea").input_value().lower()
    assert state.startswith("'' microphone [('audio/webm"), state
    assert "\\x1aE\\xdf\\xa3" in state, state  # the EBML magic: webm bytes, not WAV
    for word in ("please", "call", "bring", "things", "store"):  # opus makes "Stella" into "stettler"
        assert word in transcript, transcript
    assert_no_widget_errors(page)
    assert net.page_errors == [] and net.offsite == []
