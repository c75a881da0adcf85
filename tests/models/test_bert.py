"""BERT: every head against the reference on tiny random weights (the shared harness), checkpoints in both directions."""

from __future__ import annotations

from tests.models import harness

FAMILY = harness.Family(
    "bert", "Bert",
    config=dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                max_position_embeddings=64, type_vocab_size=2),
    heads=harness.encoder_heads(),
    inputs=harness.padded_batch(pad_id=0, token_types=True),
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)


def test_losses_match_reference(tmp_path):
    """With gradients on, as in training: every head's loss equals the reference's."""
    import torch

    labels = {
        "masked-lm": torch.randint(0, 99, (3, 11)),
        "sequence-classification": torch.tensor([0, 2, 1]),
        "token-classification": torch.randint(0, 3, (3, 11)),
    }
    inputs = FAMILY.inputs()
    for head, y in labels.items():
        ref = harness.reference_model(FAMILY, head)
        ref.save_pretrained(tmp_path / head)
        ours = FAMILY.heads[head][1].from_pretrained(tmp_path / head)
        if y.dim() == 2:  # data collators mark padding with -100, so no loss is taken there
            y = y.masked_fill(inputs["attention_mask"] == 0, -100)
        torch.testing.assert_close(ours(**inputs, labels=y).loss, ref(**inputs, labels=y).loss, atol=1e-5, rtol=0)
    ref = harness.reference_model(FAMILY, "question-answering")
    ref.save_pretrained(tmp_path / "qa")
    ours = FAMILY.heads["question-answering"][1].from_pretrained(tmp_path / "qa")
    pos = dict(start_positions=torch.tensor([1, 2, 30]), end_positions=torch.tensor([3, 4, 5]))
    torch.testing.assert_close(ours(**inputs, **pos).loss, ref(**inputs, **pos).loss, atol=1e-5, rtol=0)


def test_packed_inference_equals_padded_path(tmp_path):
    harness.check_packed_inference(tmp_path, FAMILY)


def test_logits_at_gives_the_masked_positions_only(tmp_path):
    import torch

    ref = harness.reference_model(FAMILY, "masked-lm")
    ref.save_pretrained(tmp_path)
    ours = FAMILY.heads["masked-lm"][1].from_pretrained(tmp_path)
    inputs = FAMILY.inputs()
    where = torch.zeros_like(inputs["input_ids"], dtype=torch.bool)
    where[0, 3] = where[2, 1] = True
    with torch.no_grad():
        full = ours(**inputs).logits
        some = ours(**inputs, logits_at=where).logits
    assert some.shape == (2, 99)
    torch.testing.assert_close(some, full[where], atol=1e-5, rtol=0)
