"""GPT-2: token + learned position embeddings -> pre-LayerNorm decoder blocks -> LM head tied to the embedding.

Module paths equal the hub keys (`transformer.h.0.attn.c_attn.weight`). GPT-2's linear layers are
"Conv1D": their weights are stored `[in, out]` (the transpose of `nn.Linear`), and the query, key
and value projections are one `c_attn` of width 3C. Old hub files also carry the causal-mask
buffers `attn.bias` / `attn.masked_bias`, which hold nothing to load.

Read top to bottom: config, Conv1D, attention, MLP, block, the base model, the LM head (with the
generation protocol: `init_cache`, `decode_step`), and last the GGUF converter (llama.cpp files: names,
Conv1D layout, config).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig, config_dataclass
from ..errors import InputError
from ..formats.gguf import layer_pattern
from ..nn.activations import get_activation
from ..nn.attention import attend, causal_mask
from ..nn.cache import KVCache
from ..nn.hooks import HookPoint
from ..nn.losses import causal_lm_loss
from ..nn.quantized import KINDS as QUANTIZED_KINDS
from ..outputs import BaseModelOutputWithPast, CausalLMOutput
from .modeling import PreTrainedModel, as_tuple, collect_internals, decoder_positions


@config_dataclass
class GPT2Config(PretrainedConfig):
    model_type = "gpt2"
    attribute_map = {"hidden_size": "n_embd", "num_attention_heads": "n_head", "num_hidden_layers": "n_layer",
                     "max_position_embeddings": "n_positions"}
    positive_fields = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")
    divisible_fields = (("n_embd", "n_head"),)

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None  # None: 4 * n_embd
    activation_function: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False
    reorder_and_upcast_attn: bool = False
    use_cache: bool = True
    bos_token_id: int | None = 50256
    eos_token_id: int | list[int] | None = 50256
    tie_word_embeddings: bool = True


class Conv1D(nn.Module):
    """A linear layer with its weight stored `[in, out]`, as GPT-2's checkpoints keep it."""

    weight_in_out = True  # nn.quantized may replace it by a 4-bit layer (GGUF files) that keeps this layout

    def __init__(self, nx: int, nf: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(*x.shape[:-1], -1)


# -- blocks ---------------------------------------------------------------------------------------
class GPT2Attention(nn.Module):
    def __init__(self, config: GPT2Config, index: int) -> None:
        super().__init__()
        c = config.n_embd
        self.index = index  # this layer's entries in the KV cache
        self.heads, self.head_dim = config.n_head, c // config.n_head
        self.scale = self.head_dim**-0.5 if config.scale_attn_weights else 1.0
        if config.scale_attn_by_inverse_layer_idx:
            self.scale /= float(index + 1)
        self.dropout, self.resid_dropout = config.attn_pdrop, config.resid_pdrop
        self.c_attn = Conv1D(c, 3 * c)
        self.c_proj = Conv1D(c, c)
        self.attn_probs = HookPoint()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, is_causal: bool, cache: KVCache | None) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = (y.view(b, t, self.heads, self.head_dim).transpose(1, 2) for y in self.c_attn(x).split(c, dim=2))
        if cache is not None:
            k, v = cache.update(self.index, k, v)  # (B, H, T_past + T, D)
        out = attend(q, k, v, mask, is_causal=is_causal, scale=self.scale,
                     dropout_p=self.dropout if self.training else 0.0, probs_hook=self.attn_probs)
        out = self.c_proj(out.transpose(1, 2).reshape(b, t, c))  # (B, T, C)
        return F.dropout(out, self.resid_dropout, self.training)


class GPT2MLP(nn.Module):
    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        inner = config.n_inner or 4 * config.n_embd
        self.c_fc = Conv1D(config.n_embd, inner)
        self.c_proj = Conv1D(inner, config.n_embd)
        self.act = get_activation(config.activation_function)
        self.dropout = config.resid_pdrop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(self.c_proj(self.act(self.c_fc(x))), self.dropout, self.training)


class GPT2Block(nn.Module):
    def __init__(self, config: GPT2Config, index: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2Attention(config, index)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(config)
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, is_causal: bool, cache: KVCache | None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask, is_causal, cache)
        return self.hidden_state(x + self.mlp(self.ln_2(x)))


# -- models ---------------------------------------------------------------------------------------
class GPT2PreTrainedModel(PreTrainedModel):
    config_class = GPT2Config
    base_model_prefix = "transformer"
    # The causal-mask buffers of old checkpoints (h.N.attn.bias, not h.N.attn.c_attn.bias).
    ignore_on_load = (r"(^|\.)attn\.(bias|masked_bias)$", r"(^|\.)position_ids$")
    attention_kinds = {"h.*.attn.attn_probs": "causal"}

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, Conv1D):
            module.weight.normal_(0.0, self.config.initializer_range)
            module.bias.zero_()


class GPT2Model(GPT2PreTrainedModel):
    """The decoder stack: (B, T) ids -> (B, T, C) hidden states after the final LayerNorm."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.hidden_state = HookPoint()  # the stack's input: hidden_states[0]
        self.h = nn.ModuleList(GPT2Block(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def run(self, input_ids: torch.Tensor | None, *, inputs_embeds: torch.Tensor | None = None,
            attention_mask: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
            token_type_ids: torch.Tensor | None = None, cache: KVCache | None = None) -> torch.Tensor:
        """The stack on new tokens after what `cache` holds; `attention_mask` covers cached + new tokens."""
        if (input_ids is None) == (inputs_embeds is None):
            raise InputError("pass either input_ids or inputs_embeds (exactly one of them).")
        x = self.wte(input_ids) if inputs_embeds is None else inputs_embeds
        past = cache.length if cache is not None else 0
        t = x.shape[1]
        if past + t > self.config.n_positions:
            raise InputError(f"GPT-2 takes at most {self.config.n_positions} tokens, asked for {past + t}; "
                             "shorten the prompt or lower max_new_tokens.")
        if position_ids is None:
            position_ids = decoder_positions(attention_mask, past, t, x.device)
        x = x + self.wpe(position_ids)
        if token_type_ids is not None:  # GPT-2 embeds segment ids with the token table
            x = x + self.wte(token_type_ids)
        x = self.hidden_state(F.dropout(x, self.config.embd_pdrop, self.training))
        mask, is_causal = causal_mask(attention_mask, past, t, x.dtype, x.device)
        for block in self.h:
            x = block(x, mask, is_causal, cache)
        return self.ln_f(x)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
                use_cache: bool = False, output_attentions: bool = False,
                output_hidden_states: bool = False) -> BaseModelOutputWithPast:
        cache = past_key_values if past_key_values is not None else (KVCache(self.config.n_layer) if use_cache else None)
        if position_ids is None and attention_mask is not None and cache is None:
            position_ids = torch.arange(attention_mask.shape[1], device=attention_mask.device)[None]  # as the reference's forward
        with collect_internals(self, output_attentions, output_hidden_states) as found:
            hidden = self.run(input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                              position_ids=position_ids, token_type_ids=token_type_ids, cache=cache)
        return BaseModelOutputWithPast(
            last_hidden_state=hidden, past_key_values=cache,
            # the last entry is the stack's output after ln_f, as the reference
            hidden_states=(*found["hidden_states"][:-1], hidden) if output_hidden_states else None,
            attentions=as_tuple(found["attentions"], output_attentions))


class GPT2LMHeadModel(GPT2PreTrainedModel):
    tied_weights = {"lm_head.weight": "transformer.wte.weight"}

    def __init__(self, config: GPT2Config) -> None:
        super().__init__(config)
        self.transformer = GPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, use_cache: bool = False, output_attentions: bool = False,
                output_hidden_states: bool = False, logits_to_keep: int = 0) -> CausalLMOutput:
        """`logits_to_keep`: compute logits for the last N positions only (0: all of them)."""
        out = self.transformer(input_ids, attention_mask, position_ids, past_key_values, inputs_embeds, token_type_ids,
                               use_cache, output_attentions, output_hidden_states)
        logits = self.lm_head(out.last_hidden_state[:, -logits_to_keep:])  # -0: every position
        loss = causal_lm_loss(logits, labels) if labels is not None else None
        return CausalLMOutput(loss=loss, logits=logits, past_key_values=out.past_key_values,
                              hidden_states=out.hidden_states, attentions=out.attentions)

    def lens_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The logit lens: what the head would predict from an intermediate hidden state (B, T, C) -> (B, T, V)."""
        return self.lm_head(self.transformer.ln_f(hidden))

    # -- the generation protocol ----------------------------------------------------------------
    def init_cache(self, batch_size: int, max_length: int | None = None) -> KVCache:
        return KVCache(self.config.n_layer, max_length=max_length)

    def decode_step(self, input_ids: torch.Tensor, cache: KVCache, *, encoder_outputs: Any = None,
                    attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Feed the new tokens (B, t) after the cached ones; next-token logits (B, V)."""
        hidden = self.transformer.run(input_ids, attention_mask=attention_mask, cache=cache)
        return self.lm_head(hidden[:, -1])


# -- GGUF files (llama.cpp) ---------------------------------------------------------------------------
# llama.cpp tensor name ("{}": the layer) -> hub key; gguf-py's MODEL_ARCH.GPT2 tensors, weights and biases
GGUF_NAMES = {
    "token_embd.weight": "transformer.wte.weight",
    "position_embd.weight": "transformer.wpe.weight",
    "output_norm.weight": "transformer.ln_f.weight",
    "output_norm.bias": "transformer.ln_f.bias",
    "output.weight": "lm_head.weight",
    **{f"blk.{{}}.{part}.{leaf}": f"transformer.h.{{}}.{hub}.{leaf}"
       for part, hub in (("attn_norm", "ln_1"), ("attn_qkv", "attn.c_attn"), ("attn_output", "attn.c_proj"),
                         ("ffn_norm", "ln_2"), ("ffn_up", "mlp.c_fc"), ("ffn_down", "mlp.c_proj"))
       for leaf in ("weight", "bias")},
}
# llama.cpp's converter transposes the Conv1D weights to (out, in) (and quantises them along `in`): back to [in, out]
GGUF_TRANSPOSED = ("attn_qkv.weight", "attn_output.weight", "ffn_up.weight", "ffn_down.weight")
# GGUF metadata (under the architecture's prefix) -> config.json field
GGUF_CONFIG = {
    ".block_count": "n_layer",
    ".context_length": "n_positions",  # the position table's length (the reference reads it into n_ctx)
    ".embedding_length": "n_embd",
    ".feed_forward_length": "n_inner",
    ".attention.head_count": "n_head",
    ".attention.layer_norm_epsilon": "layer_norm_epsilon",
    "tokenizer.ggml.bos_token_id": "bos_token_id",
    "tokenizer.ggml.eos_token_id": "eos_token_id",
    "tokenizer.ggml.padding_token_id": "pad_token_id",
}


def gguf_config(file: Any) -> dict[str, Any]:
    """config.json for a gpt2-architecture GGUF file, from its metadata."""
    config: dict[str, Any] = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}
    config.update(file.config_fields(GGUF_CONFIG))
    tokens = file.get("tokenizer.ggml.tokens")
    if "token_embd.weight" in file.tensor_info:  # the table's rows, whatever the vocabulary lists
        config["vocab_size"] = file.tensor_info["token_embd.weight"].shape[0]
    elif tokens is not None:
        config["vocab_size"] = len(tokens)
    # llama.cpp's converter writes the tied head again as output.weight; a file without one ties (as llama.cpp reads it)
    config["tie_word_embeddings"] = "output.weight" not in file.tensor_types
    return config


def from_gguf(checkpoint: Any) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A gpt2-architecture GGUF checkpoint -> (config.json as a dict, state dict in hub keys).

    The state dict holds every weight dequantised (Conv1D weights `[in, out]` again); the Q4_0/Q4_1/Q8_0 blocks of
    the Conv1D layers and of an untied head are also handed on (`metadata["quantized"]`, in the file's `(out, in)`
    rows), so that from_checkpoint runs those layers 4-bit as Llama's unless `dequantize=True`."""
    file = checkpoint.metadata["gguf"]
    config = gguf_config(file)
    state, blocks = {}, {}
    for name, tensor in checkpoint.load().items():
        pattern, layer = layer_pattern(name)
        if pattern not in GGUF_NAMES:
            continue  # nothing else in llama.cpp's GPT-2 files holds weights
        key = GGUF_NAMES[pattern].format(layer)
        if name.endswith(GGUF_TRANSPOSED):
            tensor = tensor.t().contiguous()
        state[key] = tensor
        kind = file.tensor_types[name]
        if kind in QUANTIZED_KINDS and (name.endswith(GGUF_TRANSPOSED) or name in ("output.weight", "token_embd.weight")):
            blocks[key] = (kind, file.blocks(name))
    embedding = blocks.pop("transformer.wte.weight", None)  # a lookup reads one row: the embedding stays float
    if config["tie_word_embeddings"] and embedding is not None:
        blocks["lm_head.weight"] = embedding  # the tied head reads the embedding's blocks
    checkpoint.metadata["quantized"] = blocks
    return config, state


GPT2PreTrainedModel.checkpoint_converters = {"gguf": from_gguf}

CONFIG = GPT2Config
HEADS = {"base": GPT2Model, "causal-lm": GPT2LMHeadModel}
