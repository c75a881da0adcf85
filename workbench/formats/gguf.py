"""GGUF checkpoints (llama.cpp's single-file format): file -> metadata + dequantised tensors.

A `.gguf` file holds key/value metadata (architecture, sizes, the tokenizer's vocabulary and
chat template) and tensors, most of them block-quantised. The file is read with the `gguf`
package (maintained with llama.cpp); its dequantisers turn each supported type into float32
numpy, which becomes torch here. Names stay llama.cpp's (`blk.0.attn_q.weight`): each family
maps them onto its hub keys and undoes what llama.cpp's converter changed (the family's
`checkpoint_converters["gguf"]`).

Shapes: GGUF lists dimensions fastest-first (`[in, out]`); the arrays come back row-major
(`(out, in)`), which is torch's `nn.Linear` layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointNotFoundError, WeightsError

if TYPE_CHECKING:  # numpy, torch and gguf are imported by the reader itself: naming a format stays cheap
    import torch

SUFFIX = ".gguf"
# The tensor types we dequantise (llama.cpp's common choices); others are refused with their name.
SUPPORTED_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K")


@dataclass
class GGUFFile:
    """An opened GGUF file: its metadata; tensors are dequantised by `tensors()`."""

    path: Path
    metadata: dict[str, Any]  # key -> value (strings, numbers, lists), as stored
    tensor_types: dict[str, str]  # tensor name -> its stored type ("Q4_1", "F32", ...)

    @property
    def architecture(self) -> str | None:
        return self.metadata.get("general.architecture")

    def get(self, key: str, default: Any = None) -> Any:
        """A metadata value; keys starting with "." are taken under the architecture (".block_count")."""
        if key.startswith("."):
            key = f"{self.architecture}{key}"
        return self.metadata.get(key, default)

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor, dequantised to float32 (F16/BF16 files keep their dtype), by its GGUF name."""
        return read_tensors(self.path)


def gguf_files(folder: Path) -> list[str]:
    """The `.gguf` file names directly inside `folder`, sorted."""
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.name.endswith(SUFFIX))


def _reader(path: Path) -> Any:
    try:
        from gguf import GGUFReader
    except ImportError as err:  # a runtime dependency, but say what to do if it was left out
        raise WeightsError("reading .gguf files needs the `gguf` package: pip install gguf") from err
    try:
        return GGUFReader(str(path), "r")
    except Exception as err:  # ValueError on a bad magic/version, struct errors on truncation
        raise WeightsError(f"{path} could not be read as GGUF ({type(err).__name__}: {err}); the file is damaged or "
                           "not a GGUF checkpoint: download it again.") from err


def _value(field: Any) -> Any:
    from gguf import GGUFValueType

    value = field.contents()
    if field.types and field.types[0] == GGUFValueType.ARRAY and not isinstance(value, list):
        value = list(value)
    return value


def open_gguf(path: str | os.PathLike) -> GGUFFile:
    """Read a GGUF file's metadata and tensor table (tensor data stays on disk, memory-mapped)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(f"{path} does not exist; pass gguf_file= the name of a .gguf file in the folder.")
    reader = _reader(path)
    metadata = {name: _value(field) for name, field in reader.fields.items() if not name.startswith("GGUF.")}
    return GGUFFile(path, metadata, {t.name: t.tensor_type.name for t in reader.tensors})


def read_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """All tensors of a GGUF file as torch tensors in row-major `(out, in)` layout."""
    import numpy as np
    import torch
    from gguf import GGMLQuantizationType, quants

    path = Path(path)
    out: dict[str, torch.Tensor] = {}
    for tensor in _reader(path).tensors:
        kind = tensor.tensor_type.name
        if kind not in SUPPORTED_TYPES:
            raise WeightsError(f"{path}: tensor {tensor.name!r} is stored as {kind}, which this reader does not "
                               f"dequantise (it reads {', '.join(SUPPORTED_TYPES)}); convert the file to one of those "
                               "with llama.cpp's llama-quantize.")
        shape = tuple(int(n) for n in reversed(tensor.shape.tolist()))  # GGUF lists dims fastest-first
        if tensor.tensor_type == GGMLQuantizationType.F16:
            array = np.asarray(tensor.data).view(np.float16).reshape(shape)
            out[tensor.name] = torch.from_numpy(array.copy())
        elif tensor.tensor_type == GGMLQuantizationType.BF16:
            raw = np.asarray(tensor.data).view(np.int16).reshape(shape)
            out[tensor.name] = torch.from_numpy(raw.copy()).view(torch.bfloat16)
        else:
            array = quants.dequantize(np.asarray(tensor.data), tensor.tensor_type)
            out[tensor.name] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32).reshape(shape))
    return out


__all__ = ["GGUFFile", "SUPPORTED_TYPES", "gguf_files", "open_gguf", "read_tensors"]
