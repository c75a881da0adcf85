"""ELECTRA: every head against the reference on tiny random weights (the shared harness), checkpoints in both directions."""

from __future__ import annotations

import pytest

from tests.models import harness
from workbench import auto

FAMILY = harness.Family(
    "electra", "Electra",
    config=dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=37, max_position_embeddings=64, type_vocab_size=2),
    heads=harness.encoder_heads(pretraining=("ForPreTraining", auto.AutoModelForPreTraining)),
    inputs=harness.padded_batch(pad_id=0, token_types=True),
)


@pytest.mark.parametrize("head", list(FAMILY.heads))
def test_reference_checkpoint_loads_and_matches(tmp_path, head):
    harness.check_reference_checkpoint(tmp_path, FAMILY, head)


@pytest.mark.parametrize("head", list(FAMILY.heads))
def test_our_checkpoint_loads_in_reference(tmp_path, head):
    harness.check_round_trip(tmp_path, FAMILY, head)


def test_fused_path_equals_eager_path(tmp_path):
    harness.check_fast_path(tmp_path, FAMILY)
