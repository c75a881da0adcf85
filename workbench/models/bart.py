"""BART: a post-LayerNorm transformer encoder-decoder with learned positions (summarisation, translation).

Module paths equal the hub checkpoint keys (`model.encoder.layers.0.self_attn.k_proj.weight`,
`model.decoder.layers.0.encoder_attn.q_proj.bias`, `final_logits_bias`). One embedding matrix
(`model.shared`) serves the encoder, the decoder and the LM head. Positions are learned and
looked up two rows late (BART's offset of 2, a fairseq legacy), after `layernorm_embedding`
comes the first layer; every sub-layer is residual + LayerNorm (post-LN).

The decoder keeps a KV cache (`workbench.nn.cache.KVCache`): self-attention keys/values grow one
step at a time, cross-attention keys/values are computed once per input. The model implements
the generation protocol (`encode`, `init_cache`, `decode_step`); the encoder's padding mask
travels with its states (`EncoderStates`) to every cross-attention, one row per input.

Read top to bottom: config, attention, the two layer kinds, the two stacks, the base model, the
generation head.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig, config_dataclass
from ..errors import InputError, UnsupportedModelError
from ..nn.activations import get_activation
from ..nn.attention import ProjectedAttention, additive_mask
from ..nn.cache import KVCache
from ..nn.hooks import HookPoint
from ..nn.onednn import Linear, linear_act
from ..outputs import Seq2SeqOutput
from .encoder_decoder import (EncoderStates, causal_mask, encode_source, encoder_states, run_seq2seq, shift_right,
                              with_lm_loss)
from .modeling import PreTrainedModel

POSITION_OFFSET = 2  # BART looks positions up two rows late: row 2 holds position 0


@config_dataclass
class BartConfig(PretrainedConfig):
    model_type = "bart"
    attribute_map = {"hidden_size": "d_model", "num_attention_heads": "encoder_attention_heads",
                     "num_hidden_layers": "encoder_layers"}
    positive_fields = ("vocab_size", "max_position_embeddings", "encoder_layers", "encoder_ffn_dim",
                       "encoder_attention_heads", "decoder_layers", "decoder_ffn_dim", "decoder_attention_heads", "d_model")
    divisible_fields = (("d_model", "encoder_attention_heads"), ("d_model", "decoder_attention_heads"))

    vocab_size: int = 50265
    max_position_embeddings: int = 1024
    encoder_layers: int = 12
    encoder_ffn_dim: int = 4096
    encoder_attention_heads: int = 16
    decoder_layers: int = 12
    decoder_ffn_dim: int = 4096
    decoder_attention_heads: int = 16
    encoder_layerdrop: float = 0.0
    decoder_layerdrop: float = 0.0
    activation_function: str = "gelu"
    d_model: int = 1024
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    classifier_dropout: float = 0.0
    scale_embedding: bool = False
    use_cache: bool = True
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2
    is_encoder_decoder: bool = True
    decoder_start_token_id: int | None = 2
    forced_eos_token_id: int | list[int] | None = 2

    def validate(self) -> None:
        super().validate()
        # Flags of fairseq's mBART layout, found (set to false) in old BART configs: true means another model.
        for flag in ("normalize_before", "add_final_layer_norm"):
            if getattr(self, flag, False) is True:
                raise UnsupportedModelError(
                    f"config.json sets {flag}=true: that is mBART's pre-LayerNorm layout, which the 'bart' family here "
                    "does not implement; BART checkpoints have it false."
                )


# -- blocks ---------------------------------------------------------------------------------------
class BartFeedForward(nn.Module):
    """The post-LN feed-forward half both layer kinds share (`fc1`, `fc2`, `final_layer_norm` keys)."""

    def __init__(self, config: BartConfig, ffn_dim: int) -> None:
        super().__init__()
        d = config.d_model
        self.fc1 = Linear(d, ffn_dim)
        self.fc2 = Linear(ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.act = get_activation(config.activation_function)
        self.dropout, self.activation_dropout = config.dropout, config.activation_dropout

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.dropout(linear_act(x, self.fc1, self.act), self.activation_dropout, self.training)
        return self.final_layer_norm(x + F.dropout(self.fc2(h), self.dropout, self.training))


class BartEncoderLayer(BartFeedForward):
    def __init__(self, config: BartConfig) -> None:
        super().__init__(config, config.encoder_ffn_dim)
        self.self_attn = ProjectedAttention(config.d_model, config.encoder_attention_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        h = self.self_attn(x, self.self_attn.project_kv(x), mask)
        x = self.self_attn_layer_norm(x + F.dropout(h, self.dropout, self.training))
        return self.hidden_state(self.feed_forward(x))


class BartDecoderLayer(BartFeedForward):
    def __init__(self, config: BartConfig, index: int) -> None:
        super().__init__(config, config.decoder_ffn_dim)
        d, heads = config.d_model, config.decoder_attention_heads
        self.index = index  # this layer's entries in the KV cache
        self.self_attn = ProjectedAttention(d, heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = ProjectedAttention(d, heads, config.attention_dropout, cross=True)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor, encoder: EncoderStates | None, cache: KVCache, mask: torch.Tensor | None) -> torch.Tensor:
        kv = cache.update(self.index, *self.self_attn.project_kv(x))  # (B, H, T_past + T, D)
        x = self.self_attn_layer_norm(x + F.dropout(self.self_attn(x, kv, mask), self.dropout, self.training))
        if cache.cross[self.index] is None:  # computed once per input, reused at every step
            if encoder is None:
                raise InputError("the decoder needs the encoder's states (or a cache holding the cross-attention keys).")
            cache.cross[self.index] = self.encoder_attn.project_kv(encoder.hidden)
        cross_mask = None if encoder is None else encoder.cross_mask(x.dtype)
        h = self.encoder_attn(x, cache.cross[self.index], cross_mask)
        x = self.encoder_attn_layer_norm(x + F.dropout(h, self.dropout, self.training))
        return self.hidden_state(self.feed_forward(x))


class BartEncoder(nn.Module):
    def __init__(self, config: BartConfig, embed_tokens: nn.Embedding) -> None:
        super().__init__()
        d = config.d_model
        self.config = config
        self.embed_scale = math.sqrt(d) if config.scale_embedding else 1.0
        self.embed_tokens = embed_tokens  # the model's shared embedding (tied)
        self.embed_positions = nn.Embedding(config.max_position_embeddings + POSITION_OFFSET, d)
        self.layernorm_embedding = nn.LayerNorm(d)
        self.hidden_state = HookPoint()  # the stack's input: encoder_hidden_states[0]
        self.layers = nn.ModuleList(BartEncoderLayer(config) for _ in range(config.encoder_layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """input_ids (B, S) -> (B, S, C)."""
        t = input_ids.shape[1]
        if t > self.config.max_position_embeddings:
            raise InputError(
                f"input has {t} tokens but this model takes at most {self.config.max_position_embeddings}; tokenize "
                f"with truncation=True, max_length={self.config.max_position_embeddings} (or split the text)."
            )
        x = self.embed_tokens(input_ids) * self.embed_scale
        x = x + self.embed_positions.weight[POSITION_OFFSET : POSITION_OFFSET + t]
        x = F.dropout(self.layernorm_embedding(x), self.config.dropout, self.training)
        x = self.hidden_state(x)
        mask = additive_mask(attention_mask, x.dtype)
        for layer in self.layers:
            x = layer(x, mask)
        return x


class BartDecoder(nn.Module):
    def __init__(self, config: BartConfig, embed_tokens: nn.Embedding) -> None:
        super().__init__()
        d = config.d_model
        self.config = config
        self.embed_scale = math.sqrt(d) if config.scale_embedding else 1.0
        self.embed_tokens = embed_tokens
        self.embed_positions = nn.Embedding(config.max_position_embeddings + POSITION_OFFSET, d)
        self.layernorm_embedding = nn.LayerNorm(d)
        self.hidden_state = HookPoint()  # the stack's input: decoder_hidden_states[0]
        self.layers = nn.ModuleList(BartDecoderLayer(config, i) for i in range(config.decoder_layers))

    def forward(self, input_ids: torch.Tensor, encoder: EncoderStates | None, cache: KVCache,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The new decoder tokens (B, t) on the cache -> (B, t, C). `attention_mask` (B, past + t): decoder padding."""
        past, t = cache.length, input_ids.shape[1]
        if past + t > self.config.max_position_embeddings:
            raise InputError(f"the decoder takes at most {self.config.max_position_embeddings} tokens, asked for "
                             f"{past + t}; lower max_length / max_new_tokens.")
        x = self.embed_tokens(input_ids) * self.embed_scale
        x = x + self.embed_positions.weight[POSITION_OFFSET + past : POSITION_OFFSET + past + t]
        x = self.hidden_state(F.dropout(self.layernorm_embedding(x), self.config.dropout, self.training))
        mask = causal_mask(t, past, x.dtype, x.device, attention_mask)
        for layer in self.layers:
            x = layer(x, encoder, cache, mask)
        return x


# -- models ---------------------------------------------------------------------------------------
class BartPreTrainedModel(PreTrainedModel):
    config_class = BartConfig
    base_model_prefix = "model"
    ignore_on_load = (r"(^|\.)position_ids$", r"(^|\.)(encoder|decoder)\.version$")
    attention_kinds = {"encoder.layers.*.self_attn.attn_probs": "self",
                       "decoder.layers.*.self_attn.attn_probs": "causal",
                       "decoder.layers.*.encoder_attn.cross_attn_probs": "cross"}
    # The stacks' embeddings are the shared matrix whatever tie_word_embeddings says (only the LM head follows it).
    always_tied: dict[str, str] = {}

    def tied_pairs(self) -> dict[str, str]:
        return {**self.always_tied, **super().tied_pairs()}

    def _stacks(self) -> tuple[BartEncoder, BartDecoder]:
        raise NotImplementedError

    def _run(self, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None,
             decoder_input_ids: torch.Tensor | None, decoder_attention_mask: torch.Tensor | None,
             encoder_outputs: Any, cache: KVCache | None, output_attentions: bool,
             output_hidden_states: bool) -> Seq2SeqOutput:
        encoder, decoder = self._stacks()
        if decoder_input_ids is None:
            if input_ids is None:
                raise InputError("pass decoder_input_ids (or input_ids, which BART shifts right into decoder inputs).")
            decoder_input_ids = shift_right(input_ids, self.config.decoder_start_token_id, self.config.pad_token_id)

        def encode() -> EncoderStates:
            if encoder_outputs is not None:
                return encoder_states(encoder_outputs, attention_mask)
            if input_ids is None:
                raise InputError("pass input_ids (the source text's token ids) or encoder_outputs.")
            return encoder_states(encoder(input_ids, attention_mask), attention_mask)

        return run_seq2seq(encoder, decoder, encode,
                           lambda states, c: decoder(decoder_input_ids, states, c, decoder_attention_mask),
                           cache if cache is not None else KVCache(len(decoder.layers)),
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states)


class BartModel(BartPreTrainedModel):
    always_tied = {"encoder.embed_tokens.weight": "shared.weight", "decoder.embed_tokens.weight": "shared.weight"}

    def __init__(self, config: BartConfig) -> None:
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id)
        self.encoder = BartEncoder(config, nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id))
        self.decoder = BartDecoder(config, nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id))

    def _stacks(self) -> tuple[BartEncoder, BartDecoder]:
        return self.encoder, self.decoder

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None, *,
                encoder_outputs: Any = None, past_key_values: KVCache | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> Seq2SeqOutput:
        return self._run(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs,
                         past_key_values, output_attentions, output_hidden_states)


class BartForConditionalGeneration(BartPreTrainedModel):
    always_tied = {"model.encoder.embed_tokens.weight": "model.shared.weight",
                   "model.decoder.embed_tokens.weight": "model.shared.weight"}
    tied_weights = {"lm_head.weight": "model.shared.weight"}

    def __init__(self, config: BartConfig) -> None:
        super().__init__(config)
        self.model = BartModel(config)
        self.lm_head = Linear(config.d_model, config.vocab_size, bias=False)
        # A fixed bias on the logits (zeros in the released checkpoints); a buffer, saved with the weights.
        self.register_buffer("final_logits_bias", torch.zeros(1, config.vocab_size))

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is self:
            self.final_logits_bias.zero_()

    def _stacks(self) -> tuple[BartEncoder, BartDecoder]:
        return self.model.encoder, self.model.decoder

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden) + self.final_logits_bias

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None, *,
                encoder_outputs: Any = None, past_key_values: KVCache | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False) -> Seq2SeqOutput:
        if decoder_input_ids is None and labels is not None:  # teacher forcing on the labels
            decoder_input_ids = shift_right(labels, self.config.decoder_start_token_id, self.config.pad_token_id)
        out = self._run(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs,
                        past_key_values, output_attentions, output_hidden_states)
        return with_lm_loss(out, self.logits(out.last_hidden_state), labels)

    # -- the generation protocol -----------------------------------------------------------------
    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_: Any) -> EncoderStates:
        """Source ids (B, S) -> the encoder's states with their padding mask, computed once per input."""
        return encode_source(self.model.encoder, input_ids, attention_mask, self.device)

    def init_cache(self, batch_size: int, max_length: int | None = None) -> KVCache:
        return KVCache(self.config.decoder_layers, max_length=max_length)

    def decode_step(self, input_ids: torch.Tensor, cache: KVCache, *, encoder_outputs: EncoderStates | None = None,
                    attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Feed the new tokens (B, t); next-token logits (B, V). Encoder rows may be fewer (beams share them)."""
        states = None if encoder_outputs is None else encoder_states(encoder_outputs, None)
        hidden = self.model.decoder(input_ids, states, cache)
        return self.logits(hidden[:, -1])


CONFIG = BartConfig
HEADS = {"base": BartModel, "seq2seq-lm": BartForConditionalGeneration}
