"""Model configs: `config.json` in, `config.json` out, field names exactly as in the file.

Each family declares its config as a dataclass: every field it reads, spelled as in
`config.json`, with its default visible. Unknown keys are kept and written back, so a config
we load and save loses nothing a hub checkpoint (or another tool) put there. Values that
cannot build a model (a zero layer count, heads that do not divide the hidden size) are
refused with an error that names the field.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .errors import CheckpointNotFoundError, ConfigError, UnsupportedModelError, WorkbenchError
from .files import checkpoint_file, read_json_object

CONFIG_NAME = "config.json"

# The decorator every family config uses: our own __init__ (unknown keys are kept), __eq__ and __repr__.
config_dataclass = dataclass(init=False, eq=False, repr=False)


@config_dataclass
class PretrainedConfig:
    """Base config: the fields every model has. Families subclass it with `@config_dataclass`.

    `attribute_map` maps a common alias to the field name the family's files use
    (DistilBERT: `hidden_size` -> `dim`), so code can read `config.hidden_size` everywhere.
    `positive_fields` must be integers >= 1; each `(a, b)` in `divisible_fields` needs a % b == 0.
    """

    model_type: ClassVar[str] = ""
    attribute_map: ClassVar[dict[str, str]] = {}
    positive_fields: ClassVar[tuple[str, ...]] = ()
    divisible_fields: ClassVar[tuple[tuple[str, str], ...]] = ()

    architectures: list[str] | None = None
    problem_type: str | None = None
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    tie_word_embeddings: bool = True
    is_decoder: bool = False
    id2label: dict[int, str] = field(default_factory=dict)
    label2id: dict[str, int] = field(default_factory=dict)

    def __init__(self, **kwargs: Any) -> None:
        num_labels = kwargs.pop("num_labels", None)
        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        kwargs.pop("model_type", None)
        for f in dataclasses.fields(self):
            if f.name in ("id2label", "label2id"):
                continue
            if f.name in kwargs:
                value = kwargs.pop(f.name)
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                value = copy.deepcopy(f.default)
            object.__setattr__(self, f.name, value)
        for key, value in kwargs.items():  # unknown keys (or aliases) are kept as they are
            setattr(self, key, value)
        self._set_labels(num_labels, id2label, label2id)
        self.validate()

    # -- aliases ---------------------------------------------------------------
    def __setattr__(self, key: str, value: Any) -> None:
        key = type(self).attribute_map.get(key, key)
        super().__setattr__(key, value)

    def __getattr__(self, key: str) -> Any:
        # Only called when normal lookup fails: resolve aliases, else a clear error.
        mapped = type(self).attribute_map.get(key)
        if mapped is not None:
            return getattr(self, mapped)
        raise AttributeError(f"{type(self).__name__} has no field {key!r}")

    # -- validation --------------------------------------------------------------
    def validate(self) -> None:
        """Refuse values no model can be built from, naming the field (never a ZeroDivisionError later)."""
        name = type(self).__name__
        for key in self.positive_fields:
            value = getattr(self, key, None)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"{name}.{key} = {value!r}: it must be a whole number of at least 1. "
                    f"Fix {key!r} in config.json (or the keyword you passed)."
                )
        for key, by in self.divisible_fields:
            a, b = getattr(self, key), getattr(self, by)
            if a % b:
                raise ConfigError(
                    f"{name}.{key} = {a} is not divisible by {by} = {b}: each of the {b} parts must get "
                    f"the same share. Fix {key!r} or {by!r} in config.json."
                )

    # -- labels ----------------------------------------------------------------
    def _set_labels(self, num_labels: int | None, id2label: dict | None, label2id: dict | None) -> None:
        if id2label is not None:
            id2label = {int(k): str(v) for k, v in id2label.items()}
            if num_labels is not None and num_labels != len(id2label):
                raise WorkbenchError(
                    f"num_labels={num_labels} disagrees with id2label, which has {len(id2label)} labels; "
                    "pass only one of them, or make them agree."
                )
        else:
            n = 2 if num_labels is None else int(num_labels)
            if n < 1:
                raise ConfigError(f"num_labels = {n}: a classification head needs at least 1 label.")
            id2label = {i: f"LABEL_{i}" for i in range(n)}
        object.__setattr__(self, "id2label", id2label)
        if label2id is not None and set(label2id) == set(id2label.values()):
            label2id = {str(k): int(v) for k, v in label2id.items()}
        else:
            label2id = {v: k for k, v in id2label.items()}
        object.__setattr__(self, "label2id", label2id)

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, n: int) -> None:
        if n != len(self.id2label):
            self._set_labels(n, None, None)

    # -- dict / file -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model_type": self.model_type}
        for key, value in self.__dict__.items():
            if key.startswith("_"):
                continue
            out[key] = copy.deepcopy(value)
        out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> "PretrainedConfig":
        data = {**data, **overrides}
        if "num_labels" in overrides and "id2label" not in overrides:
            data.pop("id2label", None)
            data.pop("label2id", None)
        return cls(**data)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save_pretrained(self, save_directory: str | os.PathLike) -> Path:
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / CONFIG_NAME
        path.write_text(self.to_json_string(), encoding="utf-8")
        return path

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, *, revision: str | None = None, **overrides: Any) -> "PretrainedConfig":
        """Read `config.json` from a folder or hub id; `overrides` replace fields (e.g. `num_labels=3`)."""
        from .hub import resolve_model_folder

        folder = resolve_model_folder(name_or_path, revision=revision)
        data = read_config_dict(folder)
        if cls is not PretrainedConfig and cls.model_type and data.get("model_type") not in (None, cls.model_type):
            raise UnsupportedModelError(
                f"{folder / CONFIG_NAME} is a {data.get('model_type')!r} config, not {cls.model_type!r}; "
                "use AutoConfig.from_pretrained to pick the right class."
            )
        return cls.from_dict(data, **overrides)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PretrainedConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"


def read_config_dict(folder: str | os.PathLike) -> dict[str, Any]:
    """`config.json` of a local folder as a dict, with errors that say what to do."""
    path = checkpoint_file(folder, CONFIG_NAME)
    if path is None:
        raise CheckpointNotFoundError(
            f"{Path(folder)} has no {CONFIG_NAME}. A model folder needs config.json next to its weights "
            "(model.safetensors); save one with model.save_pretrained(folder)."
        )
    return read_json_object(path)
