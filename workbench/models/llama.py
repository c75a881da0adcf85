"""Llama: token embeddings -> pre-RMSNorm decoder layers (RoPE, grouped-query attention, SwiGLU) -> LM head.

Covers the Llama-architecture checkpoints (SmolLM2, TinyLlama, Llama 2/3.x small models, and the
language model of LLaVA). Module paths equal the hub keys (`model.layers.0.self_attn.q_proj.weight`);
`lm_head` shares the embedding when `tie_word_embeddings` is set.

Read top to bottom: config, rotary embeddings (every `rope_scaling` variant), RMSNorm, attention,
MLP, layer, the base model, the causal LM head (with the generation protocol: `init_cache`,
`decode_step`), and last the GGUF converter (llama.cpp files: names, Q/K row order, config).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig, config_dataclass
from ..errors import ConfigError, InputError
from ..formats.gguf import layer_pattern
from ..nn.activations import get_activation
from ..nn.attention import attend, causal_mask
from ..nn.cache import KVCache
from ..nn.hooks import HookPoint
from ..nn.losses import causal_lm_loss
from ..nn.quantized import KINDS as QUANTIZED_KINDS
from ..nn.quantized import project
from ..outputs import BaseModelOutputWithPast, CausalLMOutput
from .modeling import PreTrainedModel, as_tuple, collect_internals, decoder_positions

ROPE_TYPES = ("default", "linear", "dynamic", "yarn", "longrope", "llama3")


@config_dataclass
class LlamaConfig(PretrainedConfig):
    model_type = "llama"
    positive_fields = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                       "num_key_value_heads", "max_position_embeddings")
    divisible_fields = (("num_attention_heads", "num_key_value_heads"),)

    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None  # None: as many as query heads (no grouping)
    head_dim: int | None = None  # None: hidden_size // num_attention_heads
    hidden_act: str = "silu"
    max_position_embeddings: int = 2048
    initializer_range: float = 0.02
    rms_norm_eps: float = 1e-6
    use_cache: bool = True
    pad_token_id: int | None = None
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2
    tie_word_embeddings: bool = False
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] | None = None  # {"rope_type": "linear" | "dynamic" | "yarn" | "longrope" | "llama3", ...}
    rope_parameters: dict[str, Any] | None = None  # the reference 5.x's spelling of rope_theta + rope_scaling
    attention_bias: bool = False
    attention_dropout: float = 0.0
    mlp_bias: bool = False
    pretraining_tp: int = 1

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
            self.validate()

    def validate(self) -> None:
        super().validate()
        rope_type = self.rope["rope_type"]
        if rope_type not in ROPE_TYPES:
            raise ConfigError(f"LlamaConfig: unknown rope_type {rope_type!r} in rope_scaling; known: {', '.join(ROPE_TYPES)}.")
        if self.head_dim is None and self.hidden_size % self.num_attention_heads:
            raise ConfigError(f"LlamaConfig.hidden_size = {self.hidden_size} is not divisible by num_attention_heads = "
                              f"{self.num_attention_heads}; set head_dim or fix the sizes in config.json.")

    @property
    def rope(self) -> dict[str, Any]:
        """The rotary settings in one dict (`rope_type`, `rope_theta` and the variant's keys), from either spelling."""
        params = dict(self.rope_parameters or {})
        if not params:
            params = {"rope_theta": self.rope_theta, **(self.rope_scaling or {})}
        params.setdefault("rope_theta", self.rope_theta)
        params["rope_type"] = params.get("rope_type", params.get("type", "default"))
        return params

    @property
    def attention_head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads


# -- rotary position embeddings --------------------------------------------------------------------
def rope_frequencies(config: LlamaConfig, seq_len: int | None = None) -> tuple[torch.Tensor, float]:
    """Inverse frequencies (D/2,) and the attention scaling of the config's RoPE variant, as the reference
    computes them; `seq_len` (positions in use) matters to "dynamic" and "longrope" only."""
    rope = config.rope
    kind, base = rope["rope_type"], float(rope["rope_theta"])
    dim = int(config.attention_head_dim * rope.get("partial_rotary_factor", 1.0))
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).float() / dim
    if kind == "dynamic":  # NTK: a larger base once the sequence outgrows the trained length
        trained = config.max_position_embeddings
        length = max(seq_len or trained, trained)
        base = base * ((rope["factor"] * length / trained) - (rope["factor"] - 1)) ** (dim / (dim - 2))
    inv_freq = 1.0 / (base**exponents)
    if kind == "linear":
        return inv_freq / rope["factor"], 1.0
    if kind == "llama3":
        return _llama3_frequencies(inv_freq, rope), 1.0
    if kind == "yarn":
        return _yarn_frequencies(config, rope, base, dim)
    if kind == "longrope":
        original = rope["original_max_position_embeddings"]
        factor = rope.get("factor") or config.max_position_embeddings / original
        scale = rope.get("attention_factor")
        if scale is None:
            scale = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
        ext = rope["long_factor"] if seq_len and seq_len > original else rope["short_factor"]
        return inv_freq / torch.tensor(ext, dtype=torch.float32), float(scale)
    return inv_freq, 1.0


def _llama3_frequencies(inv_freq: torch.Tensor, rope: dict[str, Any]) -> torch.Tensor:
    """Llama 3.1: long wavelengths divided by `factor`, short ones kept, a smooth ramp between."""
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > old / low, inv_freq / factor, inv_freq)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old / high) & ~(wavelen > old / low)
    return torch.where(medium, smoothed, scaled)


def _yarn_frequencies(config: LlamaConfig, rope: dict[str, Any], base: float, dim: int) -> tuple[torch.Tensor, float]:
    """YaRN: interpolate low frequencies, keep high ones, ramp between; scale attention by `mscale`."""
    original = rope["original_max_position_embeddings"]
    factor = rope.get("factor") or config.max_position_embeddings / original

    def mscale(scale: float, m: float = 1.0) -> float:
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    attention = rope.get("attention_factor")
    if attention is None:
        m, m_all = rope.get("mscale"), rope.get("mscale_all_dim")
        attention = mscale(factor, m) / mscale(factor, m_all) if m and m_all else mscale(factor)
    fast, slow = rope.get("beta_fast") or 32, rope.get("beta_slow") or 1

    def correction_dim(rotations: float) -> float:
        return (dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(fast), correction_dim(slow)
    if rope.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    pos_freqs = base ** (torch.arange(0, dim, 2).float() / dim)
    keep = 1 - ramp  # 1: extrapolate (keep the frequency), 0: interpolate (divide by factor)
    return (1.0 / (factor * pos_freqs)) * (1 - keep) + (1.0 / pos_freqs) * keep, float(attention)


class LlamaRotaryEmbedding(nn.Module):
    """cos/sin tables for the positions in use. No parameters and no buffer (the hub files hold none, and a
    model built on the meta device would leave a buffer empty): the frequencies are computed on first use."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.config = config
        self.varies = config.rope["rope_type"] in ("dynamic", "longrope")  # frequencies depend on the length
        self._inv_freq: torch.Tensor | None = None
        self.scaling = 1.0

    def forward(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """positions (B or 1, T) -> cos, sin (B or 1, 1, T, D) in `dtype`."""
        if self.varies or self._inv_freq is None or self._inv_freq.device != positions.device:
            length = int(positions.max()) + 1 if self.varies else None
            inv_freq, self.scaling = rope_frequencies(self.config, length)
            self._inv_freq = inv_freq.to(positions.device)
        freqs = positions[..., None].float() * self._inv_freq  # (B, T, D/2)
        emb = torch.cat([freqs, freqs], dim=-1)
        return (emb.cos() * self.scaling).to(dtype)[:, None], (emb.sin() * self.scaling).to(dtype)[:, None]


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (i, i + D/2) of x (B, H, T, D) by the position angles (the hub's half-split layout)."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


# -- blocks ---------------------------------------------------------------------------------------
class LlamaRMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)  # in float32, as the reference
        return self.weight * h.to(x.dtype)


class LlamaAttention(nn.Module):
    def __init__(self, config: LlamaConfig, index: int) -> None:
        super().__init__()
        self.index = index  # this layer's entries in the KV cache
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = config.attention_head_dim
        self.dropout = config.attention_dropout
        bias = config.attention_bias
        self.q_proj = nn.Linear(config.hidden_size, self.heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(config.hidden_size, self.kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(config.hidden_size, self.kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.heads * self.head_dim, config.hidden_size, bias=bias)
        self.attn_probs = HookPoint()

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor | None,
                is_causal: bool, cache: KVCache | None) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = project(x, self.q_proj, self.k_proj, self.v_proj)
        q = q.view(b, t, self.heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        k = k.view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
        v = v.view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = rotate(q, *rope), rotate(k, *rope)
        if cache is not None:
            k, v = cache.update(self.index, k, v)  # (B, Hkv, T_past + T, D)
        # grouped-query attention (Hkv < H): attend() lets each key/value head serve its group of query heads
        out = attend(q, k, v, mask, is_causal=is_causal, dropout_p=self.dropout if self.training else 0.0,
                     probs_hook=self.attn_probs)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))  # (B, T, C)


class LlamaMLP(nn.Module):
    """SwiGLU: down(act(gate(x)) * up(x))."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        d, f, bias = config.hidden_size, config.intermediate_size, config.mlp_bias
        self.gate_proj = nn.Linear(d, f, bias=bias)
        self.up_proj = nn.Linear(d, f, bias=bias)
        self.down_proj = nn.Linear(f, d, bias=bias)
        self.act = get_activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = project(x, self.gate_proj, self.up_proj)
        return self.down_proj(self.act(gate) * up)


class LlamaDecoderLayer(nn.Module):
    def __init__(self, config: LlamaConfig, index: int) -> None:
        super().__init__()
        self.self_attn = LlamaAttention(config, index)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = LlamaRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = LlamaRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor | None,
                is_causal: bool, cache: KVCache | None) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), rope, mask, is_causal, cache)
        return self.hidden_state(x + self.mlp(self.post_attention_layernorm(x)))


# -- models ---------------------------------------------------------------------------------------
class LlamaPreTrainedModel(PreTrainedModel):
    config_class = LlamaConfig
    base_model_prefix = "model"
    ignore_on_load = (r"(^|\.)rotary_emb\.inv_freq$", r"(^|\.)position_ids$")
    attention_kinds = {"layers.*.self_attn.attn_probs": "causal"}
    fused_projections = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))  # 4-bit layers read x once

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, LlamaRMSNorm):
            module.weight.fill_(1.0)


class LlamaModel(LlamaPreTrainedModel):
    """The decoder stack: (B, T) ids -> (B, T, C) hidden states after the final RMSNorm."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.hidden_state = HookPoint()  # the stack's input: hidden_states[0]
        self.layers = nn.ModuleList(LlamaDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = LlamaRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = LlamaRotaryEmbedding(config)

    def run(self, input_ids: torch.Tensor | None, *, inputs_embeds: torch.Tensor | None = None,
            attention_mask: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
            cache: KVCache | None = None) -> torch.Tensor:
        """The stack on new tokens after what `cache` holds; `attention_mask` covers cached + new tokens."""
        if (input_ids is None) == (inputs_embeds is None):
            raise InputError("pass either input_ids or inputs_embeds (exactly one of them).")
        x = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        past = cache.length if cache is not None else 0
        t = x.shape[1]
        if position_ids is None:
            position_ids = decoder_positions(attention_mask, past, t, x.device)
        rope = self.rotary_emb(position_ids, x.dtype)
        mask, is_causal = causal_mask(attention_mask, past, t, x.dtype, x.device)
        x = self.hidden_state(x)
        for layer in self.layers:
            x = layer(x, rope, mask, is_causal, cache)
        return self.norm(x)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, use_cache: bool = False, output_attentions: bool = False,
                output_hidden_states: bool = False) -> BaseModelOutputWithPast:
        cache = past_key_values if past_key_values is not None else (
            KVCache(self.config.num_hidden_layers) if use_cache else None)
        if position_ids is None and attention_mask is not None and cache is None:
            position_ids = torch.arange(attention_mask.shape[1], device=attention_mask.device)[None]  # as the reference's forward
        with collect_internals(self, output_attentions, output_hidden_states) as found:
            hidden = self.run(input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                              position_ids=position_ids, cache=cache)
        return BaseModelOutputWithPast(
            last_hidden_state=hidden, past_key_values=cache,
            # the last entry is the stack's output after the final norm, as the reference
            hidden_states=(*found["hidden_states"][:-1], hidden) if output_hidden_states else None,
            attentions=as_tuple(found["attentions"], output_attentions))


class LlamaForCausalLM(LlamaPreTrainedModel):
    tied_weights = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__(config)
        self.model = LlamaModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None, use_cache: bool = False,
                output_attentions: bool = False, output_hidden_states: bool = False,
                logits_to_keep: int = 0) -> CausalLMOutput:
        """`logits_to_keep`: compute logits for the last N positions only (0: all of them)."""
        out = self.model(input_ids, attention_mask, position_ids, past_key_values, inputs_embeds, use_cache,
                         output_attentions, output_hidden_states)
        logits = self.lm_head(out.last_hidden_state[:, -logits_to_keep:])  # -0: every position
        loss = causal_lm_loss(logits, labels) if labels is not None else None
        return CausalLMOutput(loss=loss, logits=logits, past_key_values=out.past_key_values,
                              hidden_states=out.hidden_states, attentions=out.attentions)

    def lens_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The logit lens: what the head would predict from an intermediate hidden state (B, T, C) -> (B, T, V)."""
        return self.lm_head(self.model.norm(hidden))

    # -- the generation protocol ----------------------------------------------------------------
    def init_cache(self, batch_size: int, max_length: int | None = None) -> KVCache:
        return KVCache(self.config.num_hidden_layers, max_length=max_length)

    def decode_step(self, input_ids: torch.Tensor, cache: KVCache, *, encoder_outputs: Any = None,
                    attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Feed the new tokens (B, t) after the cached ones; next-token logits (B, V)."""
        hidden = self.model.run(input_ids, attention_mask=attention_mask, cache=cache)
        return self.lm_head(hidden[:, -1])


# -- GGUF (llama.cpp) files -----------------------------------------------------------------------
# llama.cpp's tensor names -> hub keys ({} is the layer index).
GGUF_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
    "blk.{}.attn_norm.weight": "model.layers.{}.input_layernorm.weight",
    "blk.{}.attn_q.weight": "model.layers.{}.self_attn.q_proj.weight",
    "blk.{}.attn_k.weight": "model.layers.{}.self_attn.k_proj.weight",
    "blk.{}.attn_v.weight": "model.layers.{}.self_attn.v_proj.weight",
    "blk.{}.attn_output.weight": "model.layers.{}.self_attn.o_proj.weight",
    "blk.{}.ffn_norm.weight": "model.layers.{}.post_attention_layernorm.weight",
    "blk.{}.ffn_gate.weight": "model.layers.{}.mlp.gate_proj.weight",
    "blk.{}.ffn_up.weight": "model.layers.{}.mlp.up_proj.weight",
    "blk.{}.ffn_down.weight": "model.layers.{}.mlp.down_proj.weight",
}
# GGUF metadata (under the architecture's prefix) -> config.json field
GGUF_CONFIG = {
    ".vocab_size": "vocab_size",
    ".embedding_length": "hidden_size",
    ".feed_forward_length": "intermediate_size",
    ".block_count": "num_hidden_layers",
    ".attention.head_count": "num_attention_heads",
    ".attention.head_count_kv": "num_key_value_heads",
    ".attention.key_length": "head_dim",
    ".context_length": "max_position_embeddings",
    ".attention.layer_norm_rms_epsilon": "rms_norm_eps",
    ".rope.freq_base": "rope_theta",
    "tokenizer.ggml.bos_token_id": "bos_token_id",
    "tokenizer.ggml.eos_token_id": "eos_token_id",
    "tokenizer.ggml.padding_token_id": "pad_token_id",
}


def unpermute_rows(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """Undo llama.cpp's Q/K row order: its converter interleaves each head's two rotary halves
    (rows 0, D/2, 1, D/2+1, ...) for its own RoPE kernel; the hub layout keeps the halves apart."""
    rows = weight.shape[0]
    return weight.reshape(heads, rows // heads // 2, 2, *weight.shape[1:]).transpose(1, 2).reshape(weight.shape)


def gguf_config(file: Any) -> dict[str, Any]:
    """config.json for a llama-architecture GGUF file, from its metadata."""
    config: dict[str, Any] = {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}
    config.update(file.config_fields(GGUF_CONFIG))
    if "vocab_size" not in config and file.get("tokenizer.ggml.tokens") is not None:
        config["vocab_size"] = len(file.get("tokenizer.ggml.tokens"))
    kind = file.get(".rope.scaling.type")
    if kind not in (None, "none"):
        config["rope_scaling"] = {"rope_type": kind, "factor": file.get(".rope.scaling.factor"),
                                  "original_max_position_embeddings": file.get(".rope.scaling.original_context_length")}
    config["tie_word_embeddings"] = "output.weight" not in file.tensor_types
    return config


def from_gguf(checkpoint: Any) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A llama-architecture GGUF checkpoint -> (config.json as a dict, state dict in hub keys)."""
    file = checkpoint.metadata["gguf"]
    config = gguf_config(file)
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads", config["num_attention_heads"])
    state, blocks = {}, {}
    for name, tensor in checkpoint.load().items():
        pattern, layer = layer_pattern(name)
        if pattern not in GGUF_NAMES:
            continue  # e.g. rope_freqs.weight: the frequencies come from the config here
        key = GGUF_NAMES[pattern].format(layer)
        kind = file.tensor_types[name]
        raw = file.blocks(name) if kind in QUANTIZED_KINDS and tensor.dim() == 2 else None
        if pattern in ("blk.{}.attn_q.weight", "blk.{}.attn_k.weight"):
            n = heads if pattern == "blk.{}.attn_q.weight" else kv_heads
            tensor = unpermute_rows(tensor, n)
            raw = None if raw is None else unpermute_rows(raw, n)  # whole rows of blocks move together
        state[key] = tensor
        if raw is not None:
            blocks[key] = (kind, raw)
    if config["tie_word_embeddings"] and "model.embed_tokens.weight" in blocks:
        blocks["lm_head.weight"] = blocks["model.embed_tokens.weight"]  # the tied head reads the embedding's blocks
    # the 4-bit linear layers from_checkpoint builds unless dequantize=True (embeddings stay float: a lookup reads one row)
    checkpoint.metadata["quantized"] = {k: v for k, v in blocks.items() if k != "model.embed_tokens.weight"}
    return config, state


LlamaPreTrainedModel.checkpoint_converters = {"gguf": from_gguf}

CONFIG = LlamaConfig
HEADS = {"base": LlamaModel, "causal-lm": LlamaForCausalLM}
