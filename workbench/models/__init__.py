"""The model registry: `model_type` (from config.json) -> the family module that implements it.

Families are imported on first use, so `import workbench` does not pay for all of them.
Each family module defines `CONFIG` (its config class) and `HEADS` (task name -> model class).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import UnsupportedModelError

FAMILIES: dict[str, str] = {
    "bert": "workbench.models.bert",
    "roberta": "workbench.models.roberta",
    "distilbert": "workbench.models.distilbert",
    "electra": "workbench.models.electra",
    "whisper": "workbench.models.whisper",
    "bart": "workbench.models.bart",
    "t5": "workbench.models.t5",
    "wav2vec2": "workbench.models.wav2vec2",
    "audio-spectrogram-transformer": "workbench.models.audio_spectrogram_transformer",
    "vit": "workbench.models.vit",
    "detr": "workbench.models.detr",
    "segformer": "workbench.models.segformer",
    "dinov2": "workbench.models.dinov2",
    "depth_anything": "workbench.models.depth_anything",
    "swin": "workbench.models.swin",
    "mask2former": "workbench.models.mask2former",
    "oneformer": "workbench.models.oneformer",
    "gpt2": "workbench.models.gpt2",
    "llama": "workbench.models.llama",
    "clip": "workbench.models.clip",
    "siglip": "workbench.models.siglip",
    "clipseg": "workbench.models.clipseg",
    "owlv2": "workbench.models.owlv2",
    "sam": "workbench.models.sam",
}
# llama.cpp architectures (a GGUF file's `general.architecture`) whose family converts GGUF files
# (its `checkpoint_converters["gguf"]`, with its tensor-name map in its own file)
GGUF_ARCHITECTURES: tuple[str, ...] = ("gpt2", "llama")


def family(model_type: str | None) -> ModuleType:
    if model_type not in FAMILIES:
        raise UnsupportedModelError(
            f"unknown model_type {model_type!r} in config.json; supported model types: {', '.join(sorted(FAMILIES))}."
        )
    return importlib.import_module(FAMILIES[model_type])


def model_class(model_type: str | None, task: str) -> type:
    heads = family(model_type).HEADS
    if task not in heads:
        raise UnsupportedModelError(
            f"{model_type!r} models have no {task!r} head here; available heads: {', '.join(heads)}."
        )
    return heads[task]
