"""Whisper checkpoints in the CTranslate2 layout (faster-whisper folders): names and config onto the hub layout.

The file itself is read by `workbench.formats.ctranslate2`; this module only says how its
variables map onto Whisper's hub keys. The converter fuses projections: encoder/decoder
self-attention `linear_0` is [q; k; v] (the k bias is zeros, Whisper has none), decoder
cross-attention `linear_1` is [k; v]. The config is rebuilt from the tensor shapes,
CTranslate2's own config.json and the tokenizer's special tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ...errors import WeightsError
from ...formats import Checkpoint
from ...formats.ctranslate2 import CT2Model
from ...files import checkpoint_file


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
    path = checkpoint_file(folder, "tokenizer.json")
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {t["content"]: int(t["id"]) for t in data.get("added_tokens", [])}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise WeightsError(f"{path} is not a valid tokenizer.json ({err}); re-download the checkpoint.") from err


def whisper_config_dict(model: CT2Model, folder: Path, ct2: dict[str, Any]) -> dict[str, Any]:
    """A hub-style Whisper config.json built from the tensor shapes, CTranslate2's config and the tokenizer."""
    emb = model.get("decoder/embeddings/weight")
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


def from_ctranslate2(checkpoint: Checkpoint) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The Whisper family's converter: an opened CTranslate2 checkpoint -> (config.json dict, hub state dict)."""
    ct2 = checkpoint.load()
    if not ct2.spec.startswith("Whisper"):
        raise WeightsError(f"{checkpoint.folder / 'model.bin'} holds a {ct2.spec!r}, not a Whisper model.")
    return whisper_config_dict(ct2, checkpoint.folder, checkpoint.config), hub_state_dict(ct2)
