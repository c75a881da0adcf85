"""What the audio pipelines over a feature extractor share (audio classification, CTC transcription).

Inputs are what `workbench.processors.load_audio` reads (a path, bytes, an array at the model's rate,
`{"array"/"raw", "sampling_rate"}`): it scales integer PCM, mixes down and resamples. Clips of equal
length run as one batch; clips of other lengths run apart, never padded together: a Wav2Vec2 model
without an attention mask (the base models) would hear the padding, and the reference pipeline runs
one clip at a time, so results stay the same as one by one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..processors.audio import AudioInput, load_audio
from .base import Pipeline

SMALL_MODEL = 1_000_000  # parameters: below this the model runs on one thread (see `_threads`)
AUDIO_TYPES = (str, os.PathLike, bytes, bytearray, np.ndarray, torch.Tensor, dict, AudioInput)


@contextlib.contextmanager
def _threads(model: torch.nn.Module) -> Iterator[None]:
    """One thread for a small model: each of its ops is too little work to split, and on a busy machine every
    parallel op waits for a descheduled second thread (a tiny keyword spotter's 119-window timeline took 3 s on
    two threads under load, 0.4 s on one). Larger models keep every thread."""
    before = torch.get_num_threads()
    small = before > 1 and sum(p.numel() for p in model.parameters()) < SMALL_MODEL
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(before)


def default_feature_extractor(model: torch.nn.Module) -> Any:
    """A checkpoint without preprocessor_config.json gets its family's defaults (sized from the model config)."""
    config = model.config
    if config.model_type == "audio-spectrogram-transformer":
        from ..processors.fbank import ASTFeatureExtractor

        return ASTFeatureExtractor(num_mel_bins=config.num_mel_bins, max_length=config.max_length)
    from ..processors.wav2vec2 import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(return_attention_mask=config.feat_extract_norm == "layer")


class AudioPipeline(Pipeline):
    """A pipeline whose processor turns audio into `input_values` (Wav2Vec2, AST)."""

    def __init__(self, model: torch.nn.Module, processor: Any = None, *, device: Any = None, batch_size: int = 8) -> None:
        super().__init__(model, processor, device=device, batch_size=batch_size)
        features = getattr(self.processor, "feature_extractor", self.processor)
        if not callable(getattr(features, "from_dict", None)) or not hasattr(features, "sampling_rate"):
            features = default_feature_extractor(model)  # a tokenizer or nothing usable was given
        self.feature_extractor = features

    @property
    def sampling_rate(self) -> int:
        return int(self.feature_extractor.sampling_rate)

    def _check_type(self, item: Any, index: int) -> None:
        if not isinstance(item, AUDIO_TYPES):
            raise InputError(
                f"the {self.task!r} pipeline expects audio; input {index} is a {type(item).__name__}. Pass a file path, "
                f"bytes, a numpy array at {self.sampling_rate} Hz, or {{'array': samples, 'sampling_rate': rate}}.")

    def load(self, item: Any) -> np.ndarray:
        return load_audio(item, target_sr=self.sampling_rate).array

    def logits(self, arrays: Sequence[np.ndarray], batch_size: int | None = None,
               done: Callable[[int], None] | None = None, model: torch.nn.Module | None = None) -> list[torch.Tensor]:
        """Model logits per clip (float32, on the CPU); equal-length clips share a forward pass.
        `done(n)` is told after each pass how many clips it finished (progress bars, panels); `model` replaces
        the pipeline's (its bfloat16 copy for a fast timeline)."""
        size = batch_size or self.batch_size
        model = self.model if model is None else model
        out: list[torch.Tensor | None] = [None] * len(arrays)
        by_length: dict[int, list[int]] = {}
        for i, a in enumerate(arrays):
            by_length.setdefault(len(a), []).append(i)
        with torch.inference_mode(), _threads(model):
            for rows in by_length.values():
                for start in range(0, len(rows), size):
                    part = rows[start : start + size]
                    inputs = self.feature_extractor([arrays[i] for i in part], device=self.device)
                    logits = model(**inputs).logits.float().cpu()
                    for i, row in zip(part, logits):
                        out[i] = row
                    if done is not None:
                        done(len(part))
        return out  # type: ignore[return-value]
