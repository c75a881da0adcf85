"""Checkpoint formats: a folder -> what it holds (format, model type, config, tensors), before any model exists.

Formats read files; they know nothing of model families. A family declares how a non-hub
format's names and config map onto its hub keys (`PreTrainedModel.checkpoint_converters`).

  hub           config.json + model.safetensors (single or sharded; pickle only on request)
  ctranslate2   model.bin + CTranslate2's config.json (faster-whisper folders)
  gguf          one `.gguf` file (llama.cpp): metadata + block-quantised tensors, named by `gguf_file=`
                or found alone in a folder without config.json
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import read_config_dict
from ..errors import CheckpointNotFoundError
from ..files import checkpoint_file, inside
from . import ctranslate2, gguf, safetensors


@dataclass
class Checkpoint:
    """A checkpoint folder, opened: its format, model type and config; tensors are read by `load()`."""

    folder: Path
    format: str  # "hub" | "ctranslate2" | "gguf"
    model_type: str | None
    config: dict[str, Any]  # hub: config.json; ctranslate2: CTranslate2's own config.json
    allow_pickle: bool = False
    # format facts (ctranslate2: the spec name; gguf: the file, and "quantized": hub weight key -> (block type,
    # raw blocks) of the 4-bit-capable linear weights, set by the family's converter)
    metadata: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        """The stored tensors: a state dict (hub; gguf: in GGUF names) or the format's own container
        (ctranslate2: `CT2Model`)."""
        if self.format == "gguf":
            return self.metadata["gguf"].tensors()
        if self.format == "ctranslate2":
            return ctranslate2.read_model_bin(inside(self.folder, "model.bin"))
        return safetensors.read_state_dict(self.folder, allow_pickle=self.allow_pickle)


def open_checkpoint(folder: str | os.PathLike, *, allow_pickle: bool = False, gguf_file: str | None = None) -> Checkpoint:
    """Identify the checkpoint in `folder` (a local folder: hub ids are resolved before, once).
    `gguf_file` names a `.gguf` file inside it (a folder with one GGUF file and no config.json needs no name)."""
    folder = Path(folder)
    name = gguf_file if gguf_file is not None else lone_gguf(folder)
    if name is not None:
        opened = gguf.open_gguf(inside(folder, name, what="gguf_file"))
        return Checkpoint(folder, "gguf", opened.architecture, {}, metadata={"gguf": opened})
    if ctranslate2.is_ctranslate2_folder(folder):
        spec = ctranslate2.read_spec_name(inside(folder, "model.bin"))
        return Checkpoint(folder, "ctranslate2", ctranslate2.model_type_of(spec),
                          ctranslate2.read_ctranslate2_config(folder), metadata={"spec": spec})
    config = read_config_dict(folder)
    return Checkpoint(folder, "hub", config.get("model_type"), config, allow_pickle=allow_pickle)


def lone_gguf(folder: Path) -> str | None:
    """The GGUF file of a folder that holds nothing else to load (no config.json)."""
    if not folder.is_dir() or checkpoint_file(folder, "config.json") is not None:
        return None
    found = gguf.gguf_files(folder)
    if len(found) > 1:
        raise CheckpointNotFoundError(f"{folder} holds several GGUF files ({', '.join(found)}); name one with "
                                      f"gguf_file=..., e.g. from_pretrained(folder, gguf_file={found[0]!r}).")
    return found[0] if found else None


__all__ = ["Checkpoint", "lone_gguf", "open_checkpoint"]
