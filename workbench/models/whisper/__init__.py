"""Whisper (speech -> text): `modeling.py` the model, `decoding.py` its decoding rules,
`ctranslate2.py` the faster-whisper folder layout."""

from .modeling import (
    WhisperConfig,
    WhisperForConditionalGeneration,
    WhisperModel,
    WhisperPreTrainedModel,
    alignment_heads,
)

CONFIG = WhisperConfig
HEADS = {"base": WhisperModel, "speech-seq2seq": WhisperForConditionalGeneration}

__all__ = ["CONFIG", "HEADS", "WhisperConfig", "WhisperForConditionalGeneration", "WhisperModel",
           "WhisperPreTrainedModel", "alignment_heads"]
