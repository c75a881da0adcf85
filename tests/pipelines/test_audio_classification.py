"""audio-classification against the reference pipeline on the same tiny checkpoints (a Wav2Vec2 keyword spotter
and an AST sound classifier), on espeak-ng speech and synthetic tones; the sliding-window timeline; bad input."""

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
OPTIONS = [{}, {"top_k": 3}, {"top_k": 2, "function_to_apply": "sigmoid"}, {"top_k": 50, "function_to_apply": "none"}]


@pytest.fixture(scope="module")
def sounds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sounds")
    return {"speech": audio_models.speech("yes. no. left, right. stop!", folder / "s.wav"),
            "tone": audio_models.tone(1000, 1.5), "chord": audio_models.tone(1500, 1.0) + audio_models.tone(3500, 1.0)}


@pytest.fixture(scope="module", params=["keyword_spotter", "sound_classifier"])
def folder(request, tmp_path_factory):
    return getattr(audio_models, request.param)(tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def pair(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = transformers.pipeline("audio-classification", model=str(folder))
    return ref, pipeline("audio-classification", model=folder)


def assert_same(ours, ref):
    assert [d["label"] for d in ours] == [d["label"] for d in ref]
    np.testing.assert_allclose([d["score"] for d in ours], [d["score"] for d in ref], atol=2e-5)
    assert all(list(d) == ["score", "label"] and isinstance(d["score"], float) for d in ours)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_results_equal_the_reference(pair, sounds, options):
    ref, ours = pair
    for name, x in sounds.items():
        assert_same(ours(x, **options), ref(x.copy(), **options))
    labels = len(ours.model.config.id2label)
    assert len(ours(sounds["tone"], **options)) == min(options.get("top_k", labels), labels)


def test_a_list_and_other_input_forms(pair, sounds, tmp_path):
    """A list gives a list (clips of different lengths run apart); files, 44.1 kHz dicts and int16 PCM read as audio."""
    ref, ours = pair
    clips = [sounds["speech"], sounds["tone"], sounds["speech"]]
    got = ours(clips, top_k=2)
    for g, x in zip(got, clips):
        assert_same(g, ref(x.copy(), top_k=2))
    import soundfile as sf

    sf.write(tmp_path / "tone.wav", sounds["tone"], 16000, subtype="FLOAT")
    by_path = ours(str(tmp_path / "tone.wav"), top_k=2)
    assert_same(by_path, ours(sounds["tone"], top_k=2))
    pcm = (sounds["tone"] * 32767).astype(np.int16)
    np.testing.assert_allclose([d["score"] for d in ours(pcm, top_k=2)], [d["score"] for d in by_path], atol=1e-3)


def test_timeline_windows_are_the_pipeline_on_each_window(pair, sounds):
    _, ours = pair
    x = np.concatenate([sounds["speech"], sounds["tone"]])
    seen = []
    line = ours.timeline(x, window_s=1.0, hop_s=0.25, progress=lambda done, total: seen.append((done, total)),
                         precision="float32")  # exact; the fast (bfloat16) timeline: test_audio_timeline_speed.py
    duration = len(x) / 16000
    assert line.starts[0] == 0 and abs(line.starts[-1] + 1.0 - duration) < 1e-6  # the last window ends at the clip's end
    assert np.all(np.diff(line.starts) <= 0.25 + 1e-9) and line.scores.shape == (len(line.starts), len(line.labels))
    assert seen[-1] == (len(line.starts), len(line.starts)) and line.precision == "float32"
    for w in (0, len(line.starts) // 2, len(line.starts) - 1):
        start = int(round(line.starts[w] * 16000))
        one = ours(x[start : start + 16000], top_k=None)
        expected = {d["label"]: d["score"] for d in one}
        np.testing.assert_allclose(line.scores[w], [expected[label] for label in line.labels], atol=2e-5)
    plain = line.to_dict()
    assert isinstance(plain["scores"][0][0], float) and len(plain["starts"]) == len(line.starts)


def test_bad_input_names_the_input_and_the_fix(pair, sounds):
    _, ours = pair
    with pytest.raises(InputError, match=r"input 0 is a int.*file path"):
        ours([7])
    good = {"array": sounds["tone"], "sampling_rate": 16000}
    with pytest.raises(InputError, match=r"input 1: .*'sampling_rate'"):
        ours([good, {"array": sounds["tone"]}])
    with pytest.raises(InputError, match="top_k"):
        ours(sounds["tone"], top_k=0)
    with pytest.raises(InputError, match="function_to_apply"):
        ours(sounds["tone"], function_to_apply="argmax")
    with pytest.raises(InputError, match="hop_s"):
        ours.timeline(sounds["tone"], hop_s=0)
    with pytest.raises(InputError, match="empty"):
        ours(np.zeros(0, np.float32))
