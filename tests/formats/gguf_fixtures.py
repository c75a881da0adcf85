"""Tiny generation checkpoints: GGUF files written with the `gguf` package (llama.cpp's own writer), and a
hub folder of a tiny random GPT-2 with a tiny byte-level BPE tokenizer (pipeline and panel tests).

`tiny_bpe()` trains a small byte-level BPE vocabulary on a few sentences; `write_llama_gguf()` writes
a tiny random reference Llama as llama.cpp's converter does: its tensor names, Q/K rows permuted
for llama.cpp's RoPE, its metadata keys and the tokenizer's vocabulary, merges and token types.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

TEXT = ["The capital of France is Paris.", "Hello world, hello tokens!", "it's 2024: numbers 12345 and 3.14",
        "naïve café — 日本語", "Once upon a time there was a tiny model."] * 4
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def tiny_bpe(vocab_size: int = 300) -> tuple[list[str], list[str], list[int]]:
    """(tokens by id, merges "a b", llama.cpp token types: 3 control for the specials, 1 normal)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(TEXT, trainer)
    state = json.loads(tok.to_str())
    vocab = state["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in state["model"]["merges"]]
    types = [3 if t in SPECIALS else 1 for t in tokens]
    return tokens, merges, types


def permute_rows(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's converter: interleave each head's two rotary halves."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def add_bpe_vocabulary(writer, tokenizer: tuple[list[str], list[str], list[int]]) -> list[str]:
    """The byte-level BPE vocabulary (tokens, merges, token types) as llama.cpp's "gpt2" tokenizer; returns the tokens."""
    tokens, merges, types = tokenizer
    writer.add_string("tokenizer.ggml.model", "gpt2")
    writer.add_string("tokenizer.ggml.pre", "gpt-2")
    writer.add_array("tokenizer.ggml.tokens", tokens)
    writer.add_array("tokenizer.ggml.merges", merges)
    writer.add_array("tokenizer.ggml.token_type", types)
    return tokens


def add_weight(writer, name: str, w: np.ndarray, kind, *, keep_f32: bool) -> None:
    """One tensor: float32 when `keep_f32` or the file is F32, float16 for F16, else quantised to `kind` by gguf."""
    from gguf import GGMLQuantizationType, quants

    if keep_f32 or kind == GGMLQuantizationType.F32:
        writer.add_tensor(name, np.ascontiguousarray(w, dtype=np.float32))
    elif kind == GGMLQuantizationType.F16:
        writer.add_tensor(name, np.ascontiguousarray(w, dtype=np.float16))
    else:
        q = quants.quantize(np.ascontiguousarray(w), kind)
        writer.add_tensor(name, q, raw_shape=q.shape, raw_dtype=kind)


def finish(writer) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_llama_gguf(path: Path, ref, qtype: str, tokenizer: tuple[list[str], list[str], list[int]]) -> Path:
    """Write the reference Llama `ref` (LlamaForCausalLM) to `path`, 2-D weights as `qtype`."""
    import gguf
    from gguf import GGMLQuantizationType

    c = ref.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_uint32("llama.block_count", c.num_hidden_layers)
    writer.add_uint32("llama.context_length", c.max_position_embeddings)
    writer.add_uint32("llama.embedding_length", c.hidden_size)
    writer.add_uint32("llama.feed_forward_length", c.intermediate_size)
    writer.add_uint32("llama.attention.head_count", c.num_attention_heads)
    writer.add_uint32("llama.attention.head_count_kv", c.num_key_value_heads)
    writer.add_float32("llama.rope.freq_base", float(c.rope_parameters["rope_theta"]))
    writer.add_float32("llama.attention.layer_norm_rms_epsilon", c.rms_norm_eps)
    writer.add_uint32("llama.vocab_size", c.vocab_size)
    tokens = add_bpe_vocabulary(writer, tokenizer)
    writer.add_uint32("tokenizer.ggml.bos_token_id", tokens.index("<|im_start|>"))
    writer.add_uint32("tokenizer.ggml.eos_token_id", tokens.index("<|im_end|>"))
    writer.add_uint32("tokenizer.ggml.padding_token_id", tokens.index("<|endoftext|>"))
    writer.add_bool("tokenizer.ggml.add_bos_token", False)
    writer.add_string("tokenizer.chat_template", CHAT_TEMPLATE)
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    parts = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    kind = GGMLQuantizationType[qtype]
    for key, value in ref.state_dict().items():
        if key == "lm_head.weight" and c.tie_word_embeddings:
            continue  # tied: llama.cpp files then have no output.weight
        if key.startswith("model.layers."):
            layer, rest = key.split(".")[2], ".".join(key.split(".")[3:]).removesuffix(".weight")
            name = f"blk.{layer}.{parts[rest]}.weight"
        else:
            name = names[key]
        w = value.detach().float().numpy()
        if name.endswith("attn_q.weight"):
            w = permute_rows(w, c.num_attention_heads)
        elif name.endswith("attn_k.weight"):
            w = permute_rows(w, c.num_key_value_heads)
        add_weight(writer, name, w, kind, keep_f32=w.ndim == 1)  # norms stay F32, as llama.cpp keeps them
    finish(writer)
    return path


def tiny_reference_llama(tie: bool = False, vocab_size: int = 300):
    import transformers

    config = transformers.LlamaConfig(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, intermediate_size=96, max_position_embeddings=128,
                                      tie_word_embeddings=tie, attn_implementation="eager")
    torch.manual_seed(0)
    ref = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return ref


def write_tiny_gpt2(path: Path) -> Path:
    """A hub folder: a tiny random reference GPT-2 (vocab 300) and a tiny byte-level BPE tokenizer with a chat template."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(TEXT, trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS, show_progress=False,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                                pad_token="<|endoftext|>", bos_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)
    config = transformers.GPT2Config(vocab_size=300, n_embd=32, n_layer=2, n_head=4, n_positions=128, bos_token_id=0,
                                     eos_token_id=0, pad_token_id=0)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(path)
    return path


# llama.cpp's GPT-2 tensor names (gguf-py's MODEL_ARCH.GPT2) for the reference's hub keys
GPT2_NAMES = {"transformer.wte.weight": "token_embd.weight", "transformer.wpe.weight": "position_embd.weight",
              "transformer.ln_f.weight": "output_norm.weight", "transformer.ln_f.bias": "output_norm.bias"}
GPT2_PARTS = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
              "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}


def write_gpt2_gguf(path: Path, ref, qtype: str, tokenizer: tuple[list[str], list[str], list[int]],
                    output: bool = True) -> Path:
    """Write the reference GPT-2 `ref` (GPT2LMHeadModel) to `path` as llama.cpp's converter does: Conv1D weights
    transposed to `(out, in)`, the tied head written again as `output.weight` (unless not `output`); 2-D weights
    as `qtype` (the position table F32), norms and biases F32."""
    import gguf
    from gguf import GGMLQuantizationType

    c = ref.config
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_uint32("gpt2.block_count", c.n_layer)
    writer.add_uint32("gpt2.context_length", c.n_positions)
    writer.add_uint32("gpt2.embedding_length", c.n_embd)
    writer.add_uint32("gpt2.feed_forward_length", c.n_inner or 4 * c.n_embd)
    writer.add_uint32("gpt2.attention.head_count", c.n_head)
    writer.add_float32("gpt2.attention.layer_norm_epsilon", c.layer_norm_epsilon)
    tokens = add_bpe_vocabulary(writer, tokenizer)
    writer.add_uint32("tokenizer.ggml.bos_token_id", tokens.index("<|endoftext|>"))
    writer.add_uint32("tokenizer.ggml.eos_token_id", tokens.index("<|endoftext|>"))
    writer.add_string("tokenizer.chat_template", CHAT_TEMPLATE)
    kind = GGMLQuantizationType[qtype]
    state = ref.state_dict()
    for key, value in state.items():
        if key.endswith((".attn.bias", ".attn.masked_bias")) or key == "lm_head.weight":
            continue
        if key.startswith("transformer.h."):
            layer, rest = key.split(".")[2], ".".join(key.split(".")[3:])
            part, _, leaf = rest.rpartition(".")
            name = f"blk.{layer}.{GPT2_PARTS[part]}.{leaf}"
        else:
            name = GPT2_NAMES[key]
        w = value.detach().float().numpy()
        if name.endswith(("attn_qkv.weight", "attn_output.weight", "ffn_up.weight", "ffn_down.weight")):
            w = w.T  # Conv1D [in, out] -> (out, in)
        tensors = [(name, w)] + ([("output.weight", w)] if output and name == "token_embd.weight" else [])
        for name, w in tensors:
            add_weight(writer, name, w, kind, keep_f32=w.ndim == 1 or name == "position_embd.weight")
    finish(writer)
    return path


def tiny_reference_gpt2(vocab_size: int = 300):
    """A tiny random reference GPT-2 (widths in whole 32-weight blocks), LayerNorms and biases randomised too.
    n_positions stays 1024: the reference's GGUF loader reads `gpt2.context_length` into `n_ctx`, not `n_positions`."""
    import transformers

    config = transformers.GPT2Config(vocab_size=vocab_size, n_embd=64, n_layer=2, n_head=4, n_positions=1024,
                                     bos_token_id=0, eos_token_id=0, attn_implementation="eager")
    torch.manual_seed(0)
    ref = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return ref
