"""Kaldi-compatible log-mel filterbanks, and the Audio Spectrogram Transformer's feature extractor on top.

`kaldi_fbank` computes what Kaldi's `compute-fbank-feats` (and torchaudio's `compliance.kaldi.fbank`)
compute with AST's settings: 25 ms frames every 10 ms without padding at the edges, each frame's DC
offset removed, pre-emphasis 0.97, a symmetric Hann window, a 512-point FFT, the power spectrum through
triangular filters spaced evenly on Kaldi's mel scale (1127 ln(1 + f / 700)) from 20 Hz to Nyquist,
and the natural log, floored at float32's epsilon. It runs in float64 on all frames at once and
matches the reference's numpy implementation (which loops over frames) to float32 precision.

`ASTFeatureExtractor` pads or cuts the frames to `max_length` (1024 frames = 10.24 s) and normalises
with AudioSet's mean and standard deviation: (x - mean) / (2 * std).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from .preprocessor_config import settings, write

FRAME = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms
N_FFT = 512  # the frame rounded up to a power of two
PREEMPHASIS = 0.97
LOG_FLOOR = float(np.finfo(np.float32).eps)  # Kaldi floors the mel energies at float32's epsilon before the log


def kaldi_mel(f: np.ndarray | float) -> np.ndarray | float:
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


@lru_cache(maxsize=8)
def kaldi_mel_filters(num_mel_bins: int, sampling_rate: int, n_fft: int = N_FFT, low_hz: float = 20.0) -> np.ndarray:
    """(n_fft // 2 + 1, num_mel_bins) float64: triangles that are straight lines on the mel axis (as Kaldi)."""
    edges = np.linspace(kaldi_mel(low_hz), kaldi_mel(sampling_rate / 2), num_mel_bins + 2)  # (M + 2,)
    bins = kaldi_mel(np.arange(n_fft // 2 + 1) * sampling_rate / n_fft)  # (F,) each FFT bin on the mel axis
    rising = (bins[:, None] - edges[None, :-2]) / np.diff(edges)[None, :-1]
    falling = (edges[None, 2:] - bins[:, None]) / np.diff(edges)[None, 1:]
    return np.maximum(0.0, np.minimum(rising, falling))


def kaldi_fbank(waveform: np.ndarray, *, sampling_rate: int = 16000, num_mel_bins: int = 128) -> np.ndarray:
    """Mono samples (as given: AST does not scale to 16-bit integers) -> (frames, num_mel_bins) float32 log energies.

    numpy on purpose: single-threaded vector code is fastest for these small arrays (torch's thread pool
    costs more than the work when cores are busy)."""
    x = np.asarray(waveform, dtype=np.float32).reshape(-1).astype(np.float64)
    if x.size < FRAME:  # Kaldi makes no frame of a clip shorter than one window
        return np.zeros((0, num_mel_bins), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME)[::HOP]  # (T, 400): snip_edges, no padding
    frames = frames - frames.mean(axis=1, keepdims=True)  # remove each frame's DC offset
    emphasised = np.empty_like(frames)
    emphasised[:, 0] = frames[:, 0] * (1 - PREEMPHASIS)
    emphasised[:, 1:] = frames[:, 1:] - PREEMPHASIS * frames[:, :-1]
    spectrum = np.fft.rfft(emphasised * np.hanning(FRAME), n=N_FFT, axis=1)  # (T, 257)
    # the reference keeps the spectrum in complex64 before taking the power in float64; so do we, to agree bit for bit
    power = np.abs(spectrum.astype(np.complex64), dtype=np.float64) ** 2
    mel = power @ kaldi_mel_filters(num_mel_bins, sampling_rate)  # (T, M)
    return np.log(np.maximum(mel, LOG_FLOOR)).astype(np.float32)


class ASTFeatureExtractor:
    """Audio (16 kHz mono) -> normalised filterbank images (B, max_length, num_mel_bins), as the reference."""

    def __init__(self, feature_size: int = 1, sampling_rate: int = 16000, num_mel_bins: int = 128,
                 max_length: int = 1024, padding_value: float = 0.0, do_normalize: bool = True,
                 mean: float = -4.2677393, std: float = 4.5689974, return_attention_mask: bool = False) -> None:
        if num_mel_bins < 1 or max_length < 1 or sampling_rate < 1:
            raise InputError(f"ASTFeatureExtractor needs positive num_mel_bins, max_length and sampling_rate; got "
                             f"{num_mel_bins}, {max_length} and {sampling_rate}.")
        self.feature_size, self.sampling_rate, self.num_mel_bins = feature_size, sampling_rate, num_mel_bins
        self.max_length, self.padding_value, self.do_normalize = max_length, padding_value, do_normalize
        self.mean, self.std, self.return_attention_mask = mean, std, return_attention_mask

    @property
    def window_seconds(self) -> float:
        """The audio one input holds: max_length frames of 10 ms after the first 25 ms window."""
        return (FRAME + (self.max_length - 1) * HOP) / self.sampling_rate

    def features(self, waveform: np.ndarray) -> torch.Tensor:
        """One clip -> (max_length, num_mel_bins): filterbanks, zero-padded or cut, then normalised."""
        fbank = kaldi_fbank(waveform, sampling_rate=self.sampling_rate, num_mel_bins=self.num_mel_bins)
        out = np.zeros((self.max_length, self.num_mel_bins), dtype=np.float32)
        n = min(self.max_length, fbank.shape[0])
        out[:n] = fbank[:n]
        return torch.from_numpy((out - self.mean) / (self.std * 2) if self.do_normalize else out)

    def __call__(self, audio: Sequence[np.ndarray] | np.ndarray, *, sampling_rate: int | None = None,
                 return_tensors: str | None = "pt", device: Any = None) -> dict[str, torch.Tensor]:
        """One array or a list of arrays at `sampling_rate` -> {"input_values": (B, max_length, num_mel_bins)}."""
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise InputError(f"features need {self.sampling_rate} Hz audio, got {sampling_rate} Hz; load it with "
                             "workbench.processors.load_audio, which resamples.")
        arrays = [audio] if isinstance(audio, np.ndarray) and audio.ndim == 1 else list(audio)
        values = torch.stack([self.features(np.asarray(a, dtype=np.float32)) for a in arrays])
        return {"input_values": values if device is None else values.to(device)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ASTFeatureExtractor":
        """From `preprocessor_config.json` (the reference's keys; unknown ones ignored)."""
        types = {"feature_size": int, "sampling_rate": int, "num_mel_bins": int, "max_length": int,
                 "padding_value": float, "do_normalize": bool, "mean": float, "std": float, "return_attention_mask": bool}
        return cls(**settings(data, types, "AST feature"))

    def to_dict(self) -> dict[str, Any]:
        return {"feature_extractor_type": "ASTFeatureExtractor", "feature_size": self.feature_size,
                "sampling_rate": self.sampling_rate, "num_mel_bins": self.num_mel_bins, "max_length": self.max_length,
                "padding_value": self.padding_value, "do_normalize": self.do_normalize, "mean": self.mean,
                "std": self.std, "return_attention_mask": self.return_attention_mask, "padding_side": "right"}

    def save_pretrained(self, folder: Any) -> None:
        write(folder, self.to_dict())
