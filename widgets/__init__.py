"""Notebook panels for the workbench (ipywidgets/anywidget). Names load lazily.

To add a panel: write `widgets/<name>.py` and add its class to `_EXPORTS`.
"""

from __future__ import annotations

from workbench._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "Panel": "widgets._base",
    "Transcribe": "widgets.transcribe",
    "AudioClassifier": "widgets.audio_classifier",
    "FillMask": "widgets.text_panels",
    "TextClassifier": "widgets.text_panels",
    "NER": "widgets.text_panels",
    "QuestionAnswering": "widgets.text_panels",
    "Similarity": "widgets.text_panels",
    "AttentionView": "widgets.attention",
    "FineTune": "widgets.finetune",
    "Summarize": "widgets.seq2seq",
    "Translate": "widgets.seq2seq",
    "Detect": "widgets.detect",
    "ImageClassifier": "widgets.image_classifier",
    "Generate": "widgets.generate",
    "Segment": "widgets.segment",
    "Depth": "widgets.depth",
    "ZeroShotImageClassifier": "widgets.zero_shot_image",
    "SegmentAnything": "widgets.segment_anything",
    "Compare": "widgets.compare",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
