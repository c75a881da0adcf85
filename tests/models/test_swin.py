"""Swin against the reference on tiny random weights (the shared harness): patch embeddings with padding, attention
in windows with relative position biases, shifted windows with their mask, patch merging (odd sizes padded), the
classifier; the backbone's layer-normed stage maps (Mask2Former's input) at a size that pads every stage."""

from __future__ import annotations

import torch

from workbench import AutoBackbone, AutoModel, AutoModelForImageClassification

from tests.models import harness

transformers = harness.transformers

CONFIG = dict(embed_dim=16, depths=[2, 2, 2], num_heads=[1, 2, 4], window_size=4, mlp_ratio=2.0, drop_path_rate=0.0,
              image_size=64)


def pixels(height: int = 64, width: int = 72):
    def make() -> dict[str, torch.Tensor]:
        return {"pixel_values": torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(1))}

    return make


FAMILY = harness.Family(
    "swin", "Swin", config=CONFIG,
    heads={"base": ("Model", AutoModel), "image-classification": ("ForImageClassification", AutoModelForImageClassification)},
    inputs=pixels(), head_config=lambda head: {"num_labels": 5}, perturb=("relative_position_bias_table",),
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)


def test_backbone_stage_maps_match_the_reference(tmp_path):
    """Every stage and the stem, at a size whose grids are not multiples of the window (padded, shifted) and odd
    (merging pads): maps and hidden states within 1e-4; our save loads back in the reference."""
    config = transformers.SwinConfig(**CONFIG, out_features=["stem", "stage1", "stage2", "stage3"])
    torch.manual_seed(0)
    ref = transformers.SwinBackbone(config).eval()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if "norm" in name or name.endswith("bias") or "relative_position_bias_table" in name:
                p.add_(torch.randn_like(p) * 0.1)
    ref.save_pretrained(tmp_path / "ref")
    ours = AutoBackbone.from_pretrained(tmp_path / "ref")
    assert type(ours).__name__ == "SwinBackbone" and ours.loading_report.ok, str(ours.loading_report)
    x = pixels(70, 90)()["pixel_values"]  # patch grid 18 x 23: windows padded, merging pads 23 -> 12 -> 6
    with torch.no_grad():
        maps, out = ours(x, output_hidden_states=True)
        r = ref(pixel_values=x, output_hidden_states=True)
    assert [tuple(m.shape[1:]) for m in maps] == [(16, 18, 23), (16, 18, 23), (32, 9, 12), (64, 5, 6)]
    for a, b in zip(maps, r.feature_maps):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    assert len(out.hidden_states) == len(r.hidden_states)
    for a, b in zip(out.hidden_states, r.hidden_states):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    ours.save_pretrained(tmp_path / "ours")
    back = transformers.SwinBackbone.from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        for a, b in zip(back(pixel_values=x).feature_maps, r.feature_maps):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
