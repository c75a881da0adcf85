"""Whisper: log-mel audio -> conv stem + pre-LN transformer encoder -> text decoder with cross-attention.

Module paths equal the hub checkpoint keys (`model.encoder.conv1.weight`,
`model.decoder.layers.0.encoder_attn.k_proj.weight`); `proj_out` shares the token embedding.
The decoder keeps a KV cache (`workbench.nn.cache.KVCache`): self-attention keys/values grow
one step at a time, the cross-attention keys/values are computed once from the encoder output.

The model implements the generation protocol (`encode`, `init_cache`, `decode_step`) and its
two hooks (`prepare_generation`, `generation_needs_retry`) with Whisper's rules from
`decoding.py`; CTranslate2 folders (faster-whisper) load through `ctranslate2.py`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ...config import PretrainedConfig, config_dataclass
from ...errors import InputError
from ...nn.activations import get_activation
from ...nn.attention import ProjectedAttention
from ...nn.cache import KVCache
from ...nn.hooks import HookPoint
from ...nn.losses import token_loss
from ...nn.onednn import Linear, linear_act
from ...outputs import Seq2SeqOutput
from ..modeling import PreTrainedModel, as_tuple, collect_internals
from . import decoding as rules
from .ctranslate2 import from_ctranslate2


@config_dataclass
class WhisperConfig(PretrainedConfig):
    model_type = "whisper"
    attribute_map = {"hidden_size": "d_model", "num_attention_heads": "encoder_attention_heads",
                     "num_hidden_layers": "encoder_layers"}
    positive_fields = ("vocab_size", "num_mel_bins", "encoder_layers", "encoder_attention_heads", "decoder_layers",
                       "decoder_attention_heads", "decoder_ffn_dim", "encoder_ffn_dim", "d_model",
                       "max_source_positions", "max_target_positions")
    divisible_fields = (("d_model", "encoder_attention_heads"), ("d_model", "decoder_attention_heads"))

    vocab_size: int = 51865
    num_mel_bins: int = 80
    encoder_layers: int = 4
    encoder_attention_heads: int = 6
    decoder_layers: int = 4
    decoder_attention_heads: int = 6
    decoder_ffn_dim: int = 1536
    encoder_ffn_dim: int = 1536
    encoder_layerdrop: float = 0.0
    decoder_layerdrop: float = 0.0
    decoder_start_token_id: int = 50257
    use_cache: bool = True
    is_encoder_decoder: bool = True
    activation_function: str = "gelu"
    d_model: int = 384
    dropout: float = 0.0
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    scale_embedding: bool = False
    max_source_positions: int = 1500
    max_target_positions: int = 448
    pad_token_id: int | None = 50256
    bos_token_id: int | None = 50256
    eos_token_id: int | list[int] | None = 50256
    suppress_tokens: list[int] | None = None
    begin_suppress_tokens: list[int] | None = None
    alignment_heads: list[list[int]] | None = None
    median_filter_width: int = 7

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("begin_suppress_tokens", [220, 50256])
        super().__init__(**kwargs)

    @property
    def is_multilingual(self) -> bool:
        return self.vocab_size >= 51865


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """The encoder's fixed positional table (as the original Whisper), (length, channels)."""
    log_inc = torch.log(torch.tensor(max_timescale)) / (channels // 2 - 1)
    inv = torch.exp(-log_inc * torch.arange(channels // 2))
    t = torch.arange(length)[:, None] * inv[None, :]
    return torch.cat([t.sin(), t.cos()], dim=1)


# -- blocks ---------------------------------------------------------------------------------------
def whisper_attention(dim: int, heads: int, dropout: float, *, cross: bool = False) -> ProjectedAttention:
    return ProjectedAttention(dim, heads, dropout, cross=cross, key_bias=False)  # Whisper's keys have no bias


class WhisperFeedForward(nn.Module):
    """The pre-LayerNorm feed-forward half both layer kinds share (`fc1`, `fc2`, `final_layer_norm` keys)."""

    def __init__(self, config: WhisperConfig, ffn_dim: int) -> None:
        super().__init__()
        d = config.d_model
        self.fc1 = Linear(d, ffn_dim)
        self.fc2 = Linear(ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.act = get_activation(config.activation_function)
        self.dropout = config.dropout

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc2(linear_act(self.final_layer_norm(x), self.fc1, self.act))
        return x + F.dropout(h, self.dropout, self.training)


class WhisperEncoderLayer(WhisperFeedForward):
    def __init__(self, config: WhisperConfig) -> None:
        super().__init__(config, config.encoder_ffn_dim)
        self.self_attn = whisper_attention(config.d_model, config.encoder_attention_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.self_attn_layer_norm(x)
        x = x + F.dropout(self.self_attn(h, self.self_attn.project_kv(h)), self.dropout, self.training)
        return self.hidden_state(self.feed_forward(x))


class WhisperDecoderLayer(WhisperFeedForward):
    def __init__(self, config: WhisperConfig, index: int) -> None:
        super().__init__(config, config.decoder_ffn_dim)
        d = config.d_model
        self.index = index  # this layer's entries in the KV cache
        self.self_attn = whisper_attention(d, config.decoder_attention_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = whisper_attention(d, config.decoder_attention_heads, config.attention_dropout, cross=True)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor, encoder_hidden_states: torch.Tensor | None, cache: KVCache,
                mask: torch.Tensor | None) -> torch.Tensor:
        h = self.self_attn_layer_norm(x)
        kv = cache.update(self.index, *self.self_attn.project_kv(h))  # (B, H, T_past + T, D)
        x = x + F.dropout(self.self_attn(h, kv, mask), self.dropout, self.training)
        if cache.cross[self.index] is None:  # computed once per input, reused at every step
            if encoder_hidden_states is None:
                raise InputError("the decoder needs encoder_hidden_states (or a cache holding the cross-attention keys).")
            cache.cross[self.index] = self.encoder_attn.project_kv(encoder_hidden_states)
        h = self.encoder_attn(self.encoder_attn_layer_norm(x), cache.cross[self.index])
        x = x + F.dropout(h, self.dropout, self.training)
        return self.hidden_state(self.feed_forward(x))


class WhisperEncoder(nn.Module):
    def __init__(self, config: WhisperConfig) -> None:
        super().__init__()
        d = config.d_model
        self.config = config
        self.conv1 = nn.Conv1d(config.num_mel_bins, d, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d, d, kernel_size=3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(config.max_source_positions, d)
        self.hidden_state = HookPoint()  # the stack's input: encoder_hidden_states[0]
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
        x = self.hidden_state(x)
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
        self.hidden_state = HookPoint()  # the stack's input: decoder_hidden_states[0]
        self.layers = nn.ModuleList(WhisperDecoderLayer(config, i) for i in range(config.decoder_layers))
        self.layer_norm = nn.LayerNorm(d)

    def forward(self, input_ids: torch.Tensor, encoder_hidden_states: torch.Tensor | None, cache: KVCache) -> torch.Tensor:
        past = cache.length
        t = input_ids.shape[1]
        if past + t > self.config.max_target_positions:
            raise InputError(
                f"the decoder takes at most {self.config.max_target_positions} tokens, asked for {past + t}; "
                "lower max_new_tokens."
            )
        x = self.embed_tokens(input_ids) + self.embed_positions.weight[past : past + t]
        x = self.hidden_state(F.dropout(x, self.config.dropout, self.training))
        mask = None
        if t > 1:  # causal over the new tokens, full view of the cached ones
            allowed = torch.ones(t, past + t, dtype=torch.bool, device=x.device).tril(past)
            mask = torch.zeros(t, past + t, dtype=x.dtype, device=x.device).masked_fill(~allowed, torch.finfo(x.dtype).min)
        for layer in self.layers:
            x = layer(x, encoder_hidden_states, cache, mask)
        return self.layer_norm(x)


# -- models ---------------------------------------------------------------------------------------
class WhisperPreTrainedModel(PreTrainedModel):
    config_class = WhisperConfig
    base_model_prefix = "model"
    ignore_on_load = (r"(^|\.)position_ids$",)
    checkpoint_converters = {"ctranslate2": from_ctranslate2}
    attention_kinds = {"encoder.layers.*.self_attn.attn_probs": "self",
                       "decoder.layers.*.self_attn.attn_probs": "causal",
                       "decoder.layers.*.encoder_attn.cross_attn_probs": "cross"}

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

    def _stacks(self) -> tuple[WhisperEncoder, WhisperDecoder]:
        raise NotImplementedError

    def _run(self, input_features: torch.Tensor | None, decoder_input_ids: torch.Tensor | None, encoder_outputs: Any,
             cache: KVCache | None, output_attentions: bool, output_hidden_states: bool) -> Seq2SeqOutput:
        """Encode (unless `encoder_outputs` is given), then decode `decoder_input_ids` on the cache."""
        encoder, decoder = self._stacks()
        if decoder_input_ids is None:
            raise InputError("pass decoder_input_ids (e.g. the start-of-transcript token) to run the decoder.")
        with collect_internals(encoder, output_attentions, output_hidden_states) as enc:
            if encoder_outputs is not None:
                enc_out = encoder_outputs if isinstance(encoder_outputs, torch.Tensor) else encoder_outputs[0]
            elif input_features is not None:
                enc_out = encoder(input_features.to(self.dtype))
            else:
                raise InputError("pass input_features (log-mel windows) or encoder_outputs.")
        cache = cache if cache is not None else KVCache(len(decoder.layers))
        with collect_internals(decoder, output_attentions, output_hidden_states) as dec_self, \
                collect_internals(decoder, output_attentions, False, attention_names="cross_attn_probs") as dec_cross:
            hidden = decoder(decoder_input_ids, enc_out, cache)
        out = Seq2SeqOutput(last_hidden_state=hidden, past_key_values=cache, encoder_last_hidden_state=enc_out)
        if output_hidden_states:  # the last entry is the stack's output after its final LayerNorm, as the reference
            out.encoder_hidden_states = (*enc["hidden_states"][:-1], enc_out) if enc["hidden_states"] else None
            out.decoder_hidden_states = (*dec_self["hidden_states"][:-1], hidden)
        if output_attentions:
            out.encoder_attentions = as_tuple(enc["attentions"], True)
            out.decoder_attentions = as_tuple(dec_self["attentions"], True)
            out.cross_attentions = as_tuple(dec_cross["attentions"], True)
        return out


class WhisperModel(WhisperPreTrainedModel):
    def __init__(self, config: WhisperConfig) -> None:
        super().__init__(config)
        self.encoder = WhisperEncoder(config)
        self.decoder = WhisperDecoder(config)

    def _stacks(self) -> tuple[WhisperEncoder, WhisperDecoder]:
        return self.encoder, self.decoder

    def forward(self, input_features: torch.Tensor | None = None, decoder_input_ids: torch.Tensor | None = None, *,
                encoder_outputs: Any = None, past_key_values: KVCache | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> Seq2SeqOutput:
        return self._run(input_features, decoder_input_ids, encoder_outputs, past_key_values, output_attentions,
                         output_hidden_states)


class WhisperForConditionalGeneration(WhisperPreTrainedModel):
    tied_weights = {"proj_out.weight": "model.decoder.embed_tokens.weight"}

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__(config)
        self.model = WhisperModel(config)
        self.proj_out = Linear(config.d_model, config.vocab_size, bias=False)

    def _stacks(self) -> tuple[WhisperEncoder, WhisperDecoder]:
        return self.model.encoder, self.model.decoder

    def forward(self, input_features: torch.Tensor | None = None, decoder_input_ids: torch.Tensor | None = None, *,
                encoder_outputs: Any = None, past_key_values: KVCache | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False) -> Seq2SeqOutput:
        if decoder_input_ids is None and labels is not None:
            # Teacher forcing: the decoder sees the labels shifted right behind the start token.
            start = torch.full_like(labels[:, :1], self.config.decoder_start_token_id)
            shifted = torch.cat([start, labels[:, :-1]], dim=1)
            decoder_input_ids = shifted.masked_fill(shifted == -100, self.config.pad_token_id)
        out = self._run(input_features, decoder_input_ids, encoder_outputs, past_key_values, output_attentions,
                        output_hidden_states)
        out.logits = self.proj_out(out.last_hidden_state)
        out.last_hidden_state = None
        if labels is not None:
            out.loss = token_loss(out.logits.float(), labels)
        return out

    # -- the generation protocol -----------------------------------------------------------------
    def encode(self, input_features: torch.Tensor, **_: Any) -> torch.Tensor:
        """Log-mel windows (B, n_mels, 3000) -> encoder states (B, 1500, C), computed once per window."""
        return self.model.encoder(input_features.to(self.device, self.dtype))

    def init_cache(self, batch_size: int, max_length: int | None = None) -> KVCache:
        return KVCache(self.config.decoder_layers, max_length=max_length)

    def decode_step(self, input_ids: torch.Tensor, cache: KVCache, *, encoder_outputs: torch.Tensor | None = None,
                    attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Feed the new tokens (B, t); next-token logits (B, V). Encoder rows may be fewer (beams share them)."""
        hidden = self.model.decoder(input_ids, encoder_outputs, cache)
        return self.proj_out(hidden[:, -1])

    def prepare_generation(self, config: Any, *, batch_size: int, encoder_outputs: torch.Tensor) -> tuple[torch.Tensor, list]:
        return rules.prepare_generation(self, config, batch_size, encoder_outputs)

    def generation_needs_retry(self, tokens: list[int], avg_logprob: float, config: Any) -> bool:
        return rules.needs_retry(tokens, avg_logprob, config, self.config.vocab_size)


def alignment_heads(model: WhisperPreTrainedModel) -> list[tuple[int, int]]:
    """(layer, head) pairs whose cross-attention follows the audio: the checkpoint's list, else every head
    of the decoder's second half (as the reference)."""
    heads = model.config.alignment_heads or model.generation_defaults.get("alignment_heads")
    if heads:
        return [(int(layer), int(head)) for layer, head in heads]
    n = model.config.decoder_layers
    return [(layer, h) for layer in range(n // 2, n) for h in range(model.config.decoder_attention_heads)]


