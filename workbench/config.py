"""Model configs: `config.json` in, `config.json` out, field names exactly as in the file.

Unknown keys are kept and written back, so a config we load and save loses nothing a
hub checkpoint (or another tool) put there.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, ClassVar

from .errors import CheckpointNotFoundError, UnsupportedModelError, WorkbenchError

CONFIG_NAME = "config.json"

# Fields every config has, with the reference library's defaults.
_COMMON_DEFAULTS: dict[str, Any] = {
    "architectures": None,
    "problem_type": None,
    "pad_token_id": None,
    "bos_token_id": None,
    "eos_token_id": None,
    "tie_word_embeddings": True,
    "is_decoder": False,
}


class PretrainedConfig:
    """Base config. Subclasses set `model_type`, `defaults` and `attribute_map`.

    `attribute_map` maps a common alias to the field name the family's files use
    (DistilBERT: `hidden_size` -> `dim`), so code can read `config.hidden_size` everywhere.
    """

    model_type: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    attribute_map: ClassVar[dict[str, str]] = {}

    def __init__(self, **kwargs: Any) -> None:
        num_labels = kwargs.pop("num_labels", None)
        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        kwargs.pop("model_type", None)
        for key, value in {**_COMMON_DEFAULTS, **copy.deepcopy(self.defaults)}.items():
            setattr(self, key, value)
        for key, value in kwargs.items():
            setattr(self, key, value)
        self._set_labels(num_labels, id2label, label2id)

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
            id2label = {i: f"LABEL_{i}" for i in range(2 if num_labels is None else int(num_labels))}
        self.id2label = id2label
        if label2id is not None and set(label2id) == set(id2label.values()):
            self.label2id = {str(k): int(v) for k, v in label2id.items()}
        else:
            self.label2id = {v: k for k, v in id2label.items()}

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
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise CheckpointNotFoundError(
            f"{Path(folder)} has no {CONFIG_NAME}. A model folder needs config.json next to its weights "
            "(model.safetensors); save one with model.save_pretrained(folder)."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise CheckpointNotFoundError(f"{path} is not valid JSON ({err}); re-download or re-save the checkpoint.") from err
    if not isinstance(data, dict):
        raise CheckpointNotFoundError(f"{path} must hold a JSON object, found {type(data).__name__}.")
    return data
