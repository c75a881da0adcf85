"""ELECTRA: every head against the reference on tiny random weights (the shared harness), checkpoints in both directions."""

from __future__ import annotations

from tests.models import harness
from workbench import auto

FAMILY = harness.Family(
    "electra", "Electra",
    config=dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=37, max_position_embeddings=64, type_vocab_size=2),
    heads=harness.encoder_heads(pretraining=("ForPreTraining", auto.AutoModelForPreTraining)),
    inputs=harness.padded_batch(pad_id=0, token_types=True),
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)
