"""`Auto*` classes: open a checkpoint, read its model type, build the family's class for one task.

One table: each Auto class names the head (task) it loads; each family's `HEADS` maps those
task names to its classes (`workbench.models`). A name is resolved to a folder once.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from .config import PretrainedConfig, read_config_dict
from .formats import open_checkpoint
from .hub import allow_patterns_for, resolve_model_folder
from .errors import UnsupportedModelError
from .models import GGUF_ARCHITECTURES, family, model_class
from .processors.auto import AutoProcessor, tokenizer_of

_HUB_OPTIONS = ("cache_dir", "local_files_only", "token")


class AutoConfig:
    @staticmethod
    def from_pretrained(name_or_path: str | os.PathLike, *, revision: str | None = None, **overrides: Any) -> PretrainedConfig:
        data = read_config_dict(resolve_model_folder(name_or_path, revision=revision))
        return family(data.get("model_type")).CONFIG.from_dict(data, **overrides)

    @staticmethod
    def for_model(model_type: str, **fields: Any) -> PretrainedConfig:
        """A fresh config of a family, e.g. `AutoConfig.for_model("bert", hidden_size=64)`."""
        return family(model_type).CONFIG(**fields)


class _AutoModel:
    task: ClassVar[str] = "base"

    def __init__(self) -> None:
        raise TypeError(f"{type(self).__name__} is not instantiated; use {type(self).__name__}.from_pretrained(...)")

    @classmethod
    def model_class_for(cls, model_type: str | None) -> type:
        return model_class(model_type, cls.task)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, *, revision: str | None = None,
                        allow_pickle: bool = False, output_loading_info: bool = False, gguf_file: str | None = None,
                        **kwargs: Any):
        """Load any supported checkpoint (hub layout or a format its family reads) with this task's head.
        `gguf_file`: a `.gguf` file inside the folder or hub repo. Options as `PreTrainedModel.from_pretrained`;
        extra keywords override config fields."""
        hub = {k: kwargs.pop(k) for k in _HUB_OPTIONS if k in kwargs}
        folder = resolve_model_folder(name_or_path, revision=revision, allow_patterns=allow_patterns_for(gguf_file), **hub)
        checkpoint = open_checkpoint(folder, allow_pickle=allow_pickle, gguf_file=gguf_file)
        if checkpoint.format == "gguf" and checkpoint.model_type not in GGUF_ARCHITECTURES:
            raise UnsupportedModelError(
                f"{checkpoint.metadata['gguf'].path.name} holds a {checkpoint.model_type!r} model (its "
                f"general.architecture); GGUF files load for the architectures {', '.join(GGUF_ARCHITECTURES)}. "
                "Load that model from its hub folder (config.json + safetensors) instead, if its family is supported.")
        model, report = cls.model_class_for(checkpoint.model_type).from_checkpoint(checkpoint, **kwargs)
        model.config.name_or_path = str(name_or_path)
        return (model, report) if output_loading_info else model

    @classmethod
    def from_config(cls, config: PretrainedConfig, **kwargs: Any):
        return cls.model_class_for(config.model_type).from_config(config, **kwargs)


# The table: Auto class -> the head it loads (a key of every family's HEADS).
class AutoModel(_AutoModel):
    task = "base"


class AutoModelForMaskedLM(_AutoModel):
    task = "masked-lm"


class AutoModelForSequenceClassification(_AutoModel):
    task = "sequence-classification"


class AutoModelForTokenClassification(_AutoModel):
    task = "token-classification"


class AutoModelForQuestionAnswering(_AutoModel):
    task = "question-answering"


class AutoModelForPreTraining(_AutoModel):
    task = "pretraining"


class AutoModelForSpeechSeq2Seq(_AutoModel):
    """Speech -> text (Whisper): hub folders and CTranslate2 folders (model.bin)."""

    task = "speech-seq2seq"


class AutoModelForSeq2SeqLM(_AutoModel):
    """Text -> text encoder-decoders (BART, T5): summarisation, translation, text2text generation."""

    task = "seq2seq-lm"


class AutoModelForAudioClassification(_AutoModel):
    """Audio -> clip labels (Wav2Vec2 keyword spotting, AST sound events)."""

    task = "audio-classification"


class AutoModelForCTC(_AutoModel):
    """Audio -> per-frame character scores, decoded with CTC's rules (Wav2Vec2)."""

    task = "ctc"


class AutoModelForImageClassification(_AutoModel):
    task = "image-classification"


class AutoModelForObjectDetection(_AutoModel):
    task = "object-detection"


class AutoModelForSemanticSegmentation(_AutoModel):
    """A class score per pixel (SegFormer)."""

    task = "semantic-segmentation"


class AutoModelForUniversalSegmentation(_AutoModel):
    """Mask classification: semantic, instance and panoptic segments from one model (Mask2Former; OneFormer, told
    which by its task input)."""

    task = "universal-segmentation"


class AutoBackbone(_AutoModel):
    """A vision body's feature maps at several strides (Swin, DINOv2): what dense heads read."""

    task = "backbone"


class AutoModelForDepthEstimation(_AutoModel):
    """Relative depth per pixel (Depth Anything)."""

    task = "depth-estimation"


class AutoModelForZeroShotImageClassification(_AutoModel):
    """Image-text dual encoders (CLIP, SigLIP): images scored against any labels."""

    task = "zero-shot-image-classification"


class AutoModelForZeroShotObjectDetection(_AutoModel):
    """Open-vocabulary detectors (OWLv2): boxes for any text query, or for what an example image shows."""

    task = "zero-shot-object-detection"


class AutoModelForMaskGeneration(_AutoModel):
    """Promptable segmenters (SAM): masks from points, boxes or masks on a cached image embedding."""

    task = "mask-generation"


class AutoModelForCausalLM(_AutoModel):
    """Decoders with a language-model head (GPT-2, Llama): hub folders and GGUF files (`gguf_file=`)."""

    task = "causal-lm"


class AutoTokenizer:
    @staticmethod
    def from_pretrained(name_or_path: str | os.PathLike, *, revision: str | None = None, **kwargs: Any):
        from .tokenizer import Tokenizer

        return Tokenizer.from_pretrained(name_or_path, revision=revision, **kwargs)

    @staticmethod
    def for_model(model: Any, *, needed_by: str):
        """The tokenizer saved with a loaded model (found through `config.name_or_path`)."""
        return tokenizer_of(AutoProcessor.for_model(model, needed_by=needed_by))


__all__ = [
    "AutoConfig", "AutoModel", "AutoModelForAudioClassification", "AutoModelForCTC", "AutoModelForCausalLM",
    "AutoModelForDepthEstimation", "AutoModelForImageClassification", "AutoModelForMaskGeneration", "AutoModelForMaskedLM",
    "AutoModelForObjectDetection", "AutoModelForPreTraining", "AutoModelForQuestionAnswering", "AutoModelForSeq2SeqLM",
    "AutoModelForSemanticSegmentation", "AutoModelForSequenceClassification", "AutoModelForSpeechSeq2Seq",
    "AutoModelForTokenClassification", "AutoModelForUniversalSegmentation", "AutoModelForZeroShotImageClassification",
    "AutoModelForZeroShotObjectDetection",
    "AutoProcessor", "AutoTokenizer",
]
