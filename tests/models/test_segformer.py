"""SegFormer against the reference on tiny random weights (the shared harness): the encoder's efficient attention
(keys on the reduced grid), stage outputs as hidden states, the all-MLP decoder (folded at inference, unfolded
while training), the classifier; plus the loss and other image sizes."""

from __future__ import annotations

import torch

from workbench import AutoModel, AutoModelForImageClassification, AutoModelForSemanticSegmentation

from tests.models import harness

CONFIG = dict(num_channels=3, num_encoder_blocks=3, depths=[1, 2, 1], sr_ratios=[4, 2, 1], hidden_sizes=[16, 24, 32],
              patch_sizes=[7, 3, 3], strides=[4, 2, 2], num_attention_heads=[1, 2, 4], mlp_ratios=[2, 2, 2],
              decoder_hidden_size=24)


def pixels(height: int = 64, width: int = 48):
    def make() -> dict[str, torch.Tensor]:
        return {"pixel_values": torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(1))}

    return make


FAMILY = harness.Family(
    "segformer", "Segformer", config=CONFIG,
    heads={"base": ("Model", AutoModel), "image-classification": ("ForImageClassification", AutoModelForImageClassification),
           "semantic-segmentation": ("ForSemanticSegmentation", AutoModelForSemanticSegmentation)},
    inputs=pixels(), head_config=lambda head: {"num_labels": 5},
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)


def _pair(tmp_path):
    ref = harness.reference_model(FAMILY, "semantic-segmentation", drop_path_rate=0.0, classifier_dropout_prob=0.0)
    with torch.no_grad():  # running statistics the batch norm folds in at inference
        ref.decode_head.batch_norm.running_mean.normal_(0, 0.3)
        ref.decode_head.batch_norm.running_var.uniform_(0.5, 2.0)
    ref.save_pretrained(tmp_path)
    return ref, AutoModelForSemanticSegmentation.from_pretrained(tmp_path)


def test_folded_decoder_loss_and_other_sizes_match_the_reference(tmp_path):
    ref, ours = _pair(tmp_path)
    x = pixels(70, 52)()["pixel_values"]  # sizes that do not divide evenly by the strides
    labels = torch.randint(0, 5, (2, 70, 52), generator=torch.Generator().manual_seed(3))
    labels[0, :5] = 255  # ignored pixels
    with torch.no_grad():
        r = ref(pixel_values=x, labels=labels)
        folded = ours(x).logits  # inference: the fuse conv folded into the projections
        o = ours(x, labels=labels)
    torch.testing.assert_close(folded, r.logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(o.logits, r.logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(o.loss, r.loss, atol=1e-5, rtol=0)
    ours.train()
    ref.train()  # training: batch statistics and the unfolded path (no dropout: the two draw differently)
    torch.manual_seed(0)
    g = ours(x[:1].repeat(2, 1, 1, 1), labels=labels[:1].repeat(2, 1, 1)).loss
    torch.manual_seed(0)
    want = ref(pixel_values=x[:1].repeat(2, 1, 1, 1), labels=labels[:1].repeat(2, 1, 1)).loss
    torch.testing.assert_close(g, want, atol=1e-4, rtol=0)
