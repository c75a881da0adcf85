"""GGUF files: tiny ones written with the `gguf` package from a tiny random reference Llama, read back.

Each quantisation type round-trips within its error (F32 exactly, and the Q/K row permutation is
undone); our model equals the reference loaded from the same file; the K-quants dequantise as the
reference's own dequantiser; the tokenizer in the metadata equals the reference's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.formats.gguf_fixtures import CHAT_TEMPLATE, tiny_bpe, tiny_reference_llama, write_llama_gguf
from workbench import AutoModelForCausalLM, AutoTokenizer
from workbench.errors import WeightsError
from workbench.formats import open_checkpoint
from workbench.formats.gguf import open_gguf

import transformers  # the test-only oracle: missing means a broken test install, which must fail

# type -> the largest error per weight, as a fraction of the tensor's largest |weight| (or range)
BOUNDS = {"F32": 0.0, "F16": 1e-3, "BF16": 8e-3, "Q8_0": 1 / 127, "Q4_0": 1 / 8, "Q4_1": 1 / 15}


@pytest.fixture(scope="module")
def vocab():
    return tiny_bpe()


@pytest.fixture(scope="module")
def ref():
    return tiny_reference_llama()


@pytest.mark.parametrize("qtype", list(BOUNDS))
def test_round_trip_within_the_quantisation_error(tmp_path, ref, vocab, qtype):
    write_llama_gguf(tmp_path / "tiny.gguf", ref, qtype, vocab)
    # float32 layers (Q4_*/Q8_0 would otherwise run 4-bit, tests/nn/test_quantized.py): parity at 1e-4
    ours = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf", dequantize=True)
    assert ours.loading_report.ok, str(ours.loading_report)
    assert ours.config.num_key_value_heads == 2 and not ours.config.tie_word_embeddings
    mine = ours.state_dict()
    for key, original in ref.state_dict().items():
        got = mine[key].float()
        if qtype == "F32" or original.dim() == 1:  # norms are written as F32 in every file
            assert torch.equal(got, original), key  # exact: names mapped, Q/K permutation undone
            continue
        span = (original.max() - original.min()) if qtype == "Q4_1" else original.abs().max()
        assert (got - original).abs().max() <= BOUNDS[qtype] * span + 1e-6, key
    if qtype in ("F32", "F16", "Q8_0", "Q4_1"):  # the reference reads the same file: same outputs
        theirs = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf",
                                                                   attn_implementation="eager").eval()
        ids = torch.randint(3, 300, (2, 9), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            torch.testing.assert_close(ours(ids).logits, theirs(ids).logits, atol=1e-4, rtol=0)


def test_tied_embeddings_and_a_lone_file_found_without_a_name(tmp_path, vocab):
    ref = tiny_reference_llama(tie=True)
    write_llama_gguf(tmp_path / "only.gguf", ref, "F32", vocab)
    ours = AutoModelForCausalLM.from_pretrained(tmp_path)  # no config.json, one .gguf: found
    assert ours.config.tie_word_embeddings and ours.lm_head.weight is ours.model.embed_tokens.weight
    ids = torch.tensor([[5, 17, 42, 99]])
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, ref(ids).logits, atol=1e-5, rtol=0)
    assert open_checkpoint(tmp_path).model_type == "llama"
    write_llama_gguf(tmp_path / "second.gguf", ref, "F16", vocab)
    with pytest.raises(Exception, match="several GGUF files"):
        open_checkpoint(tmp_path)


@pytest.mark.parametrize("qtype", ["Q4_K", "Q5_K", "Q6_K", "Q8_0", "Q4_0", "Q4_1"])
def test_block_types_dequantise_as_the_reference(tmp_path, qtype):
    """Random blocks (scales set to sane fp16 values) read by us and by the reference's own dequantiser."""
    import gguf
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
    from transformers.integrations.gguf.dequant import dequantize

    kind = GGMLQuantizationType[qtype]
    block, size = GGML_QUANT_SIZES[kind]
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(8, 2 * size), dtype=np.uint8)  # 8 rows of 2 blocks
    blocks = raw.reshape(-1, size)
    scales = {"Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (size - 2,), "Q8_0": (0,), "Q4_0": (0,), "Q4_1": (0, 2)}[qtype]
    for at in scales:
        blocks[:, at : at + 2] = rng.uniform(0.01, 0.1, size=(blocks.shape[0], 1)).astype(np.float16).view(np.uint8)
    writer = gguf.GGUFWriter(str(tmp_path / "blocks.gguf"), "llama")
    writer.add_tensor("blk.0.ffn_up.weight", raw, raw_shape=raw.shape, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    ours = open_gguf(tmp_path / "blocks.gguf").tensors()["blk.0.ffn_up.weight"]
    assert ours.shape == (8, 2 * block)
    theirs = dequantize(torch.from_numpy(raw.reshape(-1).copy()), int(kind)).reshape(8, 2 * block)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)


def test_tokenizer_from_metadata_equals_the_reference(tmp_path, ref, vocab):
    write_llama_gguf(tmp_path / "tiny.gguf", ref, "Q8_0", vocab)
    ours = AutoTokenizer.from_pretrained(tmp_path, gguf_file="tiny.gguf")
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file="tiny.gguf")
    for text in ["The capital of France is Paris.", "hello  world\n\nnaïve café", "<|im_start|>user\nhi<|im_end|>",
                 "unseen: zebra quokka 🤗", "it's 12345"]:
        assert ours(text)["input_ids"] == theirs(text)["input_ids"], text
        assert ours.decode(ours(text)["input_ids"]) == text
    assert (ours.bos_token, ours.eos_token, ours.pad_token) == ("<|im_start|>", "<|im_end|>", "<|endoftext|>")
    assert ours.chat_template == CHAT_TEMPLATE
    chat = [{"role": "user", "content": "Hi"}]
    assert ours.apply_chat_template(chat, add_generation_prompt=True, tokenize=False) == \
        theirs.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)


def test_header_parser_agrees_with_ggufreader_and_refuses_damage(tmp_path, ref, vocab):
    import gguf

    path = write_llama_gguf(tmp_path / "tiny.gguf", ref, "Q4_1", vocab)
    opened = open_gguf(path)
    reader = gguf.GGUFReader(str(path))
    for name, field in reader.fields.items():
        if not name.startswith("GGUF."):
            value = field.contents()
            assert opened.metadata[name] == (list(value) if isinstance(value, tuple) else value), name
    assert {t.name: t.tensor_type.name for t in reader.tensors} == opened.tensor_types
    data = path.read_bytes()
    (tmp_path / "cut.gguf").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated"):
        open_gguf(tmp_path / "cut.gguf")
    (tmp_path / "bad.gguf").write_bytes(b"NOPE" + data[4:])
    with pytest.raises(WeightsError, match="not a GGUF file"):
        open_gguf(tmp_path / "bad.gguf")
