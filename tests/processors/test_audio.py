"""Audio loading, resampling and Whisper log-mel features (against the reference feature extractor)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from workbench.errors import InputError
from workbench.processors.audio import WhisperFeatureExtractor, load_audio, mel_filters

import transformers  # the test-only oracle (test extra): if it is missing the test install is broken, and tests fail


def tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("n_mels", [80, 128])
def test_features_match_reference(n_mels):
    ref = transformers.WhisperFeatureExtractor(feature_size=n_mels)
    g = np.random.default_rng(0)
    clips = [g.standard_normal(16000 * 3).astype(np.float32) * 0.1, tone(31.0, 16000), np.zeros(1600, np.float32)]
    expected = ref(clips, sampling_rate=16000, return_tensors="pt").input_features
    ours = WhisperFeatureExtractor(n_mels)(clips)
    assert ours.shape == (3, n_mels, 3000)
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(mel_filters(n_mels), ref.mel_filters, atol=1e-6)


def test_feature_extractor_rejects_other_rates():
    with pytest.raises(InputError, match="16000 Hz"):
        WhisperFeatureExtractor()(tone(1, 8000), sampling_rate=8000)


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_formats_load_to_16k_mono(tmp_path, fmt):
    src = tmp_path / "src.wav"
    sf.write(src, tone(1.0, 22050), 22050)
    path = tmp_path / f"clip.{fmt}"
    if fmt == "wav":
        path = src
    else:
        assert shutil.which("ffmpeg"), "ffmpeg is a system dependency of the test suite (.ci/run installs it)"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), str(path)], check=True)
    audio = load_audio(str(path))
    assert audio.sampling_rate == 16000 and audio.array.ndim == 1
    assert abs(audio.duration - 1.0) < 0.08  # mp3 adds encoder padding
    spectrum = np.abs(np.fft.rfft(audio.array[2000:14000]))
    assert abs(np.argmax(spectrum) * 16000 / 12000 - 440) < 5  # the tone survives decoding and resampling


def test_stereo_44k_is_mixed_and_resampled(tmp_path):
    left, right = tone(2.0, 44100, 440), tone(2.0, 44100, 1000)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 44100)
    audio = load_audio(path)
    assert audio.sampling_rate == 16000 and len(audio.array) == 32000
    spectrum = np.abs(np.fft.rfft(audio.array))
    peaks = sorted(np.argsort(spectrum)[-2:] / 2)  # 2 s -> bin / 2 = Hz
    assert abs(peaks[0] - 440) < 2 and abs(peaks[1] - 1000) < 2
    same = load_audio({"array": np.stack([left, right]), "sampling_rate": 44100})
    np.testing.assert_allclose(same.array, audio.array, atol=1e-4)


def test_bad_inputs_raise_clear_errors(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_audio(empty)
    text = tmp_path / "notes.txt"
    text.write_text("this is not audio\n" * 50)
    with pytest.raises(InputError, match="not an audio format"):
        load_audio(text)
    good = tmp_path / "good.wav"
    sf.write(good, tone(1.0, 16000), 16000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(good.read_bytes()[:44][:20] + b"\x00garbage" * 100)
    with pytest.raises(InputError, match="corrupt"):
        load_audio(corrupt)
    with pytest.raises(InputError, match="does not exist"):
        load_audio(tmp_path / "missing.wav")
    assert load_audio(np.zeros(100, np.float32)).sampling_rate == 16000  # a raw array: the model's rate, as the reference
    with pytest.raises(InputError, match="0 samples"):
        load_audio({"array": np.zeros(0), "sampling_rate": 16000})
    with pytest.raises(InputError, match="NaN"):
        load_audio({"array": np.full(100, np.nan), "sampling_rate": 16000})
    short = load_audio({"array": tone(0.1, 16000), "sampling_rate": 16000})
    assert short.duration == pytest.approx(0.1)
