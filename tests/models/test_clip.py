"""CLIP against the reference on tiny random weights (the shared harness, both towers' outputs compared), plus
what a dual encoder adds: the contrastive loss, projected features, the old eos-id-2 pooling, other image sizes."""

from __future__ import annotations

import torch

from workbench import AutoModel, AutoModelForZeroShotImageClassification

from tests.models import harness

TEXT = dict(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=20, bos_token_id=97, eos_token_id=98, pad_token_id=1)
VISION = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=32,
              patch_size=8)


def image_text_batch(eos: int = 98, pad: int = 1, images: int = 2, size: int = 32):
    """Three texts (two padded, each ending with the end-of-text id) and `images` random images."""

    def make() -> dict[str, torch.Tensor]:
        batch = harness.padded_batch(pad_id=pad, token_types=False)()
        ids, mask = batch["input_ids"].clamp(max=90), batch["attention_mask"]
        lengths = mask.sum(1)
        ids[torch.arange(3), lengths - 1] = eos
        g = torch.Generator().manual_seed(2)
        return {"input_ids": ids.masked_fill(mask == 0, pad), "attention_mask": mask,
                "pixel_values": torch.randn(images, 3, size, size, generator=g)}

    return make


FAMILY = harness.Family(
    "clip", "CLIP", config=dict(text_config=TEXT, vision_config=VISION, projection_dim=16),
    heads={"base": ("Model", AutoModel),
           "zero-shot-image-classification": ("Model", AutoModelForZeroShotImageClassification)},
    inputs=image_text_batch(), head_config=lambda head: {},
    output_fields=("logits_per_image", "logits_per_text", "text_embeds", "image_embeds"),
    nested=("text_model_output", "vision_model_output"),
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)


def _pair(tmp_path, **overrides):
    ref = harness.reference_model(FAMILY, "base", **overrides)
    ref.save_pretrained(tmp_path)
    return ref, AutoModel.from_pretrained(tmp_path)


def test_loss_features_and_other_sizes_match_reference(tmp_path):
    ref, ours = _pair(tmp_path)
    batch = image_text_batch(images=3)()
    with torch.no_grad():
        r, o = ref(**batch, return_loss=True), ours(**batch, return_loss=True)
        torch.testing.assert_close(o.loss, r.loss, atol=1e-5, rtol=0)
        text = {k: batch[k] for k in ("input_ids", "attention_mask")}
        torch.testing.assert_close(ours.get_text_features(**text).pooler_output,
                                   ref.get_text_features(**text).pooler_output, atol=1e-4, rtol=0)
        torch.testing.assert_close(ours.get_image_features(batch["pixel_values"]).pooler_output,
                                   ref.get_image_features(batch["pixel_values"]).pooler_output, atol=1e-4, rtol=0)
        big = torch.randn(1, 3, 48, 40)
        torch.testing.assert_close(ours.get_image_features(big, interpolate_pos_encoding=True).pooler_output,
                                   ref.get_image_features(big, interpolate_pos_encoding=True).pooler_output,
                                   atol=1e-4, rtol=0)
    assert ours.grid(big) == (6, 5)


def test_old_configs_pool_at_the_largest_id(tmp_path):
    """Configs from before the eos-id fix say eos_token_id 2: the end token is the largest id of each text."""
    ref, ours = _pair(tmp_path, text_config={**TEXT, "eos_token_id": 2})
    batch = image_text_batch()()
    with torch.no_grad():
        torch.testing.assert_close(ours(**batch).logits_per_image, ref(**batch).logits_per_image, atol=1e-4, rtol=0)
