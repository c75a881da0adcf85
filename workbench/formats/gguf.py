"""GGUF checkpoints (llama.cpp's single-file format): file -> metadata + dequantised tensors.

A `.gguf` file holds key/value metadata (architecture, sizes, the tokenizer's vocabulary and
chat template) and tensors, most of them block-quantised. The header is parsed here (fast, see
below); the `gguf` package (maintained with llama.cpp) names the types and its dequantisers turn
each supported type into float32 numpy, which becomes torch here. Names stay llama.cpp's (`blk.0.attn_q.weight`): each family
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
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # row-major, torch's order
    kind: str  # "Q4_1", "F32", ...
    offset: int  # byte offset of the data from the file's start
    nbytes: int


@dataclass
class GGUFFile:
    """An opened GGUF file: its metadata and tensor table; tensors are dequantised by `tensors()`."""

    path: Path
    metadata: dict[str, Any]  # key -> value (strings, numbers, lists), as stored
    tensor_info: dict[str, TensorInfo]

    @property
    def architecture(self) -> str | None:
        return self.metadata.get("general.architecture")

    @property
    def tensor_types(self) -> dict[str, str]:
        return {name: info.kind for name, info in self.tensor_info.items()}

    def get(self, key: str, default: Any = None) -> Any:
        """A metadata value; keys starting with "." are taken under the architecture (".block_count")."""
        if key.startswith("."):
            key = f"{self.architecture}{key}"
        return self.metadata.get(key, default)

    def config_fields(self, mapping: dict[str, str]) -> dict[str, Any]:
        """config.json fields from metadata: `mapping` is metadata key (as `get` takes it) -> field; absent keys skipped."""
        values = {field: self.get(key) for key, field in mapping.items()}
        return {field: value for field, value in values.items() if value is not None}

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor, dequantised to float32 (F16/BF16 keep their dtype), by its GGUF name, `(out, in)` layout."""
        import numpy as np

        data = np.memmap(self.path, dtype=np.uint8, mode="r")
        return {name: _dequantize(self.path, info, data[info.offset : info.offset + info.nbytes])
                for name, info in self.tensor_info.items()}


    def blocks(self, name: str) -> torch.Tensor:
        """A tensor's stored bytes, one row of blocks per output row: (rows, bytes per row) uint8 (a copy)."""
        import numpy as np
        import torch

        info = self.tensor_info[name]
        data = np.memmap(self.path, dtype=np.uint8, mode="r")[info.offset : info.offset + info.nbytes]
        rows = int(np.prod(info.shape[:-1]))
        return torch.from_numpy(np.array(data).reshape(rows, -1))


def layer_pattern(name: str) -> tuple[str, str | None]:
    """A tensor name -> (its name with the layer index as "{}", the index): "blk.3.attn_q.weight" ->
    ("blk.{}.attn_q.weight", "3"); names outside the blocks come back as they are, with None."""
    parts = name.split(".")
    if parts[0] != "blk":
        return name, None
    return ".".join([parts[0], "{}", *parts[2:]]), parts[1]


def gguf_files(folder: Path) -> list[str]:
    """The `.gguf` file names directly inside `folder`, sorted."""
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.name.endswith(SUFFIX))


# -- the header --------------------------------------------------------------------------------------
# The layout (llama.cpp's gguf.md), little-endian: magic "GGUF", u32 version (2 or 3), u64 tensor count,
# u64 metadata count, then the key/value pairs (string key, u32 value type, value), then per tensor its
# string name, u32 n_dims, u64 dims (fastest first), u32 type, u64 offset into the aligned data section.
# We parse the header ourselves: `gguf.GGUFReader` builds a numpy view per array element, several seconds
# for a 49k-token vocabulary; this reads the same fields in a fraction of that. The `gguf` package still
# names the types and dequantises the blocks; tests check this parser against its reader.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class _Cursor:
    def __init__(self, buffer: bytes | memoryview, path: Path) -> None:
        self.buffer, self.at, self.path = buffer, 0, path

    def take(self, fmt: str) -> Any:
        import struct

        size = struct.calcsize(fmt)
        if self.at + size > len(self.buffer):
            raise WeightsError(f"{self.path} ended inside its header; the file is truncated: download it again.")
        value = struct.unpack_from(fmt, self.buffer, self.at)[0]
        self.at += size
        return value

    def string(self) -> str:
        n = self.take("<Q")
        raw = bytes(self.buffer[self.at : self.at + n])
        if len(raw) != n:
            raise WeightsError(f"{self.path} ended inside its header; the file is truncated: download it again.")
        self.at += n
        return raw.decode("utf-8", errors="replace")

    def value(self, kind: int) -> Any:
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item, count = self.take("<I"), self.take("<Q")
            if item in _SCALARS and item != 7:  # numbers: one numpy read instead of a Python loop
                import numpy as np

                dtype = np.dtype(_SCALARS[item])
                values = np.frombuffer(self.buffer, dtype=dtype, count=count, offset=self.at).tolist()
                self.at += dtype.itemsize * count
                return values
            return [self.value(item) for _ in range(count)]
        if kind not in _SCALARS:
            raise WeightsError(f"{self.path} has a metadata value of unknown type {kind}; the file is damaged or newer "
                               "than this reader.")
        return self.take(_SCALARS[kind])


def open_gguf(path: str | os.PathLike) -> GGUFFile:
    """Read a GGUF file's metadata and tensor table (tensor data stays on disk, memory-mapped)."""
    import mmap

    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(f"{path} does not exist; pass gguf_file= the name of a .gguf file in the folder.")
    with open(path, "rb") as handle:
        if handle.read(4) != b"GGUF":
            raise WeightsError(f"{path} is not a GGUF file (no 'GGUF' magic at its start); download it again.")
        handle.seek(0)
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
            cursor = _Cursor(memoryview(buffer), path)
            cursor.at = 4
            version = cursor.take("<I")
            if version not in (2, 3):
                raise WeightsError(f"{path} is GGUF version {version}; this reader reads versions 2 and 3.")
            n_tensors, n_values = cursor.take("<Q"), cursor.take("<Q")
            metadata = {}
            for _ in range(n_values):
                key = cursor.string()
                metadata[key] = cursor.value(cursor.take("<I"))
            raw = []
            for _ in range(n_tensors):
                name = cursor.string()
                dims = [cursor.take("<Q") for _ in range(cursor.take("<I"))]
                raw.append((name, dims, cursor.take("<I"), cursor.take("<Q")))
            align = int(metadata.get("general.alignment", 32))
            start = -(-cursor.at // align) * align
            cursor.buffer.release()
    size = path.stat().st_size
    info = {}
    for name, dims, kind, offset in raw:
        try:
            qtype = GGMLQuantizationType(kind)
        except ValueError:
            raise WeightsError(f"{path}: tensor {name!r} has an unknown type id {kind}.") from None
        block, type_size = GGML_QUANT_SIZES[qtype]
        count = 1
        for n in dims:
            count *= n
        nbytes = count // block * type_size
        if start + offset + nbytes > size:
            raise WeightsError(f"{path}: tensor {name!r} lies past the end of the file; it is truncated: download it again.")
        info[name] = TensorInfo(name, tuple(reversed(dims)), qtype.name, start + offset, nbytes)
    return GGUFFile(path, metadata, info)


def _dequantize(path: Path, info: TensorInfo, raw: Any) -> torch.Tensor:
    import numpy as np
    import torch
    from gguf import GGMLQuantizationType, quants

    if info.kind not in SUPPORTED_TYPES:
        raise WeightsError(f"{path}: tensor {info.name!r} is stored as {info.kind}, which this reader does not "
                           f"dequantise (it reads {', '.join(SUPPORTED_TYPES)}); convert the file to one of those "
                           "with llama.cpp's llama-quantize.")
    if info.kind == "F16":
        return torch.from_numpy(np.array(raw.view(np.float16)).reshape(info.shape))
    if info.kind == "BF16":
        return torch.from_numpy(np.array(raw.view(np.int16)).reshape(info.shape)).view(torch.bfloat16)
    if info.kind == "F32":
        return torch.from_numpy(np.array(raw.view(np.float32)).reshape(info.shape))
    qtype = GGMLQuantizationType[info.kind]
    block, type_size = quants.GGML_QUANT_SIZES[qtype]
    array = quants.dequantize(raw.reshape(-1, info.shape[-1] // block * type_size), qtype)  # rows of blocks
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32).reshape(info.shape))


def read_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """All tensors of a GGUF file as torch tensors in row-major `(out, in)` layout."""
    return open_gguf(path).tensors()


__all__ = ["GGUFFile", "SUPPORTED_TYPES", "TensorInfo", "gguf_files", "open_gguf", "read_tensors"]
