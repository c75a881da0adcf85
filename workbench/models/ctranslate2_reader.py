"""Read Whisper checkpoints stored in the CTranslate2 layout (faster-whisper folders).

A folder holds `model.bin`, `config.json` (CTranslate2's own: alignment heads, suppressed ids,
language ids — no `model_type`), `tokenizer.json` and `vocabulary.txt`. The binary format is
what CTranslate2's `ModelSpec._serialize` writes, little-endian:

    u32 binary_version (we read 5 and 6)
    str spec_name ("WhisperSpec")         str = u16 length (incl. NUL), bytes, NUL
    u32 spec_revision
    u32 n_variables, then per variable:
        str name, u8 rank, u32 dims[rank], u8 dtype, u32 n_bytes, bytes
    u32 n_aliases, then per alias: str alias, str target_name

dtype ids follow ctranslate2::DataType: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16.
Quantized weights (int8/int16) carry a sibling `<name>_scale`; the float weight is `q / scale`.
The converter fuses projections: encoder/decoder self-attention `linear_0` is [q; k; v] (the
k bias is zeros, Whisper has none), decoder cross-attention `linear_1` is [k; v].
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from ..errors import WeightsError
from ..weights import LoadReport

DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"), 1: np.dtype("i1"), 2: np.dtype("<i2"), 3: np.dtype("<i4"), 4: np.dtype("<f2"),
}
BFLOAT16 = 5


@dataclass
class CT2Model:
    spec: str
    revision: int
    binary_version: int
    variables: dict[str, torch.Tensor]  # float32 (quantized weights already divided by their scales)
    stored_dtypes: dict[str, str]  # name -> the dtype found in the file
    aliases: dict[str, str]

    def get(self, name: str) -> torch.Tensor:
        return self.variables[self.aliases.get(name, name)]


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
            data = handle.read(nbytes)
            if len(data) != nbytes:
                raise WeightsError(f"{path}: variable {name!r} is truncated; re-download the checkpoint.")
            if dtype_id == BFLOAT16:
                arr = (np.frombuffer(data, "<u2").astype(np.uint32) << 16).view(np.float32)
            elif dtype_id in DTYPES:
                arr = np.frombuffer(data, DTYPES[dtype_id])
            else:
                raise WeightsError(f"{path}: variable {name!r} has unknown dtype id {dtype_id}.")
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
            tensor = tensor / (s[:, None] if s.dim() == 1 and tensor.dim() == 2 else s)  # per-row scales
        variables[name] = tensor
    return CT2Model(spec, revision, version, variables, {n: names[d] for n, (_, d) in raw.items()}, aliases)


def is_ctranslate2_folder(folder: str | os.PathLike) -> bool:
    folder = Path(folder)
    if not (folder / "model.bin").is_file():
        return False
    try:
        return "model_type" not in json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return True


def _scalar(model: CT2Model, name: str, default: int) -> int:
    t = model.variables.get(name)
    return default if t is None else int(t.reshape(-1)[0])


def _count_layers(model: CT2Model, prefix: str) -> int:
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in model.variables:
        n += 1
    return n


def hub_state_dict(model: CT2Model) -> dict[str, torch.Tensor]:
    """CTranslate2 Whisper variables -> hub checkpoint keys (fused projections split)."""
    v = model.get
    out: dict[str, torch.Tensor] = {}

    def linear(dst: str, src: str) -> None:
        out[f"{dst}.weight"] = v(f"{src}/weight")
        if f"{src}/bias" in model.variables:
            out[f"{dst}.bias"] = v(f"{src}/bias")

    def norm(dst: str, src: str) -> None:
        out[f"{dst}.weight"], out[f"{dst}.bias"] = v(f"{src}/gamma"), v(f"{src}/beta")

    def split(dst: str, names: tuple[str, ...], src: str) -> None:
        w = v(f"{src}/weight").chunk(len(names))
        b = v(f"{src}/bias").chunk(len(names)) if f"{src}/bias" in model.variables else [None] * len(names)
        for name, wi, bi in zip(names, w, b):
            out[f"{dst}.{name}.weight"] = wi
            if bi is not None and name != "k_proj":  # Whisper keys have no bias (the file stores zeros)
                out[f"{dst}.{name}.bias"] = bi

    for side in ("encoder", "decoder"):
        for i in range(_count_layers(model, side)):
            src, dst = f"{side}/layer_{i}", f"model.{side}.layers.{i}"
            norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")
            split(f"{dst}.self_attn", ("q_proj", "k_proj", "v_proj"), f"{src}/self_attention/linear_0")
            linear(f"{dst}.self_attn.out_proj", f"{src}/self_attention/linear_1")
            norm(f"{dst}.final_layer_norm", f"{src}/ffn/layer_norm")
            linear(f"{dst}.fc1", f"{src}/ffn/linear_0")
            linear(f"{dst}.fc2", f"{src}/ffn/linear_1")
            if side == "decoder":
                norm(f"{dst}.encoder_attn_layer_norm", f"{src}/attention/layer_norm")
                linear(f"{dst}.encoder_attn.q_proj", f"{src}/attention/linear_0")
                split(f"{dst}.encoder_attn", ("k_proj", "v_proj"), f"{src}/attention/linear_1")
                linear(f"{dst}.encoder_attn.out_proj", f"{src}/attention/linear_2")
        norm(f"model.{side}.layer_norm", f"{side}/layer_norm")
        out[f"model.{side}.embed_positions.weight"] = v(f"{side}/position_encodings/encodings")
    for conv in ("conv1", "conv2"):
        linear(f"model.encoder.{conv}", f"encoder/{conv}")
    out["model.decoder.embed_tokens.weight"] = v("decoder/embeddings/weight")
    if "decoder/projection/weight" in model.variables or "decoder/projection/weight" in model.aliases:
        out["proj_out.weight"] = v("decoder/projection/weight")
    return out


def _special_ids(folder: Path) -> dict[str, int]:
    path = folder / "tokenizer.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {t["content"]: t["id"] for t in data.get("added_tokens", [])}


def whisper_config_dict(model: CT2Model, folder: Path) -> dict[str, Any]:
    """A hub-style Whisper config.json built from the tensor shapes, CTranslate2's config and the tokenizer."""
    emb = model.get("decoder/embeddings/weight")
    ct2 = json.loads((folder / "config.json").read_text(encoding="utf-8")) if (folder / "config.json").is_file() else {}
    special = _special_ids(folder)
    eot = special.get("<|endoftext|>", 50256)
    if eot >= emb.shape[0]:
        raise WeightsError(f"{folder} has no tokenizer.json naming <|endoftext|>, and the vocabulary ({emb.shape[0]} ids) "
                           "is not Whisper's; put the checkpoint's tokenizer.json next to model.bin.")
    data: dict[str, Any] = {
        "model_type": "whisper",
        "vocab_size": emb.shape[0],
        "d_model": emb.shape[1],
        "num_mel_bins": model.get("encoder/conv1/weight").shape[1],
        "encoder_layers": _count_layers(model, "encoder"),
        "decoder_layers": _count_layers(model, "decoder"),
        "encoder_attention_heads": _scalar(model, "encoder/num_heads", 6),
        "decoder_attention_heads": _scalar(model, "decoder/num_heads", 6),
        "encoder_ffn_dim": model.get("encoder/layer_0/ffn/linear_0/weight").shape[0],
        "decoder_ffn_dim": model.get("decoder/layer_0/ffn/linear_0/weight").shape[0],
        "max_source_positions": model.get("encoder/position_encodings/encodings").shape[0],
        "max_target_positions": model.get("decoder/position_encodings/encodings").shape[0],
        "pad_token_id": eot,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "decoder_start_token_id": special.get("<|startoftranscript|>", 50257),
        "suppress_tokens": ct2.get("suppress_ids"),
        "begin_suppress_tokens": ct2.get("suppress_ids_begin", [220, eot]),
        "alignment_heads": ct2.get("alignment_heads"),
        "lang_ids": ct2.get("lang_ids"),
        "architectures": ["WhisperForConditionalGeneration"],
    }
    return data


def load_ctranslate2(folder: str | os.PathLike, cls: type, *, dtype: Any = None, device: Any = None) -> tuple[Any, LoadReport]:
    """Build `cls` (a Whisper model class) from a CTranslate2 folder; returns (model, load report)."""
    from ..modeling import resolve_device, resolve_dtype
    from ..weights import load_into_model
    from .whisper import WhisperConfig

    folder = Path(folder)
    ct2 = read_model_bin(folder / "model.bin")
    if not ct2.spec.startswith("Whisper"):
        raise WeightsError(f"{folder / 'model.bin'} holds a {ct2.spec!r}, not a Whisper model.")
    config = WhisperConfig.from_dict(whisper_config_dict(ct2, folder))
    state = hub_state_dict(ct2)
    model = cls._build_empty(config, resolve_dtype(dtype, config), resolve_device(device))
    report = load_into_model(model, state, strict=False)
    model.loading_report = report
    model.source_format = "ctranslate2"
    model.stored_dtypes = ct2.stored_dtypes
    model.eval()
    return model, report
