"""Llama against the reference on tiny random weights: both heads, every RoPE variant, GQA, tied and untied
embeddings, generated ids (greedy, beams, sampling), static cache and left padding."""

from __future__ import annotations

import pytest
import torch

from tests.models import harness

ROPE_SCALINGS = {
    "linear": {"rope_type": "linear", "factor": 2.0},
    "dynamic": {"rope_type": "dynamic", "factor": 2.0},  # max_position_embeddings 8 < 11 tokens: the base grows
    "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8},
    "longrope": {"rope_type": "longrope", "short_factor": [1.0, 1.5, 2.0, 3.0], "long_factor": [2.0, 3.0, 4.0, 6.0],
                 "original_max_position_embeddings": 8},
    "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8},
}

FAMILY = harness.Family(
    "llama", "Llama",
    config=dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                intermediate_size=37, max_position_embeddings=64, pad_token_id=0, tie_word_embeddings=False),
    heads=harness.decoder_heads(),
    inputs=harness.padded_batch(pad_id=0, token_types=False),
    head_config=lambda head: {},
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)
test_generate, test_sampling, test_static_cache, test_left_padding = harness.generation_tests(FAMILY)


@pytest.mark.parametrize("kind", list(ROPE_SCALINGS))
def test_rope_scaling_variants(tmp_path, kind):
    max_positions = 8 if kind == "dynamic" else 64
    family = harness.Family(FAMILY.model_type, FAMILY.prefix, {**FAMILY.config, "rope_scaling": ROPE_SCALINGS[kind],
                            "max_position_embeddings": max_positions, "tie_word_embeddings": True},
                            FAMILY.heads, FAMILY.inputs, FAMILY.head_config)
    ours = harness.check_reference_checkpoint(tmp_path, family, "causal-lm")
    assert ours.lm_head.weight is ours.model.embed_tokens.weight  # tied


def test_loss_and_logits_to_keep(tmp_path):
    ref = harness.reference_model(FAMILY, "causal-lm")
    ref.save_pretrained(tmp_path)
    ours = FAMILY.heads["causal-lm"][1].from_pretrained(tmp_path)
    inputs = FAMILY.inputs()
    labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
    torch.testing.assert_close(ours(**inputs, labels=labels).loss, ref(**inputs, labels=labels).loss, atol=1e-5, rtol=0)
    with torch.no_grad():
        full = ours(**inputs).logits
        last = ours(**inputs, logits_to_keep=1).logits
    assert last.shape[1] == 1
    torch.testing.assert_close(last[:, 0], full[:, -1])
