"""Audio in: files or arrays -> mono float32 at 16 kHz -> Whisper log-mel windows.

Loading tries soundfile (wav, flac, ogg, mp3 with libsndfile >= 1.1) and falls back to
librosa/audioread (ffmpeg) for anything else. Resampling is polyphase (scipy), which is fast
and band-limited. Features follow the reference WhisperFeatureExtractor: 25 ms Hann STFT
(n_fft 400, hop 160), power spectrum, Slaney mel filters, log10 clamped at 1e-10, dynamic
range limited to 8 (log10 units) below the maximum, then (x + 4) / 4.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError, user_stacklevel

SAMPLING_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
CHUNK_LENGTH = 30  # seconds per Whisper window
N_SAMPLES = CHUNK_LENGTH * SAMPLING_RATE  # 480000
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3000


@dataclass
class AudioInput:
    """Mono float32 samples and their rate."""

    array: np.ndarray
    sampling_rate: int

    @property
    def duration(self) -> float:
        return len(self.array) / self.sampling_rate


def _hint() -> str:
    return "pass a readable wav/flac/ogg/mp3 file, or {'array': numpy_array, 'sampling_rate': rate}"


def _decode_file(source: str | os.PathLike | bytes) -> tuple[np.ndarray, int]:
    import soundfile as sf

    label = "the uploaded bytes" if isinstance(source, (bytes, bytearray)) else str(source)
    if not isinstance(source, (bytes, bytearray)):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"audio file {label} does not exist; {_hint()}.")
        if path.stat().st_size == 0:
            raise InputError(f"audio file {label} is empty (0 bytes); {_hint()}.")
    try:
        data, rate = sf.read(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source),
                             dtype="float32", always_2d=True)
        return data, int(rate)
    except Exception as sf_error:  # noqa: BLE001  soundfile raises many types; any failure -> try ffmpeg
        try:
            import warnings

            import librosa

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                target = source
                if isinstance(source, (bytes, bytearray)):
                    import tempfile

                    with tempfile.NamedTemporaryFile(delete=False) as tmp:
                        tmp.write(source)
                    target = tmp.name
                data, rate = librosa.load(target, sr=None, mono=False)
            data = np.asarray(data, dtype=np.float32)
            return (data[:, None] if data.ndim == 1 else data.T), int(rate)
        except Exception:  # noqa: BLE001  both readers failed: one clear InputError below
            raise InputError(
                f"could not decode {label} as audio ({type(sf_error).__name__}: {sf_error}); the file is corrupt or "
                f"not an audio format; {_hint()}."
            ) from None


def resample(array: np.ndarray, orig_sr: int, target_sr: int = SAMPLING_RATE) -> np.ndarray:
    """Band-limited polyphase resampling along the last axis."""
    if orig_sr == target_sr:
        return array
    from scipy.signal import resample_poly

    ratio = Fraction(target_sr, orig_sr).limit_denominator(1000)
    return resample_poly(array, ratio.numerator, ratio.denominator, axis=-1).astype(np.float32)


def load_audio(source: Any, sampling_rate: int | None = None, *, target_sr: int = SAMPLING_RATE) -> AudioInput:
    """A path, bytes, a numpy/torch array or list, or {'array'/'raw', 'sampling_rate'} -> mono float32 at `target_sr`.

    A raw array without a rate is taken to be at `target_sr`, as the reference does (with a warning when
    its spectrum says it was recorded faster). Integer PCM (int16/int32 as soundfile and scipy return
    it, unsigned 8-bit) is scaled to [-1, 1].
    """
    if isinstance(source, AudioInput):
        array, rate = source.array, source.sampling_rate
    elif isinstance(source, dict):
        key = "array" if "array" in source else "raw" if "raw" in source else None
        if key is None or "sampling_rate" not in source:
            raise InputError(f"an audio dict needs 'array' (or 'raw') and 'sampling_rate' keys, got {sorted(source)}.")
        array, rate = _samples(source[key]), _rate(source["sampling_rate"])
    elif isinstance(source, (str, os.PathLike, bytes, bytearray)):
        data, rate = _decode_file(source)
        array = data.T  # (channels, samples)
    elif isinstance(source, (np.ndarray, torch.Tensor, list, tuple)):
        array = _samples(source)
        if sampling_rate is None:
            rate = target_sr
            _warn_if_faster(array, target_sr)
        else:
            rate = _rate(sampling_rate)
    else:
        raise InputError(f"cannot read audio from a {type(source).__name__}; {_hint()}.")
    if array.ndim == 2:  # (channels, samples): mix down
        array = array.mean(axis=0)
    if array.ndim != 1:
        raise InputError(f"audio must be 1-D (mono) or 2-D (channels, samples), got shape {array.shape}.")
    if rate <= 0:
        raise InputError(f"sampling rate must be positive, got {rate}.")
    if array.size == 0:
        raise InputError("the audio is empty (0 samples); pass a clip with sound in it.")
    if not np.isfinite(array).all():
        raise InputError("the audio holds NaN or infinite samples; clean the signal before transcribing.")
    return AudioInput(resample(array, rate, target_sr), target_sr)


def _rate(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"sampling_rate must be a whole number of samples per second (e.g. 16000), got {value!r}.") from None


def _samples(data: Any) -> np.ndarray:
    """Samples as float32 (channels, n) or (n,); integer PCM scaled to [-1, 1]."""
    a = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    if a.dtype.kind == "u":  # unsigned PCM is centred on half its range
        half = 2.0 ** (8 * a.dtype.itemsize - 1)
        a = (a.astype(np.float64) - half) / half
    elif a.dtype.kind == "i":
        a = a / 2.0 ** (8 * a.dtype.itemsize - 1)
    elif a.dtype.kind not in "f":
        raise InputError(f"audio samples must be numbers (float or integer PCM), got an array of {a.dtype}.")
    if a.ndim == 2 and a.shape[0] > a.shape[1]:
        a = a.T  # (samples, channels), as soundfile returns it -> (channels, samples)
    return np.asarray(a, dtype=np.float32)


def _warn_if_faster(array: np.ndarray, assumed: int) -> None:
    """Audio recorded at 44.1 or 48 kHz read as 16 kHz sounds ~3x slower and lower: almost no energy
    above 3 kHz and a spectral centroid under ~450 Hz, which real 16 kHz speech does not show."""
    x = array.mean(axis=0) if array.ndim == 2 else array
    if x.ndim != 1 or x.size < assumed // 4:
        return
    power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    total = power.sum()
    if not np.isfinite(total) or total < 1e-6 * x.size:  # silence says nothing about the rate
        return
    freqs = np.fft.rfftfreq(x.size, 1 / assumed)
    centroid = float((power * freqs).sum() / total)
    high = float(power[freqs > 3000].sum() / total)
    if centroid < 450 and high < 0.002:
        import warnings

        warnings.warn(
            f"this raw audio array is taken to be at {assumed} Hz (no sampling rate was given), but its spectrum "
            f"looks like audio recorded faster (e.g. 44.1 or 48 kHz) played slowly. Pass "
            f"{{'array': x, 'sampling_rate': rate}} (or sampling_rate=...) with the real rate.",
            UserWarning, stacklevel=user_stacklevel(),
        )


# -- features ------------------------------------------------------------------------------------
def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    # Slaney: linear below 1 kHz, logarithmic above.
    f = np.asarray(f, dtype=np.float64)
    mels = f / (200.0 / 3)
    log_region = f >= 1000.0
    mels[log_region] = 15.0 + np.log(f[log_region] / 1000.0) / (np.log(6.4) / 27.0)
    return mels


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f = m * (200.0 / 3)
    log_region = m >= 15.0
    f[log_region] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m[log_region] - 15.0))
    return f


@lru_cache(maxsize=4)
def mel_filters(n_mels: int = 80, sampling_rate: int = SAMPLING_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """Slaney-scale, Slaney-normalised triangular filters, (n_fft // 2 + 1, n_mels) as the reference stores them."""
    fft_freqs = np.linspace(0, sampling_rate / 2, n_fft // 2 + 1)
    mel_pts = _mel_to_hz(np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([sampling_rate / 2]))[0], n_mels + 2))
    fdiff = np.diff(mel_pts)
    ramps = mel_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_pts[2 : n_mels + 2] - mel_pts[:n_mels]))[:, None]
    return weights.T.astype(np.float32)


class WhisperFeatureExtractor:
    """Batched log-mel features for 30 s windows: (B, n_mels, 3000)."""

    def __init__(self, feature_size: int = 80, sampling_rate: int = SAMPLING_RATE, n_fft: int = N_FFT,
                 hop_length: int = HOP_LENGTH, chunk_length: int = CHUNK_LENGTH) -> None:
        self.feature_size, self.sampling_rate, self.n_fft, self.hop_length = feature_size, sampling_rate, n_fft, hop_length
        self.chunk_length = chunk_length
        self.n_samples = chunk_length * sampling_rate
        self.nb_max_frames = self.n_samples // hop_length
        self.filters = torch.from_numpy(mel_filters(feature_size, sampling_rate, n_fft))

    def pad_or_trim(self, array: np.ndarray) -> np.ndarray:
        if len(array) >= self.n_samples:
            return array[: self.n_samples]
        return np.pad(array, (0, self.n_samples - len(array)))

    def log_mel(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(B, n_samples) float32 -> (B, n_mels, n_samples // hop)."""
        window = torch.hann_window(self.n_fft, device=waveforms.device)
        stft = torch.stft(waveforms, self.n_fft, self.hop_length, window=window, return_complex=True)
        power = stft[..., :-1].abs() ** 2  # (B, F, frames); the last frame is dropped as the reference does
        mel = self.filters.to(waveforms.device).T @ power  # (B, n_mels, frames)
        log_spec = torch.clamp(mel, min=1e-10).log10()
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = torch.maximum(log_spec, peak - 8.0)
        return (log_spec + 4.0) / 4.0

    def __call__(self, audio: Sequence[np.ndarray] | np.ndarray, *, sampling_rate: int | None = None,
                 device: Any = None) -> torch.Tensor:
        """One array or a list of 16 kHz mono arrays -> features (B, n_mels, 3000), padded/trimmed to 30 s."""
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise InputError(
                f"features need {self.sampling_rate} Hz audio, got {sampling_rate} Hz; "
                "load it with workbench.processors.load_audio, which resamples."
            )
        arrays = [audio] if isinstance(audio, np.ndarray) and audio.ndim == 1 else list(audio)
        batch = np.stack([self.pad_or_trim(np.asarray(a, dtype=np.float32)) for a in arrays])
        return self.log_mel(torch.from_numpy(batch).to(device or "cpu"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WhisperFeatureExtractor":
        """From `preprocessor_config.json` (the reference's keys; unknown ones ignored)."""
        keys = ("feature_size", "sampling_rate", "n_fft", "hop_length", "chunk_length")
        try:
            return cls(**{k: int(data[k]) for k in keys if data.get(k) is not None})
        except (TypeError, ValueError) as err:
            raise InputError(f"preprocessor_config.json has an invalid audio setting: {err}") from err

    def to_dict(self) -> dict[str, Any]:
        return {"feature_extractor_type": "WhisperFeatureExtractor", "feature_size": self.feature_size,
                "sampling_rate": self.sampling_rate, "n_fft": self.n_fft, "hop_length": self.hop_length,
                "chunk_length": self.chunk_length, "n_samples": self.n_samples, "nb_max_frames": self.nb_max_frames,
                "padding_value": 0.0, "return_attention_mask": False}


class WhisperProcessor:
    """Whisper's two halves: audio -> log-mel features, and text <-> token ids.

    `processor(audio=..., sampling_rate=...)` gives `{"input_features": ...}`; `decode`/`batch_decode`
    go to the tokenizer, as the reference's processor does.
    """

    def __init__(self, feature_extractor: WhisperFeatureExtractor, tokenizer: Any) -> None:
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer

    def __call__(self, audio: Any = None, *, sampling_rate: int | None = None, text: Any = None,
                 return_tensors: str | None = "pt", device: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if audio is not None:
            items = audio if isinstance(audio, (list, tuple)) else [audio]
            arrays = [load_audio(a, sampling_rate).array for a in items]
            out["input_features"] = self.feature_extractor(arrays, device=device)
        if text is not None:
            out["labels"] = self.tokenizer(text, return_tensors=return_tensors)["input_ids"]
        if not out:
            raise InputError("pass audio=... (and/or text=...) to the Whisper processor.")
        return out

    def decode(self, *args: Any, **kwargs: Any) -> str:
        return self.tokenizer.decode(*args, **kwargs)

    def batch_decode(self, *args: Any, **kwargs: Any) -> list[str]:
        return self.tokenizer.batch_decode(*args, **kwargs)

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        import json

        Path(folder).mkdir(parents=True, exist_ok=True)
        data = {**self.feature_extractor.to_dict(), "processor_class": "WhisperProcessor"}
        (Path(folder) / "preprocessor_config.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        self.tokenizer.save_pretrained(folder)
