"""Input processors: turn raw inputs (audio, images) into model tensors. Names load lazily."""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "load_audio": "workbench.processors.audio",
    "AudioInput": "workbench.processors.audio",
    "WhisperFeatureExtractor": "workbench.processors.audio",
    "mel_filters": "workbench.processors.audio",
    "WhisperProcessor": "workbench.processors.audio",
    "AutoProcessor": "workbench.processors.auto",
    "Wav2Vec2FeatureExtractor": "workbench.processors.wav2vec2",
    "Wav2Vec2CTCTokenizer": "workbench.processors.wav2vec2",
    "Wav2Vec2Processor": "workbench.processors.wav2vec2",
    "ASTFeatureExtractor": "workbench.processors.fbank",
    "kaldi_fbank": "workbench.processors.fbank",
    "ImageProcessor": "workbench.processors.image",
    "to_rgb": "workbench.processors.image",
    "ImageTextProcessor": "workbench.processors.image_text",
    "OneFormerProcessor": "workbench.processors.oneformer",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
