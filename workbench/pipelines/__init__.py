"""`pipeline(task, model=...)`: the task API. Task modules are imported on first use.

To add a task: write `workbench/pipelines/<task>.py` with a `Pipeline` subclass and add one
line to `TASKS` (and its aliases to `ALIASES`).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from ..errors import InputError

# task -> (module, class name)
TASKS: dict[str, tuple[str, str]] = {
    "automatic-speech-recognition": ("workbench.pipelines.automatic_speech_recognition", "AutomaticSpeechRecognitionPipeline"),
    "audio-classification": ("workbench.pipelines.audio_classification", "AudioClassificationPipeline"),
    "fill-mask": ("workbench.pipelines.fill_mask", "FillMaskPipeline"),
    "text-classification": ("workbench.pipelines.text_classification", "TextClassificationPipeline"),
    "token-classification": ("workbench.pipelines.token_classification", "TokenClassificationPipeline"),
    "question-answering": ("workbench.pipelines.question_answering", "QuestionAnsweringPipeline"),
    "zero-shot-classification": ("workbench.pipelines.zero_shot", "ZeroShotClassificationPipeline"),
    "feature-extraction": ("workbench.pipelines.feature_extraction", "FeatureExtractionPipeline"),
    "sentence-similarity": ("workbench.pipelines.feature_extraction", "SentenceSimilarityPipeline"),
    "text2text-generation": ("workbench.pipelines.text2text_generation", "Text2TextGenerationPipeline"),
    "summarization": ("workbench.pipelines.text2text_generation", "SummarizationPipeline"),
    "translation": ("workbench.pipelines.text2text_generation", "TranslationPipeline"),
    "image-classification": ("workbench.pipelines.image_classification", "ImageClassificationPipeline"),
    "object-detection": ("workbench.pipelines.object_detection", "ObjectDetectionPipeline"),
    "image-segmentation": ("workbench.pipelines.image_segmentation", "ImageSegmentationPipeline"),
    "depth-estimation": ("workbench.pipelines.depth_estimation", "DepthEstimationPipeline"),
    "text-generation": ("workbench.pipelines.text_generation", "TextGenerationPipeline"),
    "mask-generation": ("workbench.pipelines.mask_generation", "MaskGenerationPipeline"),
    "zero-shot-image-classification": ("workbench.pipelines.zero_shot_image_classification",
                                       "ZeroShotImageClassificationPipeline"),
    "zero-shot-object-detection": ("workbench.pipelines.zero_shot_object_detection",
                                   "ZeroShotObjectDetectionPipeline"),
}
# Tasks named with parameters: "translation_en_to_de" is the translation task for that language pair.
PARAMETRIZED = {"translation": re.compile(r"translation_[A-Za-z-]+_to_[A-Za-z-]+")}
# alias -> task
ALIASES: dict[str, str] = {
    "asr": "automatic-speech-recognition",
    "sentiment-analysis": "text-classification",
    "ner": "token-classification",
}


def supported_tasks() -> list[str]:
    return sorted(TASKS) + sorted(ALIASES) + ["translation_xx_to_yy"]


def task_of(name: str) -> str:
    """The task a name stands for: an alias's task, a parametrized name's task, or the name itself."""
    name = ALIASES.get(name, name)
    return next((task for task, pattern in PARAMETRIZED.items() if pattern.fullmatch(name)), name)


def pipeline_class(task: str) -> type:
    task = task_of(task)
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; supported tasks: {', '.join(supported_tasks()) or 'none yet'}.")
    module, name = TASKS[task]
    return getattr(importlib.import_module(module), name)


def pipeline(
    task: str,
    model: Any = None,
    tokenizer: Any = None,
    *,
    device: Any = None,
    dtype: Any = None,
    revision: str | None = None,
    **kwargs: Any,
):
    """Build the pipeline for `task`. `model`: a hub id, a local folder, or a loaded model (None: the task default).
    `tokenizer` (or `processor=`): a tokenizer/processor object or a name; None loads the checkpoint's own."""
    cls = pipeline_class(task)
    if task_of(task) != ALIASES.get(task, task):  # a parametrized name: the pipeline reads its parameters
        kwargs["task"] = task
    if cls.task == "automatic-speech-recognition" and model is not None:
        # Speech recognition has two pipelines: Whisper's (the task's class) and CTC's (Wav2Vec2ForCTC);
        # the checkpoint's model type picks.
        from .ctc_speech_recognition import CTCSpeechRecognitionPipeline, handles

        if handles(model, revision):
            cls = CTCSpeechRecognitionPipeline
    processor = kwargs.pop("processor", None)
    if processor is not None and tokenizer is not None:
        raise InputError("pass tokenizer= or processor=, not both.")
    return cls.create(model, processor if processor is not None else tokenizer, device=device, dtype=dtype,
                      revision=revision, **kwargs)


__all__ = ["pipeline", "pipeline_class", "supported_tasks", "task_of", "TASKS", "ALIASES", "PARAMETRIZED"]
