"""The speech pipeline under bad or unusual audio: integer PCM is scaled, raw arrays follow the
reference's assumption (with a warning when another rate is likely), silence and noise give no
invented words, results are plain JSON, bad inputs name the problem."""

from __future__ import annotations

import json
import subprocess
import warnings

import numpy as np
import pytest
import soundfile as sf

from workbench.errors import InputError
from workbench.processors.audio import load_audio

RATE = 16000


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """espeak-ng saying a sentence, as float32 at 16 kHz, and its native 22.05 kHz samples."""
    path = tmp_path_factory.mktemp("speech") / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "The quick brown fox jumps over the lazy dog."], check=True)
    native, rate = sf.read(str(path), dtype="float32")
    return load_audio(str(path)).array, native, rate


@pytest.mark.parametrize("dtype,scale", [(np.int16, 32768), (np.int32, 2**31)])
def test_integer_pcm_is_scaled_to_unit_range(speech, dtype, scale):
    x = speech[0]
    pcm = np.clip(np.round(x * (scale - 1)), -scale, scale - 1).astype(dtype)
    got = load_audio({"array": pcm, "sampling_rate": RATE}).array
    assert got.dtype == np.float32 and np.abs(got).max() <= 1.0
    np.testing.assert_allclose(got, x, atol=2e-4)


def test_unsigned_8_bit_pcm_is_centred(speech):
    pcm = np.clip(np.round(speech[0] * 127 + 128), 0, 255).astype(np.uint8)
    got = load_audio({"array": pcm, "sampling_rate": RATE}).array
    np.testing.assert_allclose(got, speech[0], atol=1 / 64)


def test_int16_transcribes_like_float(asr, speech):
    x = speech[0]
    pcm = np.round(x * 32767).astype(np.int16)
    assert asr({"array": pcm, "sampling_rate": RATE})["text"] == asr({"array": x, "sampling_rate": RATE})["text"]


def test_stereo_int16_frames_by_channels(speech):
    x = speech[0]
    stereo = np.stack([x, x], axis=1)  # (samples, 2), as soundfile returns it
    got = load_audio({"array": (stereo * 32767).astype(np.int16), "sampling_rate": RATE}).array
    np.testing.assert_allclose(got, x, atol=2e-4)


def test_raw_array_assumes_the_models_rate(asr, speech):
    x = speech[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 16 kHz speech: no warning
        assert asr(x)["text"] == asr({"array": x, "sampling_rate": RATE})["text"]


def test_raw_array_at_another_rate_warns(asr, speech):
    from scipy.signal import resample_poly

    _, native, rate = speech
    cd_quality = resample_poly(native, 2, 1).astype(np.float32)  # espeak's 22.05 kHz -> 44.1 kHz, as a .wav would give
    assert rate * 2 == 44100
    with pytest.warns(UserWarning, match=r"16000 Hz.*sampling_rate") as caught:
        asr(cd_quality)
    assert caught[0].filename == __file__  # points at the user's call


def test_python_list_of_floats_is_audio(speech):
    x = speech[0][:1600]
    np.testing.assert_allclose(load_audio({"array": x.tolist(), "sampling_rate": RATE}).array, x)


@pytest.mark.parametrize("kind", ["silence", "quiet hiss", "noise"])
def test_no_invented_words_on_silence_or_noise(asr, kind):
    rng = np.random.default_rng(0)
    x = {"silence": np.zeros(5 * RATE), "quiet hiss": rng.normal(0, 1e-4, 5 * RATE),
         "noise": rng.normal(0, 0.1, 5 * RATE)}[kind].astype(np.float32)
    out = asr({"array": x, "sampling_rate": RATE})
    assert out["text"].strip() == "", out


@pytest.mark.parametrize("bad,match", [
    ({"array": np.zeros(100), "sampling_rate": "fast"}, "sampling_rate"),
    ({"array": np.zeros(100), "sampling_rate": 0}, "sampling rate must be positive"),
    ({"array": np.array([0.1, np.nan]), "sampling_rate": RATE}, "NaN"),
    ({"array": np.zeros((2, 3, 4)), "sampling_rate": RATE}, "1-D"),
    ({"sampling_rate": RATE}, "'array'"),
    (np.zeros(0, dtype=np.float32), "empty"),
    (12345, "cannot read audio from a int"),
    ({"array": np.zeros(100, dtype=bool), "sampling_rate": RATE}, "numbers"),
    ("definitely/not/a/file.wav", "does not exist"),
    (b"RIFF....garbage", "could not decode"),
    ({"array": np.array(["a", "b"]), "sampling_rate": RATE}, "numbers"),
])
def test_bad_audio_is_named(asr, bad, match):
    with pytest.raises(InputError, match=match):
        asr(bad)


def test_a_bad_clip_in_a_batch_is_named_by_its_index(asr, speech):
    x = speech[0]
    with pytest.raises(InputError, match=r"input 2\b"):
        asr([{"array": x, "sampling_rate": RATE}, {"array": x, "sampling_rate": RATE}, None])


@pytest.mark.parametrize("timestamps", [False, True, "word"])
def test_speech_results_are_plain_json(asr, speech, timestamps):
    out = asr({"array": speech[0], "sampling_rate": RATE}, return_timestamps=timestamps)
    assert isinstance(out, dict) and set(out) == ({"text", "chunks"} if timestamps else {"text"})
    lists = json.loads(json.dumps(out))  # JSON gives lists where the reference's timestamps are tuples
    assert lists == {**out, **({"chunks": [{**c, "timestamp": list(c["timestamp"])} for c in out["chunks"]]}
                               if timestamps else {})}
    assert out["text"].strip()
    if timestamps:
        assert all(set(c) >= {"text", "timestamp"} for c in out["chunks"])
