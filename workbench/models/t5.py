"""T5 (and T5 v1.1 / Flan-T5): a pre-RMSNorm encoder-decoder with relative position buckets.

Module paths equal the hub checkpoint keys (`encoder.block.0.layer.0.SelfAttention.q.weight`,
`decoder.block.0.layer.1.EncDecAttention.k.weight`, `decoder.block.0.layer.2.DenseReluDense.wi_0.weight`).
What sets T5 apart, each visible below:

- no absolute positions: the first block of each stack owns a table `relative_attention_bias`
  (buckets x heads) whose values, looked up by the bucketed distance between query and key, are
  added to every layer's attention scores (bidirectional buckets in the encoder, causal in the
  decoder); the scores are *not* scaled by 1/sqrt(d);
- RMSNorm without a bias or a mean (`layer_norm`, `final_layer_norm`), before each sub-layer;
- bias-free projections; the feed-forward is ReLU (T5) or gated GELU (`feed_forward_proj =
  "gated-gelu"`: T5 v1.1, Flan-T5: `wo(gelu(wi_0 x) * wi_1 x)`);
- the LM head shares the embedding matrix in T5 (the decoder output is then rescaled by
  d_model**-0.5 first) and has its own matrix in v1.1 (`tie_word_embeddings: false`, no rescale).

Hook points live on the blocks (`encoder.block.3.attn_probs`, `decoder.block.3.cross_attn_probs`), so
a layer index is the block's. The model implements the generation protocol (`encode`, `init_cache`,
`decode_step`); the encoder's padding mask travels with its states to every cross-attention.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig, config_dataclass
from ..errors import ConfigError, InputError
from ..nn.activations import get_activation
from ..nn.attention import additive_mask, attend
from ..nn.cache import KVCache
from ..nn.hooks import HookPoint
from ..nn.onednn import Linear, linear_act
from ..outputs import Seq2SeqOutput
from .encoder_decoder import (EncoderStates, causal_mask, encode_source, encoder_states, run_seq2seq, shift_right,
                              with_lm_loss)
from .modeling import PreTrainedModel


@config_dataclass
class T5Config(PretrainedConfig):
    model_type = "t5"
    attribute_map = {"hidden_size": "d_model", "num_attention_heads": "num_heads", "num_hidden_layers": "num_layers",
                     "head_dim": "d_kv"}
    positive_fields = ("vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_heads",
                       "relative_attention_num_buckets", "relative_attention_max_distance")

    vocab_size: int = 32128
    d_model: int = 512
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 6
    num_decoder_layers: int | None = None  # None: as many as the encoder
    num_heads: int = 8
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    initializer_factor: float = 1.0
    feed_forward_proj: str = "relu"  # "relu" (T5), "gated-gelu" (v1.1, Flan-T5), "gated-silu", ...
    is_encoder_decoder: bool = True
    use_cache: bool = True
    pad_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 1
    decoder_start_token_id: int | None = 0  # T5 starts decoding from the pad token
    tie_word_embeddings: bool = True
    # Rescale the decoder output by d_model**-0.5 before the LM head. None: when the head is tied (T5, not v1.1);
    # the reference's 5.x writes it explicitly (and then always writes tie_word_embeddings: true).
    scale_decoder_outputs: bool | None = None

    def __init__(self, **kwargs: Any) -> None:
        # Derived from feed_forward_proj (as the reference does on reading): written by some tools, never read.
        kwargs.pop("dense_act_fn", None)
        kwargs.pop("is_gated_act", None)
        super().__init__(**kwargs)

    def validate(self) -> None:
        super().validate()
        parts = self.feed_forward_proj.split("-") if isinstance(self.feed_forward_proj, str) else []
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
            raise ConfigError(f"T5Config.feed_forward_proj = {self.feed_forward_proj!r}: use 'ACT' or 'gated-ACT' "
                              "(e.g. 'relu', 'gated-gelu'). Fix 'feed_forward_proj' in config.json.")
        get_activation(self.dense_act_fn)  # an unknown activation fails here, naming the supported ones
        if self.decoder_layers < 1:
            raise ConfigError(f"T5Config.num_decoder_layers = {self.num_decoder_layers!r}: it must be at least 1.")

    @property
    def is_gated_act(self) -> bool:
        return self.feed_forward_proj.startswith("gated-")

    @property
    def dense_act_fn(self) -> str:
        act = self.feed_forward_proj.split("-")[-1]
        return "gelu_new" if self.feed_forward_proj == "gated-gelu" else act  # v1.1's GELU is the tanh form

    @property
    def decoder_layers(self) -> int:
        return self.num_layers if self.num_decoder_layers is None else int(self.num_decoder_layers)

    @property
    def rescale_output(self) -> bool:
        return bool(self.tie_word_embeddings) if self.scale_decoder_outputs is None else bool(self.scale_decoder_outputs)


def relative_position_bucket(relative_position: torch.Tensor, bidirectional: bool, num_buckets: int,
                             max_distance: int) -> torch.Tensor:
    """Distance (key - query) -> bucket: exact buckets for small distances, logarithmic ones up to
    `max_distance`, one for everything beyond; bidirectional tables spend half the buckets on each side."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).long() * num_buckets
        distance = relative_position.abs()
    else:
        distance = -torch.clamp(relative_position, max=0)  # only the past counts
    max_exact = num_buckets // 2
    large = max_exact + (torch.log(distance.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).long()
    large = torch.clamp(large, max=num_buckets - 1)
    return buckets + torch.where(distance < max_exact, distance, large)


# -- blocks ---------------------------------------------------------------------------------------
class T5LayerNorm(nn.Module):
    """RMSNorm: scale by the root mean square (computed in float32), no mean, no bias."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.variance_epsilon = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.float().pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * x.to(self.weight.dtype)


class T5Attention(nn.Module):
    """Bias-free q/k/v/o projections; the position bias (and masks) come in as one additive mask."""

    def __init__(self, config: T5Config, *, relative_bias: bool) -> None:
        super().__init__()
        self.heads, self.head_dim = config.num_heads, config.d_kv
        inner = self.heads * self.head_dim
        self.q = Linear(config.d_model, inner, bias=False)
        self.k = Linear(config.d_model, inner, bias=False)
        self.v = Linear(config.d_model, inner, bias=False)
        self.o = Linear(inner, config.d_model, bias=False)
        self.dropout = config.dropout_rate
        if relative_bias:
            self.relative_attention_bias = nn.Embedding(config.relative_attention_num_buckets, self.heads)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)

    def project_kv(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split(self.k(source)), self.split(self.v(source))

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor | None,
                probs_hook: HookPoint) -> torch.Tensor:
        q = self.split(self.q(x))
        out = attend(q, kv[0], kv[1], mask, scale=1.0, dropout_p=self.dropout if self.training else 0.0,
                     probs_hook=probs_hook)  # T5 does not scale the scores
        b, _, t, _ = out.shape
        return self.o(out.transpose(1, 2).reshape(b, t, -1))  # (B, T, C)


class T5LayerSelfAttention(nn.Module):
    def __init__(self, config: T5Config, *, relative_bias: bool) -> None:
        super().__init__()
        self.SelfAttention = T5Attention(config, relative_bias=relative_bias)
        self.layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = config.dropout_rate


class T5LayerCrossAttention(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.EncDecAttention = T5Attention(config, relative_bias=False)
        self.layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = config.dropout_rate


class T5DenseActDense(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.wi = Linear(config.d_model, config.d_ff, bias=False)
        self.wo = Linear(config.d_ff, config.d_model, bias=False)
        self.act = get_activation(config.dense_act_fn)
        self.dropout = config.dropout_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wo(F.dropout(linear_act(x, self.wi, self.act), self.dropout, self.training))


class T5DenseGatedActDense(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.wi_0 = Linear(config.d_model, config.d_ff, bias=False)
        self.wi_1 = Linear(config.d_model, config.d_ff, bias=False)
        self.wo = Linear(config.d_ff, config.d_model, bias=False)
        self.act = get_activation(config.dense_act_fn)
        self.dropout = config.dropout_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wo(F.dropout(self.act(self.wi_0(x)) * self.wi_1(x), self.dropout, self.training))


class T5LayerFF(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.DenseReluDense = T5DenseGatedActDense(config) if config.is_gated_act else T5DenseActDense(config)
        self.layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = config.dropout_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.dropout(self.DenseReluDense(self.layer_norm(x)), self.dropout, self.training)


class T5Block(nn.Module):
    """`layer.0` self-attention, `layer.1` cross-attention (decoder only), last: the feed-forward."""

    def __init__(self, config: T5Config, index: int, *, decoder: bool) -> None:
        super().__init__()
        self.index = index  # this block's entries in the KV cache
        layers: list[nn.Module] = [T5LayerSelfAttention(config, relative_bias=index == 0)]
        if decoder:
            layers.append(T5LayerCrossAttention(config))
        layers.append(T5LayerFF(config))
        self.layer = nn.ModuleList(layers)
        self.attn_probs = HookPoint()
        if decoder:
            self.cross_attn_probs = HookPoint()
        self.hidden_state = HookPoint()

    def self_attention(self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None) -> torch.Tensor:
        sub = self.layer[0]
        h = sub.layer_norm(x)
        kv = sub.SelfAttention.project_kv(h)
        if cache is not None:
            kv = cache.update(self.index, *kv)  # (B, H, T_past + T, D)
        return x + F.dropout(sub.SelfAttention(h, kv, mask, self.attn_probs), sub.dropout, self.training)

    def cross_attention(self, x: torch.Tensor, encoder: EncoderStates | None, cache: KVCache) -> torch.Tensor:
        sub = self.layer[1]
        if cache.cross[self.index] is None:  # computed once per input, reused at every step
            if encoder is None:
                raise InputError("the decoder needs the encoder's states (or a cache holding the cross-attention keys).")
            cache.cross[self.index] = sub.EncDecAttention.project_kv(encoder.hidden)
        mask = None if encoder is None else encoder.cross_mask(x.dtype)
        h = sub.EncDecAttention(sub.layer_norm(x), cache.cross[self.index], mask, self.cross_attn_probs)
        return x + F.dropout(h, sub.dropout, self.training)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, encoder: EncoderStates | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        x = self.self_attention(x, mask, cache)
        if cache is not None:  # a decoder block
            x = self.cross_attention(x, encoder, cache)
        return self.hidden_state(self.layer[-1](x))


class T5Stack(nn.Module):
    """The encoder or the decoder: blocks over the shared embedding, a final RMSNorm."""

    def __init__(self, config: T5Config, embed_tokens: nn.Embedding, *, decoder: bool) -> None:
        super().__init__()
        self.config, self.is_decoder = config, decoder
        self.embed_tokens = embed_tokens  # the model's shared embedding (tied)
        self.hidden_state = HookPoint()  # the stack's input: hidden_states[0]
        n = config.decoder_layers if decoder else config.num_layers
        self.block = nn.ModuleList(T5Block(config, i, decoder=decoder) for i in range(n))
        self.final_layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)

    def position_bias(self, t: int, total: int, past: int) -> torch.Tensor:
        """(1, H, t, total) learned bias of queries past..past+t over keys 0..total, from the first block's table."""
        table = self.block[0].layer[0].SelfAttention.relative_attention_bias
        query = torch.arange(past, past + t, device=table.weight.device)[:, None]
        key = torch.arange(total, device=table.weight.device)[None, :]
        buckets = relative_position_bucket(key - query, not self.is_decoder, self.config.relative_attention_num_buckets,
                                           self.config.relative_attention_max_distance)
        return table(buckets).permute(2, 0, 1).unsqueeze(0)  # (1, H, t, total)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                encoder: EncoderStates | None = None, cache: KVCache | None = None) -> torch.Tensor:
        """Encoder: input_ids (B, S) + padding mask. Decoder: the new tokens (B, t) on `cache`, `attention_mask`
        covering past + t positions (decoder padding). -> (B, t, C) after the final norm."""
        x = self.embed_tokens(input_ids)
        x = self.hidden_state(F.dropout(x, self.config.dropout_rate, self.training))
        past, t = (cache.length if cache is not None else 0), input_ids.shape[1]
        bias = self.position_bias(t, past + t, past).to(x.dtype)
        if self.is_decoder:
            extra = causal_mask(t, past, x.dtype, x.device, attention_mask)
        else:
            extra = additive_mask(attention_mask, x.dtype)
        mask = bias if extra is None else bias + extra  # (B or 1, H, t, T): scores get the bias, then the masks
        for block in self.block:
            x = block(x, mask, encoder, cache)
        return F.dropout(self.final_layer_norm(x), self.config.dropout_rate, self.training)


# -- models ---------------------------------------------------------------------------------------
class T5PreTrainedModel(PreTrainedModel):
    config_class = T5Config
    base_model_prefix = ""  # the stacks sit at the root of every T5 checkpoint
    # Old checkpoints carry a cross-attention bias table no layer uses.
    ignore_on_load = (r"(^|\.)position_ids$", r"^decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.")
    attention_kinds = {"encoder.block.*.attn_probs": "self", "decoder.block.*.attn_probs": "causal",
                       "decoder.block.*.cross_attn_probs": "cross"}
    # The stacks' embeddings are the shared matrix always; only the LM head follows tie_word_embeddings.
    stack_ties = {"encoder.embed_tokens.weight": "shared.weight", "decoder.embed_tokens.weight": "shared.weight"}

    def tied_pairs(self) -> dict[str, str]:
        return {**self.stack_ties, **super().tied_pairs()}

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """T5's scheme (mesh-tensorflow): unit-variance embeddings, projections scaled by their fan-in."""
        f, d, kv, heads = self.config.initializer_factor, self.config.d_model, self.config.d_kv, self.config.num_heads
        if isinstance(module, T5LayerNorm):
            module.weight.fill_(f)
        elif isinstance(module, nn.Embedding):  # the shared vocabulary matrix, or a relative-position table
            module.weight.normal_(0.0, f if module.weight.shape[0] == self.config.vocab_size else f * d**-0.5)
        elif isinstance(module, T5Attention):
            module.q.weight.normal_(0.0, f * (d * kv) ** -0.5)
            module.k.weight.normal_(0.0, f * d**-0.5)
            module.v.weight.normal_(0.0, f * d**-0.5)
            module.o.weight.normal_(0.0, f * (heads * kv) ** -0.5)
            if hasattr(module, "relative_attention_bias"):
                module.relative_attention_bias.weight.normal_(0.0, f * d**-0.5)
        elif isinstance(module, (T5DenseActDense, T5DenseGatedActDense)):
            for name in ("wi", "wi_0", "wi_1"):
                if hasattr(module, name):
                    getattr(module, name).weight.normal_(0.0, f * d**-0.5)
            module.wo.weight.normal_(0.0, f * self.config.d_ff**-0.5)
        elif isinstance(module, nn.Linear) and module.out_features == self.config.vocab_size:  # an untied LM head
            module.weight.normal_(0.0, f)

    def _stacks(self) -> tuple[T5Stack, T5Stack]:
        return self.encoder, self.decoder

    def _build_stacks(self, config: T5Config) -> None:
        def embedding() -> nn.Embedding:
            return nn.Embedding(config.vocab_size, config.d_model)

        self.shared = embedding()
        self.encoder = T5Stack(config, embedding(), decoder=False)
        self.decoder = T5Stack(config, embedding(), decoder=True)

    def _run(self, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None,
             decoder_input_ids: torch.Tensor | None, decoder_attention_mask: torch.Tensor | None,
             encoder_outputs: Any, cache: KVCache | None, output_attentions: bool,
             output_hidden_states: bool) -> Seq2SeqOutput:
        encoder, decoder = self._stacks()
        if decoder_input_ids is None:
            raise InputError("pass decoder_input_ids (e.g. the start token, the pad id 0 for T5) or labels=... .")

        def encode() -> EncoderStates:
            if encoder_outputs is not None:
                return encoder_states(encoder_outputs, attention_mask)
            if input_ids is None:
                raise InputError("pass input_ids (the source text's token ids) or encoder_outputs.")
            return encoder_states(encoder(input_ids, attention_mask), attention_mask)

        return run_seq2seq(encoder, decoder, encode,
                           lambda states, c: decoder(decoder_input_ids, decoder_attention_mask, states, c),
                           cache if cache is not None else KVCache(len(decoder.block)),
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states)


class T5Model(T5PreTrainedModel):
    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self._build_stacks(config)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None, *,
                encoder_outputs: Any = None, past_key_values: KVCache | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> Seq2SeqOutput:
        return self._run(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs,
                         past_key_values, output_attentions, output_hidden_states)


class T5ForConditionalGeneration(T5PreTrainedModel):
    tied_weights = {"lm_head.weight": "shared.weight"}

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self._build_stacks(config)
        self.lm_head = Linear(config.d_model, config.vocab_size, bias=False)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.config.rescale_output:  # the tied head reads the embedding matrix: T5 scales its input down first
            hidden = hidden * self.config.d_model**-0.5
        return self.lm_head(hidden)

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
        return encode_source(self.encoder, input_ids, attention_mask, self.device)

    def init_cache(self, batch_size: int, max_length: int | None = None) -> KVCache:
        return KVCache(self.config.decoder_layers, max_length=max_length)

    def decode_step(self, input_ids: torch.Tensor, cache: KVCache, *, encoder_outputs: EncoderStates | None = None,
                    attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Feed the new tokens (B, t); next-token logits (B, V). Encoder rows may be fewer (beams share them)."""
        states = None if encoder_outputs is None else encoder_states(encoder_outputs, None)
        hidden = self.decoder(input_ids, None, states, cache)
        return self.logits(hidden[:, -1])


CONFIG = T5Config
HEADS = {"base": T5Model, "seq2seq-lm": T5ForConditionalGeneration}
