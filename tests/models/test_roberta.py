"""RoBERTa: every head against the reference on tiny random weights (the shared harness), checkpoints in both directions."""

from __future__ import annotations

from tests.models import harness

FAMILY = harness.Family(
    "roberta", "Roberta",
    config=dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                max_position_embeddings=64, type_vocab_size=1, pad_token_id=1),
    heads=harness.encoder_heads(),
    inputs=harness.padded_batch(pad_id=1, token_types=False),
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)
