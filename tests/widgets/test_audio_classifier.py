"""AudioClassifier driven from Python (tiny reference-built checkpoints): top labels, a timeline that follows its
window and hop, AST patch attention, refused values, the badge and the static picture; renderers; and the
Transcribe panel on a CTC model (character times)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests import audio_models
from tests.audio_models import one_thread  # noqa: F401  (a fixture)
from workbench.pipelines.audio_classification import FAST_TOLERANCE
from widgets._render.audio_classification import spectrogram_image, summary_png, timeline_rows, waveform_envelope


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"ks": audio_models.keyword_spotter(tmp_path_factory.mktemp("ks")),
                "ast": audio_models.sound_classifier(tmp_path_factory.mktemp("ast")),
                "ctc": audio_models.ctc_transcriber(tmp_path_factory.mktemp("ctc"))}


def test_renderers():
    x = np.sin(np.arange(48000) / 16000 * 2 * np.pi * 500).astype(np.float32) * np.linspace(0, 1, 48000, dtype=np.float32)
    env = waveform_envelope(x, 300)
    assert env.shape == (300, 2) and np.all(env[:, 0] <= env[:, 1]) and env[-1, 1] > 0.95 > env[0, 1]
    image, seconds = spectrogram_image(x, columns=100)
    assert image.dtype == np.uint8 and image.shape == (64, 100) and abs(seconds - 3.0) < 0.02
    band = int(np.argmax(image[:, 50]))  # 500 Hz sits low on the mel axis
    assert 5 < band < 25
    labels, rows = timeline_rows(["a", "b", "c"], np.array([[0.1, 0.9, 0.0], [0.2, 0.1, 0.7]], np.float32), 2)
    assert labels == ["b", "c"] and rows.shape == (2, 2) and rows[0, 0] == np.float32(0.9)
    png = summary_png(x, 16000, [{"score": 0.5, "label": "tone"}], {"labels": labels, "scores": rows, "starts": [0.0, 1.0],
                                                                    "window_s": 2.0})
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_keyword_spotter_panel(folders):
    from widgets import AudioClassifier

    panel = AudioClassifier(model=str(folders["ks"]), window_s=1.0, hop_s=0.5, top_k=3)
    panel.sample.value = "spoken keywords (espeak-ng)"
    assert panel.error == "", panel.error
    duration = len(panel.array) / 16000
    assert len(panel.result) == 3 and panel.result[0]["label"] in audio_models.KEYWORDS
    rows, windows = panel.view.timeline.shape
    assert rows == 12 and windows == len(panel.view.meta["starts"]) >= int((duration - 1.0) / 0.5)
    assert panel.view.waveform.shape[1] == 2 and panel.view.spectrogram.dtype == np.uint8 and panel.view.wav[:4] == b"RIFF"
    assert panel.view.attention is None  # Wav2Vec2: no patch grid
    assert panel.static_html == ""  # drawn when displayed, not on the way to the live view
    static = panel._repr_mimebundle_()["text/html"]
    assert "data:image/png;base64," in static and panel.result[0]["label"] in static and panel.static_html == static
    panel.hop_s = 0.25  # a control moves: the timeline follows
    assert panel.view.timeline.shape[1] > windows and panel.error == ""
    panel.window_s = 0.0  # refused from code, with the reason; the last good value stays
    assert "window_s" in panel.error and panel.window_s == 1.0 and panel.window_slider.value == 1.0
    assert panel.view.meta["stale"] is True
    panel.top_k = 5
    assert panel.error == "" and len(panel.result) == 5 and panel.view.meta["stale"] is False
    panel.layer = 3  # a keyword spotter has no patch grid to draw attention on
    assert "Audio Spectrogram Transformer" in panel.error and panel.layer == -1
    panel.play_from(1.5)
    assert panel.view.seek_request == 1.5
    long = np.tile(panel.array, 2)  # past 12 s the top labels are each label's best window, not one long pass
    panel.load(long, sampling_rate=16000, name="twice")
    line = panel.pipe.timeline(long, window_s=1.0, hop_s=0.5, precision="float32")  # the panel's may be bfloat16
    best = {label: float(line.scores[:, i].max()) for i, label in enumerate(line.labels)}
    scores = [d["score"] for d in panel.result]
    assert scores == sorted(scores, reverse=True) and "best score" in panel.bars.value
    # float32 scores of the windows the timeline found best: the exact best, or within the fast timeline's tolerance
    tolerance = 1e-5 if panel.timeline_result.precision == "float32" else FAST_TOLERANCE
    for d in panel.result:
        assert best[d["label"]] - tolerance <= d["score"] <= best[d["label"]] + 1e-5
        assert np.isclose(line.scores[:, line.labels.index(d["label"])], d["score"], atol=1e-5, rtol=0).any()


def test_ast_panel_draws_patch_attention_and_reports_errors(folders):
    from widgets import AudioClassifier
    from workbench import pipeline
    from workbench.errors import InputError

    pipe = pipeline("audio-classification", model=folders["ast"])
    panel = AudioClassifier(model=pipe, window_s=1.0, hop_s=1.0, function_to_apply="sigmoid")
    assert panel.pipe is pipe and panel.layer_box.layout.display == ""
    panel.load(audio_models.tone(1000, 3.0), sampling_rate=16000, name="beep")
    assert panel.error == "", panel.error
    grid = panel.view.attention
    assert grid.shape == (2, 19) and grid.max() == pytest.approx(1.0)  # (32-16)//10+1 x (200-16)//10+1, peak at 1
    record = panel.attention_record
    assert record.kind == "patches" and record.layers == [1]
    panel.layer = 0
    assert panel.attention_record.layers == [0] and panel.view.meta["attention_layer"] == 0
    panel.layer = 7
    assert "layer" in panel.error and panel.layer == 0
    panel.function_to_apply = "argmax"
    assert "function_to_apply" in panel.error
    panel.load(b"not audio at all", name="broken.wav")
    assert "corrupt" in panel.error
    with pytest.raises(InputError):
        pipe.timeline(audio_models.tone(1000, 1.0), window_s=-1)


def test_untrained_badge_for_a_model_built_from_a_config():
    from widgets import AudioClassifier
    from workbench import AutoConfig, AutoModelForAudioClassification, pipeline
    from workbench.processors import ASTFeatureExtractor

    config = AutoConfig.for_model("audio-spectrogram-transformer", **audio_models.TINY_AST, num_labels=4)
    model = AutoModelForAudioClassification.from_config(config)
    pipe = pipeline("audio-classification", model=model, processor=ASTFeatureExtractor(num_mel_bins=32, max_length=200))
    panel = AudioClassifier(model=pipe)
    assert panel.untrained and "untrained weights" in panel._badge.value


def test_transcribe_panel_takes_a_ctc_model(folders):
    from widgets import Transcribe
    from workbench import pipeline

    pipe = pipeline("automatic-speech-recognition", model=folders["ctc"])
    panel = Transcribe(model=pipe)
    panel.load(audio_models.speech("left and right", folders["ctc"] / "lr.wav"), sampling_rate=16000)
    result = panel.transcribe()
    assert panel.error == "", panel.error
    chars = [w for s in panel.player.segments for w in s["words"]]
    assert "".join(c["text"] for c in chars).split() == result["text"].split()  # every character is clickable
    assert all(0 <= c["start"] <= c["end"] for c in chars)
    panel.show_attention()
    assert "CTC model has none" in panel.error
