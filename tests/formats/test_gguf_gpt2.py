"""GPT-2 GGUF files: tiny ones written with the `gguf` package from a tiny random reference GPT-2, read back.

Names mapped and the Conv1D weights transposed back (F32 exactly), each quantisation type within its error,
and our model equals the reference's own GGUF loader on the same file; Q4_0/Q4_1/Q8_0 Conv1D layers run 4-bit
holding exactly the file's weights; greedy ids equal the reference's;
the tokenizer in the metadata equals the reference's; architectures without a converter are refused by name.
"""

from __future__ import annotations

import pytest
import torch

from tests.formats.gguf_fixtures import tiny_bpe, tiny_reference_gpt2, write_gpt2_gguf
from workbench import AutoModelForCausalLM, AutoTokenizer
from workbench.errors import UnsupportedModelError
from workbench.generation import generate
from workbench.models import GGUF_ARCHITECTURES, family
from workbench.models.gpt2 import Conv1D
from workbench.nn.quantized import QuantizedLinear

import transformers  # the test-only oracle: missing means a broken test install, which must fail

# type -> the largest error per weight, as a fraction of the tensor's largest |weight|
BOUNDS = {"F32": 0.0, "F16": 1e-3, "Q8_0": 1 / 127, "Q4_0": 1 / 8, "Q4_1": 1 / 8}
# type -> the largest logit error against the original float32 weights, a fraction of the largest |logit|:
# the weight errors above carried through two tiny layers (F32 only reorders nothing: ~1e-7)
LOGIT_BOUNDS = {"F32": 1e-5, "F16": 1e-3, "Q8_0": 2e-2, "Q4_0": 0.3, "Q4_1": 0.3}
IDS = torch.randint(3, 300, (2, 9), generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def vocab():
    return tiny_bpe()


@pytest.fixture(scope="module")
def ref():
    return tiny_reference_gpt2()


@pytest.mark.parametrize("qtype", list(BOUNDS))
def test_round_trip_and_the_references_loader(tmp_path, ref, vocab, qtype):
    write_gpt2_gguf(tmp_path / "tiny.gguf", ref, qtype, vocab)
    # float32 layers (Q4_*/Q8_0 would otherwise run 4-bit, test_4bit_layers_hold_the_file_weights): parity at 1e-4
    ours = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf", dequantize=True)
    assert ours.loading_report.ok, str(ours.loading_report)
    assert (ours.config.n_layer, ours.config.n_head, ours.config.n_embd, ours.config.n_positions) == (2, 4, 64, 1024)
    assert not ours.config.tie_word_embeddings  # llama.cpp writes the head again as output.weight
    assert isinstance(ours.transformer.h[0].attn.c_attn, Conv1D) and not getattr(ours, "quantized_modules", None)
    mine = ours.state_dict()
    for key, original in ref.state_dict().items():
        if key.endswith(".attn.bias") and original.dtype == torch.bool:
            continue  # the reference's causal-mask buffer, no weight
        got = mine[key].float()
        assert got.shape == original.shape, key  # Conv1D [in, out] again
        if qtype == "F32" or original.dim() == 1 or key == "transformer.wpe.weight":  # written F32 in every file
            assert torch.equal(got, original), key
            continue
        assert (got - original).abs().max() <= BOUNDS[qtype] * original.abs().max() + 1e-6, key
    with torch.no_grad():
        logits, original = ours(IDS).logits, ref(IDS).logits
        assert (logits - original).abs().max() <= LOGIT_BOUNDS[qtype] * original.abs().max() + 1e-5
        if qtype != "F32":
            assert not torch.equal(logits, original)  # the file's rounding, not the original weights
        theirs = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf",
                                                                   attn_implementation="eager").eval()
        torch.testing.assert_close(logits, theirs(IDS).logits, atol=1e-4, rtol=0)


def test_greedy_ids_equal_the_references(tmp_path, ref, vocab):
    write_gpt2_gguf(tmp_path / "tiny.gguf", ref, "F32", vocab)
    ours = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf")
    with torch.no_grad():
        torch.testing.assert_close(ours(IDS).logits, ref(IDS).logits, atol=1e-4, rtol=0)
        theirs = ref.generate(IDS, max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0)
    assert generate(ours, IDS, max_new_tokens=12, eos_token_id=None, pad_token_id=0).tolist() == theirs.tolist()


@pytest.mark.parametrize("qtype", ["Q4_0", "Q4_1", "Q8_0"])
def test_4bit_layers_hold_the_file_weights(tmp_path, vocab, qtype):
    ref = tiny_reference_gpt2(vocab_size=304)  # the int4 kernel wants output rows in sixteens: the head fits too
    write_gpt2_gguf(tmp_path / "tiny.gguf", ref, qtype, vocab)
    quant = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf")
    flat = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf", dequantize=True)
    layers = {n for n, m in quant.named_modules() if isinstance(m, QuantizedLinear)}
    assert len(layers) == 2 * 4 + 1 and "lm_head" in layers  # c_attn, attn.c_proj, c_fc, mlp.c_proj per block; head
    assert quant.transformer.h[0].mlp.c_fc.transposed and not quant.lm_head.transposed
    assert not any(isinstance(m, QuantizedLinear) for m in flat.modules())
    mine, theirs = quant.state_dict(), flat.state_dict()
    assert mine.keys() == theirs.keys()
    for key in theirs:
        assert torch.equal(mine[key], theirs[key]), key  # llama.cpp's dequantised values, Conv1D's [in, out] layout
    with torch.no_grad():
        got, want = quant(IDS).logits, flat(IDS).logits
    # bfloat16 scales / activations inside the 4-bit layers: ~3 significant digits, not float32's 7
    assert (got - want).abs().max() <= 0.02 * want.abs().max()
    assert (got.argmax(-1) == want.argmax(-1)).float().mean() >= 0.9
    assert generate(quant, IDS, max_new_tokens=4, eos_token_id=None, pad_token_id=0).shape == (2, 13)

    quant.save_pretrained(tmp_path / "hub")  # the float hub layout: the reference loads it with no key missing
    back, info = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hub", output_loading_info=True,
                                                                    attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"]
    with torch.no_grad():
        torch.testing.assert_close(back.eval()(IDS).logits, want, atol=1e-4, rtol=0)


def test_a_file_without_output_weight_ties_the_head(tmp_path, ref, vocab):
    write_gpt2_gguf(tmp_path / "tied.gguf", ref, "F16", vocab, output=False)
    ours = AutoModelForCausalLM.from_pretrained(tmp_path)  # the folder's lone GGUF file
    assert ours.config.tie_word_embeddings and ours.lm_head.weight is ours.transformer.wte.weight
    assert ours.loading_report.ok, str(ours.loading_report)
    with torch.no_grad():  # F16 weights: fp16 rounding of the original head
        assert (ours(IDS).logits - ref(IDS).logits).abs().max() <= LOGIT_BOUNDS["F16"] * ref(IDS).logits.abs().max()


def test_tokenizer_from_metadata_equals_the_reference(tmp_path, ref, vocab):
    write_gpt2_gguf(tmp_path / "tiny.gguf", ref, "Q8_0", vocab)
    ours = AutoTokenizer.from_pretrained(tmp_path, gguf_file="tiny.gguf")
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file="tiny.gguf")
    for text in ["The capital of France is Paris.", "hello  world\n\nnaïve café", "unseen: zebra 🤗", "it's 12345"]:
        assert ours(text)["input_ids"] == theirs(text)["input_ids"], text
        assert ours.decode(ours(text)["input_ids"]) == text
    assert ours.eos_token == theirs.eos_token == "<|endoftext|>"


def test_other_architectures_are_refused_by_name(tmp_path):
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(tmp_path / "other.gguf"), "qwen2")
    writer.add_tensor("token_embd.weight", np.zeros((4, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(UnsupportedModelError, match=r"other\.gguf holds a 'qwen2' model.*gpt2, llama"):
        AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="other.gguf")


@pytest.mark.parametrize("architecture", GGUF_ARCHITECTURES)
def test_every_listed_architecture_has_a_converter(architecture):
    assert all("gguf" in head.checkpoint_converters for head in family(architecture).HEADS.values())
