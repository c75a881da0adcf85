"""GPT-2 against the reference on tiny random weights: both heads (Conv1D weights, tied LM head), generated ids
(greedy, beams, sampling), static cache and left padding."""

from __future__ import annotations

import torch

from tests.models import harness

FAMILY = harness.Family(
    "gpt2", "GPT2",
    config=dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=1, eos_token_id=2,
                scale_attn_by_inverse_layer_idx=True),
    heads=harness.decoder_heads("LMHeadModel"),
    inputs=harness.padded_batch(pad_id=0, token_types=False),
    head_config=lambda head: {},
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)
test_generate, test_sampling, test_static_cache, test_left_padding = harness.generation_tests(FAMILY)


def test_old_checkpoint_buffers_and_bare_keys_load(tmp_path):
    """The original hub files: keys without the `transformer.` prefix, plus the causal-mask buffers."""
    from safetensors.torch import load_file, save_file

    ref = harness.reference_model(FAMILY, "base")
    ref.save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state.update({f"h.{i}.attn.bias": torch.ones(1, 1, 64, 64).tril() for i in range(2)})
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    ours = FAMILY.heads["causal-lm"][1].from_pretrained(tmp_path)
    assert ours.loading_report.ok, str(ours.loading_report)
    assert ours.lm_head.weight is ours.transformer.wte.weight
