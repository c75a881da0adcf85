"""SigLIP against the reference on tiny random weights (the shared harness, both towers compared), plus the
sigmoid loss, the attention-pooling probe and other image sizes."""

from __future__ import annotations

import torch

from workbench import AutoModel, AutoModelForZeroShotImageClassification

from tests.models import harness
from tests.models.test_clip import VISION, image_text_batch

TEXT = dict(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=20, projection_size=32)

FAMILY = harness.Family(
    "siglip", "Siglip", config=dict(text_config=TEXT, vision_config=VISION),
    heads={"base": ("Model", AutoModel),
           "zero-shot-image-classification": ("Model", AutoModelForZeroShotImageClassification)},
    inputs=image_text_batch(eos=3), head_config=lambda head: {},
    output_fields=("logits_per_image", "logits_per_text", "text_embeds", "image_embeds"),
    nested=("text_model_output", "vision_model_output"),
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)


def test_sigmoid_loss_probe_and_other_sizes_match_reference(tmp_path):
    ref = harness.reference_model(FAMILY, "base")
    with torch.no_grad():  # a non-zero scale and bias, so both show in the logits
        ref.logit_scale.fill_(2.3)
        ref.logit_bias.fill_(-4.0)
    ref.save_pretrained(tmp_path)
    ours = AutoModel.from_pretrained(tmp_path)
    batch = image_text_batch(eos=3, images=3)()
    with torch.no_grad():
        r, o = ref(**batch, return_loss=True), ours(**batch, return_loss=True)
        torch.testing.assert_close(o.loss, r.loss, atol=1e-5, rtol=0)
        torch.testing.assert_close(o.logits_per_image, r.logits_per_image, atol=1e-4, rtol=0)
        big = torch.randn(1, 3, 48, 40)
        torch.testing.assert_close(ours.get_image_features(big, interpolate_pos_encoding=True).pooler_output,
                                   ref.get_image_features(big, interpolate_pos_encoding=True).pooler_output,
                                   atol=1e-4, rtol=0)
        image = ours.get_image_features(batch["pixel_values"]).pooler_output
        text = ours.get_text_features(batch["input_ids"], batch["attention_mask"]).pooler_output
        torch.testing.assert_close(ours.similarity_logits(image, text), r.logits_per_image, atol=1e-4, rtol=0)
    assert ours.grid(big) == (6, 5)
