"""`AutoProcessor`: what a checkpoint needs to turn raw inputs into model tensors.

Read from the checkpoint's own files, as the reference does: `preprocessor_config.json`
(`processor_class`, `feature_extractor_type`, `image_processor_type`) and the tokenizer files;
a family without those files (a CTranslate2 Whisper folder) is recognised by its model type.
A text-only checkpoint gets its `Tokenizer`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError
from ..files import checkpoint_file, read_json_object
from ..hub import allow_patterns_for, resolve_model_folder

PREPROCESSOR_CONFIG = "preprocessor_config.json"
PROCESSOR_CONFIG = "processor_config.json"


def _whisper(folder: Path, config: dict[str, Any]) -> Any:
    from ..tokenizer import Tokenizer
    from .audio import WhisperFeatureExtractor, WhisperProcessor

    return WhisperProcessor(WhisperFeatureExtractor.from_dict(config), Tokenizer.from_pretrained(folder))


def _wav2vec2(folder: Path, config: dict[str, Any]) -> Any:
    """The feature extractor, with the CTC tokenizer when the checkpoint has a vocabulary (keyword spotters have none)."""
    from .wav2vec2 import VOCAB_FILE, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2Processor

    features = Wav2Vec2FeatureExtractor.from_dict(config)
    if checkpoint_file(folder, VOCAB_FILE) is None:
        return features
    return Wav2Vec2Processor(features, Wav2Vec2CTCTokenizer.from_pretrained(folder))


def _ast(folder: Path, config: dict[str, Any]) -> Any:
    from .fbank import ASTFeatureExtractor

    return ASTFeatureExtractor.from_dict(config)


def _tokenizer(folder: Path, config: dict[str, Any], gguf_file: str | None = None) -> Any:
    from ..tokenizer import Tokenizer

    return Tokenizer.from_pretrained(folder, gguf_file=gguf_file)


def _image(folder: Path, config: dict[str, Any]) -> Any:
    from .image import ImageProcessor

    return ImageProcessor.from_dict(config)


def _sam(folder: Path, config: dict[str, Any]) -> Any:
    from .sam import SamProcessor

    return SamProcessor.from_dict(config)


def _owlv2_image(folder: Path, config: dict[str, Any]) -> Any:
    from .owlv2 import Owlv2ImageProcessor

    return Owlv2ImageProcessor.from_dict({"image_processor_type": "Owlv2ImageProcessor", **config})


def _owlv2(folder: Path, config: dict[str, Any]) -> Any:
    from ..tokenizer import Tokenizer
    from .image_text import ImageTextProcessor

    return ImageTextProcessor(_owlv2_image(folder, config), Tokenizer.from_pretrained(folder))


def _oneformer(folder: Path, config: dict[str, Any]) -> Any:
    from ..tokenizer import Tokenizer
    from .oneformer import TASK_SEQ_LENGTH, OneFormerProcessor

    image = _image(folder, {"image_processor_type": "OneFormerImageProcessor", **config})
    length = config.get("task_seq_length")
    if length is None:  # not saved with the processor: the length the model's task MLP reads
        model_config = checkpoint_file(folder, "config.json")
        length = read_json_object(model_config).get("task_seq_len") if model_config else None
    length = int(length or TASK_SEQ_LENGTH)
    return OneFormerProcessor(image, Tokenizer.from_pretrained(folder), length)


def _image_text(folder: Path, config: dict[str, Any]) -> Any:
    from ..tokenizer import Tokenizer
    from .image_text import ImageTextProcessor

    return ImageTextProcessor(_image(folder, config), Tokenizer.from_pretrained(folder))


# A name from preprocessor_config.json (or a model type) -> what builds its processor.
BUILDERS: dict[str, Callable[[Path, dict[str, Any]], Any]] = {
    "WhisperProcessor": _whisper,
    "WhisperFeatureExtractor": _whisper,
    "whisper": _whisper,
    "ViTImageProcessor": _image,
    "ViTFeatureExtractor": _image,
    "DeiTImageProcessor": _image,
    "DeiTFeatureExtractor": _image,
    "CLIPImageProcessor": _image,
    "CLIPFeatureExtractor": _image,
    "DetrImageProcessor": _image,
    "DetrFeatureExtractor": _image,
    "SegformerImageProcessor": _image,
    "SegformerFeatureExtractor": _image,
    "DPTImageProcessor": _image,
    "DPTFeatureExtractor": _image,
    "Mask2FormerImageProcessor": _image,
    "SiglipImageProcessor": _image,
    "Owlv2ImageProcessor": _owlv2_image,
    "Owlv2Processor": _owlv2,
    "SamImageProcessor": _sam,
    "SamProcessor": _sam,
    # model types (config.json), looked up first: dual encoders get the image processor and the tokenizer together
    "clip": _image_text,
    "siglip": _image_text,
    "clipseg": _image_text,
    "CLIPSegProcessor": _image_text,
    "owlv2": _owlv2,
    "oneformer": _oneformer,
    "OneFormerProcessor": _oneformer,
    "OneFormerImageProcessor": _oneformer,
    "sam": _sam,
    "Wav2Vec2Processor": _wav2vec2,
    "Wav2Vec2FeatureExtractor": _wav2vec2,
    "wav2vec2": _wav2vec2,
    "ASTFeatureExtractor": _ast,
    "audio-spectrogram-transformer": _ast,
}


def read_preprocessor_config(folder: Path) -> dict[str, Any]:
    path = checkpoint_file(folder, PREPROCESSOR_CONFIG)
    if path:
        return read_json_object(path)
    # The reference 5.x saves a processor as one processor_config.json with the feature extractor (or the image
    # processor) nested inside.
    nested = checkpoint_file(folder, PROCESSOR_CONFIG)
    if nested is None:
        return {}
    data = read_json_object(nested)
    features = data.get("feature_extractor") or data.get("image_processor")
    return {**(features if isinstance(features, dict) else {}), "processor_class": data.get("processor_class")}


def model_type_of(folder: Path) -> str | None:
    """`model_type` from the folder's config.json, if it has one."""
    path = checkpoint_file(folder, "config.json")
    return read_json_object(path).get("model_type") if path else None


class AutoProcessor:
    @staticmethod
    def from_pretrained(name_or_path: str | os.PathLike, *, revision: str | None = None,
                        model_type: str | None = None, gguf_file: str | None = None) -> Any:
        """The processor of a checkpoint folder or hub id (`model_type` helps folders without their own config;
        `gguf_file`: a GGUF file whose metadata holds the tokenizer)."""
        folder = resolve_model_folder(name_or_path, revision=revision, allow_patterns=allow_patterns_for(gguf_file))
        config = read_preprocessor_config(folder)
        model_type = model_type or model_type_of(folder)
        if model_type in BUILDERS:  # a family with its own processor (the image processor's name alone says less)
            return BUILDERS[model_type](folder, config)
        for key in ("processor_class", "feature_extractor_type", "image_processor_type"):
            name = config.get(key)
            if name in BUILDERS:
                return BUILDERS[name](folder, config)
        return _tokenizer(folder, config, gguf_file)

    @staticmethod
    def for_model(model: Any, *, needed_by: str) -> Any:
        """The processor saved with a loaded model (found through `config.name_or_path`)."""
        config = getattr(model, "config", None)
        name = getattr(config, "name_or_path", "") or ""
        if not name:
            raise InputError(
                f"{needed_by} got a model object without a tokenizer or processor and cannot tell where the model "
                "came from; pass tokenizer=... (a hub id, a folder or a workbench Tokenizer)."
            )
        return AutoProcessor.from_pretrained(name, model_type=getattr(config, "model_type", None))


def tokenizer_of(processor: Any) -> Any:
    """The tokenizer inside a processor (or the processor itself when it is a tokenizer)."""
    return getattr(processor, "tokenizer", None) or processor
