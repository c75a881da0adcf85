"""CTranslate2 checkpoints (`model.bin`): file -> tensors + metadata. Families map the names.

A folder holds `model.bin`, `config.json` (CTranslate2's own: no `model_type`) and the
tokenizer files. The spec name in the file ("WhisperSpec") tells the model family; the
family's `ctranslate2` converter maps variable names onto its hub keys. The binary format is
what CTranslate2's `ModelSpec._serialize` writes, little-endian:

    u32 binary_version (we read 5 and 6)
    str spec_name ("WhisperSpec")         str = u16 length (incl. NUL), bytes, NUL
    u32 spec_revision
    u32 n_variables, then per variable:
        str name, u8 rank, u32 dims[rank], u8 dtype, u32 n_bytes, bytes
    u32 n_aliases, then per alias: str alias, str target_name

dtype ids follow ctranslate2::DataType: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16.
Quantized weights (int8/int16) carry a sibling `<name>_scale`; the float weight is `q / scale`.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import WeightsError
from ..files import checkpoint_file, read_json_object

if TYPE_CHECKING:  # numpy and torch are imported by the reader itself: recognising a folder stays cheap
    import torch

# ctranslate2::DataType ids -> numpy dtype strings (little-endian); 5 is bfloat16, widened by hand
DTYPES: dict[int, str] = {0: "<f4", 1: "i1", 2: "<i2", 3: "<i4", 4: "<f2"}
BFLOAT16 = 5


@dataclass
class CT2Model:
    spec: str
    revision: int
    binary_version: int
    variables: dict[str, torch.Tensor]  # float32 (quantized weights already divided by their scales)
    stored_dtypes: dict[str, str]  # name -> the dtype found in the file
    aliases: dict[str, str]
    path: Path | None = None

    def get(self, name: str) -> torch.Tensor:
        """A variable by name (or alias); a missing one is an error naming the file and the variable."""
        try:
            return self.variables[self.aliases.get(name, name)]
        except KeyError:
            raise WeightsError(f"{self.path or 'model.bin'} has no variable {name!r}, which a {self.spec} needs; "
                               "the file is damaged or incomplete: re-download or re-convert the checkpoint.") from None


def _read(handle: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    data = handle.read(size)
    if len(data) != size:
        raise WeightsError("model.bin ended early; the file is truncated, re-download the checkpoint.")
    return struct.unpack("<" + fmt, data)[0]


def _read_str(handle: BinaryIO) -> str:
    n = _read(handle, "H")
    raw = handle.read(n)
    if len(raw) != n:
        raise WeightsError("model.bin ended early; the file is truncated, re-download the checkpoint.")
    return raw.rstrip(b"\0").decode("utf-8")


def read_model_bin(path: str | os.PathLike) -> CT2Model:
    """Parse a CTranslate2 `model.bin` into float32 tensors (no pickle, no code execution)."""
    import numpy as np
    import torch

    path = Path(path)
    raw: dict[str, tuple[np.ndarray, int]] = {}
    with open(path, "rb") as handle:
        version = _read(handle, "I")
        if version not in (5, 6):
            raise WeightsError(f"{path}: CTranslate2 binary version {version} is not supported (5 and 6 are).")
        spec = _read_str(handle)
        revision = _read(handle, "I")
        for _ in range(_read(handle, "I")):
            name = _read_str(handle)
            shape = tuple(_read(handle, "I") for _ in range(_read(handle, "B")))
            dtype_id = _read(handle, "B")
            nbytes = _read(handle, "I")
            width = 2 if dtype_id == BFLOAT16 else np.dtype(DTYPES[dtype_id]).itemsize if dtype_id in DTYPES else None
            if width is None:
                raise WeightsError(f"{path}: variable {name!r} has unknown dtype id {dtype_id}.")
            if math.prod(shape) * width != nbytes:  # checked before reading: a hostile size allocates nothing
                raise WeightsError(f"{path}: variable {name!r} has shape {shape} ({math.prod(shape) * width} bytes) "
                                   f"but stores {nbytes} bytes; the file is damaged: re-download the checkpoint.")
            data = handle.read(nbytes)
            if len(data) != nbytes:
                raise WeightsError(f"{path}: variable {name!r} is truncated; re-download the checkpoint.")
            if dtype_id == BFLOAT16:
                arr = (np.frombuffer(data, "<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                arr = np.frombuffer(data, DTYPES[dtype_id])
            raw[name] = (arr.reshape(shape), dtype_id)
        aliases = {}
        for _ in range(_read(handle, "I")):
            alias = _read_str(handle)
            aliases[alias] = _read_str(handle)
    names = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
    variables: dict[str, torch.Tensor] = {}
    for name, (arr, dtype_id) in raw.items():
        if name.endswith("_scale") and name[: -len("_scale")] in raw:
            continue
        tensor = torch.from_numpy(arr.astype(np.float32 if dtype_id != 3 else np.int64))
        scale = raw.get(name + "_scale")
        if scale is not None and dtype_id in (1, 2):
            s = torch.from_numpy(scale[0].astype(np.float32))
            if s.dim() == 1 and tensor.dim() >= 2:  # one scale per output row (linear) or channel (convolution)
                s = s.view(-1, *([1] * (tensor.dim() - 1)))
            tensor = tensor / s
        variables[name] = tensor
    return CT2Model(spec, revision, version, variables, {n: names[d] for n, (_, d) in raw.items()}, aliases, path)


def is_ctranslate2_folder(folder: str | os.PathLike) -> bool:
    """A `model.bin` next to a config.json without `model_type` (the reference's own folders always have one)."""
    folder = Path(folder)
    if not (folder / "model.bin").is_file():
        return False
    try:
        return "model_type" not in json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return True


def read_spec_name(path: str | os.PathLike) -> str:
    """The spec name stored at the start of `model.bin` (e.g. "WhisperSpec"), without reading the tensors."""
    with open(path, "rb") as handle:
        version = _read(handle, "I")
        if version not in (5, 6):
            raise WeightsError(f"{path}: CTranslate2 binary version {version} is not supported (5 and 6 are).")
        return _read_str(handle)


def model_type_of(spec: str) -> str:
    """CTranslate2 spec names are the family's name + "Spec": "WhisperSpec" -> "whisper"."""
    return spec.removesuffix("Spec").lower()


def read_ctranslate2_config(folder: Path) -> dict[str, Any]:
    """CTranslate2's own config.json (alignment heads, suppressed ids, language ids), or {}."""
    path = checkpoint_file(folder, "config.json")
    return read_json_object(path) if path else {}
