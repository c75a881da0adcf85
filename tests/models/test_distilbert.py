"""DistilBERT: every head against the reference on tiny random weights (the shared harness), checkpoints in both directions."""

from __future__ import annotations

import pytest

from tests.models import harness

FAMILY = harness.Family(
    "distilbert", "DistilBert",
    config=dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64),
    heads=harness.encoder_heads(),
    inputs=harness.padded_batch(pad_id=0, token_types=False),
)


@pytest.mark.parametrize("head", list(FAMILY.heads))
def test_reference_checkpoint_loads_and_matches(tmp_path, head):
    harness.check_reference_checkpoint(tmp_path, FAMILY, head)


@pytest.mark.parametrize("head", list(FAMILY.heads))
def test_our_checkpoint_loads_in_reference(tmp_path, head):
    harness.check_round_trip(tmp_path, FAMILY, head)


def test_fused_path_equals_eager_path(tmp_path):
    harness.check_fast_path(tmp_path, FAMILY)


def test_packed_inference_equals_padded_path(tmp_path):
    harness.check_packed_inference(tmp_path, FAMILY)
