"""DistilBERT: every head against the reference on tiny random weights (the shared harness), checkpoints in both directions."""

from __future__ import annotations

from tests.models import harness

FAMILY = harness.Family(
    "distilbert", "DistilBert",
    config=dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64),
    heads=harness.encoder_heads(),
    inputs=harness.padded_batch(pad_id=0, token_types=False),
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)


def test_packed_inference_equals_padded_path(tmp_path):
    harness.check_packed_inference(tmp_path, FAMILY)
