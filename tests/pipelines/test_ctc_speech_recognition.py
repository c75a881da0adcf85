"""automatic-speech-recognition with a CTC checkpoint: picked by model type, and text, character and word times,
and long audio in chunks with strides equal to the reference pipeline's on espeak-ng speech."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests import audio_models
from tests.audio_models import one_thread  # noqa: F401  (a fixture)
from workbench import pipeline
from workbench.errors import InputError

import transformers  # the test-only oracle: missing means a broken test install, which must fail
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = audio_models.ctc_transcriber(tmp_path_factory.mktemp("ctc"))
    speech = audio_models.speech("Turn left at the second light, then stop near the green door.",
                                 tmp_path_factory.mktemp("speech") / "s.wav")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = transformers.pipeline("automatic-speech-recognition", model=str(folder))
    return ref, pipeline("automatic-speech-recognition", model=folder), speech


def assert_same(ours, ref):
    assert ours["text"] == ref["text"]
    assert set(ours) == set(ref)
    if "chunks" in ref:
        assert [c["text"] for c in ours["chunks"]] == [c["text"] for c in ref["chunks"]]
        np.testing.assert_allclose([c["timestamp"] for c in ours["chunks"]], [c["timestamp"] for c in ref["chunks"]],
                                   atol=1e-9)
        assert all(isinstance(c["timestamp"], tuple) for c in ours["chunks"])


@pytest.mark.parametrize("options", [
    {}, {"return_timestamps": "char"}, {"return_timestamps": "word"},
    {"chunk_length_s": 1.0, "return_timestamps": "word"},
    {"chunk_length_s": 0.8, "stride_length_s": (0.25, 0.1), "return_timestamps": "char"},
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "text")
def test_equal_to_the_reference(setup, options):
    ref, ours, speech = setup
    assert type(ours).__name__ == "CTCSpeechRecognitionPipeline"
    got = ours(speech, **options)
    assert_same(got, ref(speech.copy(), **options))
    assert got["text"].strip() and len(got.get("chunks", [1])) > 0  # the tiny model does emit characters


def test_details_give_lines_words_and_characters_in_time(setup):
    _, ours, speech = setup
    out = ours([speech, speech[: len(speech) // 2]], return_details=True)
    for result, clip in zip(out, (speech, speech[: len(speech) // 2])):
        assert result["duration"] == pytest.approx(len(clip) / 16000)
        words = [w["text"] for w in result["words"]]
        assert words == result["text"].split()
        assert " ".join(s["text"] for s in result["segments"]) == " ".join(words)
        for seg in result["segments"]:  # every character lies inside its line (the player relies on it)
            inside = [c for c in result["chars"] if seg["timestamp"][0] <= (c["timestamp"][0] + c["timestamp"][1]) / 2
                      <= seg["timestamp"][1]]
            assert "".join(c["text"] for c in inside) == seg["text"]


def test_whisper_options_and_bad_input_are_refused_clearly(setup):
    _, ours, speech = setup
    with pytest.raises(InputError, match="'char' or 'word'"):
        ours(speech, return_timestamps=True)
    with pytest.raises(InputError, match="no generation loop"):
        ours(speech, generate_kwargs={"num_beams": 4})
    with pytest.raises(InputError, match="longer than its two strides"):
        ours(speech, chunk_length_s=0.5, stride_length_s=0.25)
    with pytest.raises(InputError, match="ms long"):
        ours(np.zeros(30, np.float32))


def test_a_keyword_spotter_is_not_a_transcriber(tmp_path):
    folder = audio_models.keyword_spotter(tmp_path)
    with pytest.raises(InputError, match="character vocabulary|audio-classification"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipeline("automatic-speech-recognition", model=folder)
