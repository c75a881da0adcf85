"""`Auto*` classes: read `model_type` from config.json and pick the family's class."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from .config import PretrainedConfig, read_config_dict
from .errors import InputError
from .models import family, model_class


class AutoConfig:
    @staticmethod
    def from_pretrained(name_or_path: str | os.PathLike, *, revision: str | None = None, **overrides: Any) -> PretrainedConfig:
        from .hub import resolve_model_folder

        folder = resolve_model_folder(name_or_path, revision=revision)
        data = read_config_dict(folder)
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
    def model_class_for(cls, model_type: str) -> type:
        return model_class(model_type, cls.task)

    @classmethod
    def _model_type(cls, folder: Path) -> str | None:
        return read_config_dict(folder).get("model_type")

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, *, revision: str | None = None, **kwargs: Any):
        """Load any supported checkpoint with this task's head. See `PreTrainedModel.from_pretrained`."""
        from .hub import resolve_model_folder

        hub_kwargs = {k: kwargs.pop(k) for k in ("cache_dir", "local_files_only", "token") if k in kwargs}
        folder = resolve_model_folder(name_or_path, revision=revision, **hub_kwargs)
        loaded = cls.model_class_for(cls._model_type(folder)).from_pretrained(folder, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        model.config.name_or_path = str(name_or_path)
        return loaded

    @classmethod
    def from_config(cls, config: PretrainedConfig, **kwargs: Any):
        return cls.model_class_for(config.model_type).from_config(config, **kwargs)


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


class AutoTokenizer:
    @staticmethod
    def from_pretrained(name_or_path: str | os.PathLike, *, revision: str | None = None, **kwargs: Any):
        from .tokenizer import Tokenizer

        return Tokenizer.from_pretrained(name_or_path, revision=revision, **kwargs)

    @staticmethod
    def for_model(model: Any, *, needed_by: str):
        """The tokenizer saved with a loaded model (found through `config.name_or_path`)."""
        name = getattr(getattr(model, "config", None), "name_or_path", "") or ""
        if not name:
            raise InputError(
                f"{needed_by} got a model object without a tokenizer and cannot tell where the model came from; "
                "pass tokenizer=... (a hub id, a folder or a workbench Tokenizer)."
            )
        return AutoTokenizer.from_pretrained(name)


class AutoModelForSpeechSeq2Seq(_AutoModel):
    """Speech -> text (Whisper). Also reads CTranslate2 folders (model.bin, no model_type in config.json)."""

    task = "speech-seq2seq"

    @classmethod
    def _model_type(cls, folder: Path) -> str | None:
        from .models.ctranslate2_reader import is_ctranslate2_folder

        return "whisper" if is_ctranslate2_folder(folder) else super()._model_type(folder)
