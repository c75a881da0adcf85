"""Whisper: log-mel audio -> conv stem + pre-LN transformer encoder -> text decoder with cross-attention.

Module paths equal the hub checkpoint keys (`model.encoder.conv1.weight`,
`model.decoder.layers.0.encoder_attn.k_proj.weight`); `proj_out` shares the token embedding.
The decoder keeps a KV cache: self-attention keys/values grow one step at a time, the
cross-attention keys/values are computed once from the encoder output and reused.
Checkpoints in the CTranslate2 layout (faster-whisper folders) load through
`workbench.models.ctranslate2_reader`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..activations import get_activation
from ..attention import attend
from ..config import PretrainedConfig
from ..errors import InputError
from ..hooks import HookPoint, capture
from ..modeling import PreTrainedModel
from ..outputs import ModelOutput, Tensors


class WhisperConfig(PretrainedConfig):
    model_type = "whisper"
    defaults = {
        "vocab_size": 51865,
        "num_mel_bins": 80,
        "encoder_layers": 4,
        "encoder_attention_heads": 6,
        "decoder_layers": 4,
        "decoder_attention_heads": 6,
        "decoder_ffn_dim": 1536,
        "encoder_ffn_dim": 1536,
        "encoder_layerdrop": 0.0,
        "decoder_layerdrop": 0.0,
        "decoder_start_token_id": 50257,
        "use_cache": True,
        "is_encoder_decoder": True,
        "activation_function": "gelu",
        "d_model": 384,
        "dropout": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "init_std": 0.02,
        "scale_embedding": False,
        "max_source_positions": 1500,
        "max_target_positions": 448,
        "pad_token_id": 50256,
        "bos_token_id": 50256,
        "eos_token_id": 50256,
        "suppress_tokens": None,
        "begin_suppress_tokens": [220, 50256],
        "median_filter_width": 7,
        "tie_word_embeddings": True,
    }
    attribute_map = {
        "hidden_size": "d_model",
        "num_attention_heads": "encoder_attention_heads",
        "num_hidden_layers": "encoder_layers",
    }

    @property
    def is_multilingual(self) -> bool:
        return self.vocab_size >= 51865


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """The encoder's fixed positional table (as the original Whisper), (length, channels)."""
    log_inc = torch.log(torch.tensor(max_timescale)) / (channels // 2 - 1)
    inv = torch.exp(-log_inc * torch.arange(channels // 2))
    t = torch.arange(length)[:, None] * inv[None, :]
    return torch.cat([t.sin(), t.cos()], dim=1)


class WhisperCache:
    """Per layer: self-attention K/V (grow each step) and cross-attention K/V (fixed). Tensors (B, H, T, D)."""

    def __init__(self, num_layers: int) -> None:
        self.self_kv: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * num_layers
        self.cross_kv: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * num_layers

    @property
    def length(self) -> int:
        first = self.self_kv[0]
        return 0 if first is None else first[0].shape[2]

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows `index` (beam search reorders hypotheses every step)."""
        for store in (self.self_kv, self.cross_kv):
            for i, kv in enumerate(store):
                if kv is not None:
                    store[i] = (kv[0].index_select(0, index), kv[1].index_select(0, index))

    def crop(self, length: int) -> None:
        for i, kv in enumerate(self.self_kv):
            if kv is not None:
                self.self_kv[i] = (kv[0][:, :, :length], kv[1][:, :, :length])


class WhisperAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float, *, cross: bool = False) -> None:
        super().__init__()
        if dim % heads:
            raise InputError(f"d_model={dim} is not divisible by {heads} attention heads; fix the config.")
        self.heads, self.head_dim, self.dropout, self.cross = heads, dim // heads, dropout, cross
        self.k_proj = nn.Linear(dim, dim, bias=False)  # Whisper's key projection has no bias
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.hook_name = "cross_attn_probs" if cross else "attn_probs"
        setattr(self, self.hook_name, HookPoint())

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)

    def project_kv(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split(self.k_proj(source)), self.split(self.v_proj(source))

    def forward(
        self,
        x: torch.Tensor,
        *,
        kv: tuple[torch.Tensor, torch.Tensor] | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`kv`: precomputed keys/values (cross-attention, or self-attention with the cache already appended)."""
        q = self.split(self.q_proj(x))
        k, v = kv if kv is not None else self.project_kv(x)
        out = attend(q, k, v, mask, dropout_p=self.dropout if self.training else 0.0,
                     probs_hook=getattr(self, self.hook_name))
        b, _, t, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, t, -1))  # (B, T, C)


class _FeedForwardLayer(nn.Module):
    """The pre-LayerNorm feed-forward half both layer kinds share (`fc1`, `fc2`, `final_layer_norm`)."""

    def __init__(self, config: WhisperConfig, ffn_dim: int) -> None:
        super().__init__()
        d = config.d_model
        self.fc1 = nn.Linear(d, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.act = get_activation(config.activation_function)
        self.dropout = config.dropout

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc2(self.act(self.fc1(self.final_layer_norm(x))))
        return x + F.dropout(h, self.dropout, self.training)


class WhisperEncoderLayer(_FeedForwardLayer):
    def __init__(self, config: WhisperConfig) -> None:
        super().__init__(config, config.encoder_ffn_dim)
        self.self_attn = WhisperAttention(config.d_model, config.encoder_attention_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + F.dropout(self.self_attn(self.self_attn_layer_norm(x)), self.dropout, self.training)
        return self.feed_forward(x)


class WhisperDecoderLayer(_FeedForwardLayer):
    def __init__(self, config: WhisperConfig) -> None:
        super().__init__(config, config.decoder_ffn_dim)
        d = config.d_model
        self.self_attn = WhisperAttention(d, config.decoder_attention_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = WhisperAttention(d, config.decoder_attention_heads, config.attention_dropout, cross=True)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)

    def forward(
        self,
        x: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None,
        cache: WhisperCache,
        index: int,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        h = self.self_attn_layer_norm(x)
        k, v = self.self_attn.project_kv(h)
        past = cache.self_kv[index]
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)  # (B, H, T_past + T, D)
        cache.self_kv[index] = (k, v)
        x = x + F.dropout(self.self_attn(h, kv=(k, v), mask=mask), self.dropout, self.training)
        if cache.cross_kv[index] is None:
            if encoder_hidden_states is None:
                raise InputError("the decoder needs encoder_hidden_states (or a cache holding the cross-attention keys).")
            cache.cross_kv[index] = self.encoder_attn.project_kv(encoder_hidden_states)
        h = self.encoder_attn(self.encoder_attn_layer_norm(x), kv=cache.cross_kv[index])
        x = x + F.dropout(h, self.dropout, self.training)
        return self.feed_forward(x)


class WhisperEncoder(nn.Module):
    def __init__(self, config: WhisperConfig) -> None:
        super().__init__()
        d = config.d_model
        self.config = config
        self.conv1 = nn.Conv1d(config.num_mel_bins, d, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d, d, kernel_size=3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(config.max_source_positions, d)
        self.layers = nn.ModuleList(WhisperEncoderLayer(config) for _ in range(config.encoder_layers))
        self.layer_norm = nn.LayerNorm(d)

    def forward(self, input_features: torch.Tensor) -> torch.Tensor:
        """input_features (B, n_mels, 2 * max_source_positions) -> (B, max_source_positions, C)."""
        expected = 2 * self.config.max_source_positions
        if input_features.dim() != 3 or input_features.shape[1] != self.config.num_mel_bins or input_features.shape[-1] != expected:
            raise InputError(
                f"Whisper expects log-mel features of shape (batch, {self.config.num_mel_bins}, {expected}), got "
                f"{tuple(input_features.shape)}; make them with workbench.processors.WhisperFeatureExtractor "
                "(30 s windows at 16 kHz)."
            )
        x = F.gelu(self.conv1(input_features))
        x = F.gelu(self.conv2(x)).transpose(1, 2)  # (B, T, C)
        x = F.dropout(x + self.embed_positions.weight[: x.shape[1]], self.config.dropout, self.training)
        for layer in self.layers:
            x = layer(x)
        return self.layer_norm(x)


class WhisperDecoder(nn.Module):
    def __init__(self, config: WhisperConfig) -> None:
        super().__init__()
        d = config.d_model
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, d, padding_idx=config.pad_token_id)
        self.embed_positions = nn.Embedding(config.max_target_positions, d)
        self.layers = nn.ModuleList(WhisperDecoderLayer(config) for _ in range(config.decoder_layers))
        self.layer_norm = nn.LayerNorm(d)

    def forward(
        self, input_ids: torch.Tensor, encoder_hidden_states: torch.Tensor | None, cache: WhisperCache
    ) -> torch.Tensor:
        past = cache.length
        t = input_ids.shape[1]
        if past + t > self.config.max_target_positions:
            raise InputError(
                f"the decoder takes at most {self.config.max_target_positions} tokens, asked for {past + t}; "
                "lower max_new_tokens."
            )
        x = self.embed_tokens(input_ids) + self.embed_positions.weight[past : past + t]
        x = F.dropout(x, self.config.dropout, self.training)
        mask = None
        if t > 1:  # causal over the new tokens, full view of the cached ones
            allowed = torch.ones(t, past + t, dtype=torch.bool, device=x.device).tril(past)
            mask = torch.zeros(t, past + t, dtype=x.dtype, device=x.device).masked_fill(~allowed, torch.finfo(x.dtype).min)
        for i, layer in enumerate(self.layers):
            x = layer(x, encoder_hidden_states, cache, i, mask)
        return self.layer_norm(x)


@dataclass
class Seq2SeqOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None
    past_key_values: WhisperCache | None = None
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_attentions: Tensors | None = None
    decoder_attentions: Tensors | None = None
    cross_attentions: Tensors | None = None


class WhisperPreTrainedModel(PreTrainedModel):
    config_class = WhisperConfig
    base_model_prefix = "model"
    ignore_on_load = (r"(^|\.)position_ids$",)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, WhisperEncoder):
            module.embed_positions.weight.copy_(sinusoids(*module.embed_positions.weight.shape))

    def init_weights(self) -> None:
        # Children first, so the encoder's sinusoidal table is not overwritten by the Embedding init.
        for module in self.modules():
            if not isinstance(module, WhisperEncoder):
                self._init_weights(module)
        for module in self.modules():
            if isinstance(module, WhisperEncoder):
                self._init_weights(module)
        self.tie_weights()

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs: Any) -> PreTrainedModel:
        """Hub folders (config.json + safetensors) and CTranslate2 folders (config.json + model.bin)."""
        from ..hub import resolve_model_folder
        from .ctranslate2_reader import is_ctranslate2_folder, load_ctranslate2

        hub_kwargs = {k: kwargs.pop(k) for k in ("revision", "cache_dir", "local_files_only", "token") if k in kwargs}
        folder = resolve_model_folder(name_or_path, **hub_kwargs)
        if is_ctranslate2_folder(folder):
            want_info = kwargs.pop("output_loading_info", False)
            model, report = load_ctranslate2(folder, cls, dtype=kwargs.pop("dtype", None), device=kwargs.pop("device", None))
            model.config.name_or_path = str(name_or_path)
            return (model, report) if want_info else model
        loaded = super().from_pretrained(folder, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        _read_generation_config(model.config, Path(folder))
        return loaded

    def _encode(self, input_features: torch.Tensor | None, encoder_outputs: Any) -> torch.Tensor | None:
        if encoder_outputs is not None:
            return encoder_outputs if isinstance(encoder_outputs, torch.Tensor) else encoder_outputs[0]
        if input_features is None:
            return None
        return self.get_encoder()(input_features.to(self.dtype))


class WhisperModel(WhisperPreTrainedModel):
    base_model_prefix = "model"

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__(config)
        self.encoder = WhisperEncoder(config)
        self.decoder = WhisperDecoder(config)

    def get_encoder(self) -> WhisperEncoder:
        return self.encoder

    def forward(
        self,
        input_features: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        *,
        encoder_outputs: Any = None,
        past_key_values: WhisperCache | None = None,
        output_attentions: bool = False,
    ) -> Seq2SeqOutput:
        return _run(self, self.encoder, self.decoder, input_features, decoder_input_ids, encoder_outputs,
                    past_key_values, output_attentions, head=None)


class WhisperForConditionalGeneration(WhisperPreTrainedModel):
    tied_weights = {"proj_out.weight": "model.decoder.embed_tokens.weight"}

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__(config)
        self.model = WhisperModel(config)
        self.proj_out = nn.Linear(config.d_model, config.vocab_size, bias=False)

    def get_encoder(self) -> WhisperEncoder:
        return self.model.encoder

    def forward(
        self,
        input_features: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        *,
        encoder_outputs: Any = None,
        past_key_values: WhisperCache | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> Seq2SeqOutput:
        if decoder_input_ids is None and labels is not None:
            # Teacher forcing: the decoder sees the labels shifted right behind the start token.
            start = torch.full_like(labels[:, :1], self.config.decoder_start_token_id)
            decoder_input_ids = torch.cat([start, labels[:, :-1]], dim=1).masked_fill_(
                torch.cat([start, labels[:, :-1]], dim=1) == -100, self.config.pad_token_id)
        out = _run(self, self.model.encoder, self.model.decoder, input_features, decoder_input_ids,
                   encoder_outputs, past_key_values, output_attentions, head=self.proj_out)
        if labels is not None:
            out.loss = F.cross_entropy(out.logits.reshape(-1, out.logits.shape[-1]).float(), labels.reshape(-1),
                                       ignore_index=-100)
        return out

    def generate(self, input_features: torch.Tensor, **options: Any) -> torch.Tensor:
        """Token ids for a batch of log-mel windows; see `workbench.generation.generate_whisper` for options."""
        from ..generation import generate_whisper

        return generate_whisper(self, input_features, **options).sequences


def _read_generation_config(config: WhisperConfig, folder: Path) -> None:
    """Hub checkpoints keep Whisper's decoding facts (alignment heads, suppressed ids) in generation_config.json."""
    import json

    path = folder / "generation_config.json"
    if not path.is_file():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in ("alignment_heads", "suppress_tokens", "begin_suppress_tokens"):
        if data.get(key) is not None and getattr(config, key, None) in (None, []):
            setattr(config, key, data[key])


def _run(
    model: WhisperPreTrainedModel,
    encoder: WhisperEncoder,
    decoder: WhisperDecoder,
    input_features: torch.Tensor | None,
    decoder_input_ids: torch.Tensor | None,
    encoder_outputs: Any,
    cache: WhisperCache | None,
    output_attentions: bool,
    head: nn.Linear | None,
) -> Seq2SeqOutput:
    """Shared forward of the base model and the LM head: encode (unless given), decode one chunk with the cache."""
    if decoder_input_ids is None:
        raise InputError("pass decoder_input_ids (e.g. the start-of-transcript token) to run the decoder.")
    names = ["attn_probs"] if output_attentions else []
    with _maybe_capture(encoder, names) as enc_cache:
        enc = encoder(input_features.to(model.dtype)) if encoder_outputs is None and input_features is not None else (
            model._encode(None, encoder_outputs))
    if cache is None:
        cache = WhisperCache(len(decoder.layers))
    with _maybe_capture(decoder, names + (["cross_attn_probs"] if output_attentions else [])) as dec_cache:
        hidden = decoder(decoder_input_ids, enc, cache)
    out = Seq2SeqOutput(last_hidden_state=hidden, past_key_values=cache, encoder_last_hidden_state=enc)
    if head is not None:
        out.logits = head(hidden)
        out.last_hidden_state = None
    if output_attentions:
        out.encoder_attentions = tuple(enc_cache.stack(".attn_probs"))
        out.decoder_attentions = tuple(dec_cache.stack("self_attn.attn_probs"))
        out.cross_attentions = tuple(dec_cache.stack("cross_attn_probs"))
    return out


class _NoCapture(dict):
    def stack(self, suffix: str) -> list[torch.Tensor]:
        return []


def _maybe_capture(module: nn.Module, names: list[str]):
    import contextlib

    if not names:
        return contextlib.nullcontext(_NoCapture())
    return capture(module, names, detach=False)


CONFIG = WhisperConfig
HEADS = {"base": WhisperModel, "speech-seq2seq": WhisperForConditionalGeneration}
