"""4-bit linear layers from GGUF blocks (workbench.nn.quantized): tiny Llama GGUF files written with the `gguf`
package in Q4_0 / Q4_1 / Q8_0, loaded by default as QuantizedLinear layers and with dequantize=True as float ones.

The codes are exact (the state dicts are equal bit for bit, and so is what save_pretrained writes); the forward
pass rounds scales, zeros and activations to bfloat16 inside those layers, so logits agree within that rounding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.formats.gguf_fixtures import tiny_bpe, tiny_reference_llama, write_llama_gguf
from workbench import AutoModelForCausalLM
from workbench.nn.quantized import QuantizedLinear, decode_blocks, dequantize_blocks, fuse_siblings, project

import transformers  # the test-only oracle


@pytest.fixture(scope="module")
def vocab():
    return tiny_bpe()


@pytest.fixture(scope="module")
def ref():
    # tied: the head is quantised from the embedding's blocks (the int4 kernel wants rows in multiples of 16: 304)
    return tiny_reference_llama(tie=True, vocab_size=304)


@pytest.mark.parametrize("qtype", ["Q4_0", "Q4_1", "Q8_0"])
def test_quantised_layers_hold_the_file_weights_exactly(tmp_path, ref, vocab, qtype):
    write_llama_gguf(tmp_path / "tiny.gguf", ref, qtype, vocab)
    quant = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf")
    flat = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf", dequantize=True)
    layers = {n for n, m in quant.named_modules() if isinstance(m, QuantizedLinear)}
    assert len(layers) == 2 * 7 + 1 and "lm_head" in layers  # q k v o gate up down per layer, and the tied head
    assert not any(isinstance(m, QuantizedLinear) for m in flat.modules())
    assert isinstance(quant.model.embed_tokens, nn.Embedding)  # a lookup reads one row: it stays float
    mine, theirs = quant.state_dict(), flat.state_dict()
    assert mine.keys() == theirs.keys()
    for key in theirs:
        assert torch.equal(mine[key], theirs[key]), key  # exactly llama.cpp's dequantised values

    ids = torch.randint(3, 300, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got, want = quant(ids).logits, flat(ids).logits
    # bfloat16 scales / activations inside the 4-bit layers: ~3 significant digits, not float32's 7
    assert (got - want).abs().max() <= 0.02 * want.abs().max()
    assert (got.argmax(-1) == want.argmax(-1)).float().mean() >= 0.9

    quant.save_pretrained(tmp_path / "hub")  # the float hub layout: the reference loads it with no key missing
    back, info = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hub", output_loading_info=True,
                                                                    attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"]
    with torch.no_grad():
        torch.testing.assert_close(back.eval()(ids).logits, want, atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind", ["Q4_0", "Q4_1", "Q8_0"])
def test_kernel_form_rebuilds_llamacpp_dequantisation(kind):
    """scale * (code - 8) + zero, per group of 32 (the int4 kernel's form), equals d * q [+ m] for random blocks."""
    blocks = random_blocks(kind, rows=16, groups=3)
    codes, scales, zeros = decode_blocks(kind, blocks, 96)
    assert codes.min() >= 0 and codes.max() <= 15
    w = (codes.float() - 8) * scales.repeat_interleave(32, 1) + zeros.repeat_interleave(32, 1)
    if kind == "Q8_0":  # the high halves then the low halves of each row
        w = w[:16] + w[16:]
    torch.testing.assert_close(w, dequantize_blocks(kind, blocks, 96), atol=1e-6, rtol=1e-6)
    layer = QuantizedLinear(kind, blocks, 96, bias=torch.randn(16))
    x = torch.randn(4, 96)
    want = nn.functional.linear(x, dequantize_blocks(kind, blocks, 96), layer.bias)
    assert (layer(x) - want).abs().max() <= 0.02 * want.abs().max()
    with pytest.raises(RuntimeError, match="dequantize=True"):
        layer.load_state_dict(layer.state_dict())
    with pytest.raises(ValueError, match="multiple of 16"):
        QuantizedLinear(kind, random_blocks(kind, rows=8, groups=3), 96)


def test_fused_siblings_give_the_same_bits_as_separate_calls():
    """One kernel call for q/k/v (and gate/up) of mixed kinds and row counts not multiples of the kernel's 64-row
    packing blocks, equal bit for bit to one call per layer; a group is fused only when it is exactly these layers."""
    holder = nn.Module()
    holder.q = QuantizedLinear("Q4_1", random_blocks("Q4_1", rows=48, groups=3), 96)
    holder.k = QuantizedLinear("Q4_0", random_blocks("Q4_0", rows=16, groups=3), 96, bias=torch.randn(16))
    holder.v = QuantizedLinear("Q8_0", random_blocks("Q8_0", rows=32, groups=3), 96)
    holder.gate = QuantizedLinear("Q4_1", random_blocks("Q4_1", rows=128, groups=3), 96)  # rows on the 64-row
    holder.up = QuantizedLinear("Q8_0", random_blocks("Q8_0", rows=48, groups=3), 96)  # blocks: joined, not repacked
    x = torch.randn(2, 5, 96)
    separate = [holder.q(x), holder.k(x), holder.v(x)]
    gate_up = [holder.gate(x), holder.up(x)]
    assert fuse_siblings(holder, (("q", "k", "v"), ("gate", "up"))) == 2
    assert holder.up.packed.data_ptr() > holder.gate.packed.data_ptr() == holder.gate.fused_packed.data_ptr()
    for got, want in zip([*project(x, holder.q, holder.k, holder.v), *project(x, holder.gate, holder.up)],
                         [*separate, *gate_up], strict=True):
        assert got.shape == want.shape and torch.equal(got, want)
    assert torch.equal(holder.gate(x), gate_up[0]) and torch.equal(holder.up(x), gate_up[1])  # the views, alone
    # another set of layers (or another order) is not what the fused buffers hold: computed one by one, still right
    for got, want in zip(project(x, holder.k, holder.q), [separate[1], separate[0]], strict=True):
        assert torch.equal(got, want)
    holder.k = QuantizedLinear("Q4_0", random_blocks("Q4_0", rows=16, groups=3).flip(0), 96)  # replaced after fusing
    assert not torch.equal(holder.k(x), separate[1])
    assert torch.equal(project(x, holder.q, holder.k, holder.v)[1], holder.k(x))


def random_blocks(kind: str, rows: int, groups: int) -> torch.Tensor:
    """Random llama.cpp blocks with sane fp16 scales (d in 0.01..0.1, m in -0.5..0.5)."""
    size = {"Q4_0": 18, "Q4_1": 20, "Q8_0": 34}[kind]
    g = torch.Generator().manual_seed(0)
    raw = torch.randint(0, 256, (rows, groups, size), dtype=torch.uint8, generator=g)
    raw[..., 0:2] = (torch.rand(rows, groups, 1, generator=g) * 0.09 + 0.01).half().view(torch.uint8)
    if kind == "Q4_1":
        raw[..., 2:4] = (torch.rand(rows, groups, 1, generator=g) - 0.5).half().view(torch.uint8)
    return raw.reshape(rows, groups * size)
