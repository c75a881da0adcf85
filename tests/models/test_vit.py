"""ViT against the reference on tiny random weights (the shared harness), plus what images add: interpolated
position tables for other sizes, the [CLS]-only last layer of the classifier, the patch grid of its records."""

from __future__ import annotations

import torch

from workbench import AutoModel, AutoModelForImageClassification, attention_record

from tests.models import harness


def pixels(height: int = 32, width: int = 32):
    def make() -> dict[str, torch.Tensor]:
        return {"pixel_values": torch.randn(3, 3, height, width, generator=torch.Generator().manual_seed(1))}

    return make


FAMILY = harness.Family(
    "vit", "ViT",
    config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32,
                patch_size=8, num_channels=3),
    heads={"base": ("Model", AutoModel), "image-classification": ("ForImageClassification", AutoModelForImageClassification)},
    inputs=pixels(),
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)


def _pair(tmp_path, head="image-classification"):
    ref = harness.reference_model(FAMILY, head)
    ref.save_pretrained(tmp_path)
    return ref, FAMILY.heads[head][1].from_pretrained(tmp_path)


def test_classifier_fast_path_and_loss_match_reference(tmp_path):
    """Without attentions the last layer computes [CLS] alone: the logits must not notice."""
    ref, ours = _pair(tmp_path)
    x = pixels()()["pixel_values"]
    labels = torch.tensor([0, 2, 1])
    with torch.no_grad():
        r = ref(pixel_values=x, labels=labels)
        o = ours(x, labels=labels)
    torch.testing.assert_close(o.logits, r.logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(o.loss, r.loss, atol=1e-5, rtol=0)


def test_other_image_sizes_interpolate_the_position_table(tmp_path):
    ref, ours = _pair(tmp_path)
    x = pixels(48, 40)()["pixel_values"]
    with torch.no_grad():
        r = ref(pixel_values=x, interpolate_pos_encoding=True, output_attentions=True)
        o = ours(x, interpolate_pos_encoding=True, output_attentions=True)
    torch.testing.assert_close(o.logits, r.logits, atol=1e-4, rtol=0)
    assert o.attentions[0].shape == (3, 4, 1 + 6 * 5, 1 + 6 * 5)
    import pytest

    from workbench.errors import InputError

    with pytest.raises(InputError, match="interpolate_pos_encoding=True"):
        ours(x)


def test_attention_record_has_the_patch_grid(tmp_path):
    _, ours = _pair(tmp_path)
    x = pixels(48, 40)()["pixel_values"][:1]
    rows, cols = ours.grid(x)
    tokens = ["[CLS]"] + [f"({r},{c})" for r in range(rows) for c in range(cols)]
    rec = attention_record(ours, {"pixel_values": x, "interpolate_pos_encoding": True}, query_tokens=tokens,
                           kind="patches", grid=(rows, cols))
    assert rec.kind == "patches" and rec.grid == (6, 5) and rec.attentions.shape == (2, 4, 31, 31)
    assert abs(float(rec.attentions.sum(-1).mean()) - 1.0) < 1e-5
