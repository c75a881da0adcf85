"""Depth Anything against the reference on tiny random weights: a DINOv2 backbone (four layers read, LayerScale),
the DPT neck (reassemble up and down, fusion) and the relative and metric heads; depth, hidden states and the
backbone's attentions within 1e-4; our checkpoint loads in the reference."""

from __future__ import annotations

import pytest
import torch

from workbench import AutoModelForDepthEstimation

from tests.models import harness

transformers = harness.transformers

BACKBONE = dict(model_type="dinov2", image_size=28, hidden_size=32, num_attention_heads=4, num_hidden_layers=4,
                mlp_ratio=2, patch_size=14, out_indices=[1, 2, 3, 4], reshape_hidden_states=False,
                layerscale_value=0.7)
CONFIG = dict(backbone_config=BACKBONE, reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 24, 32],
              fusion_hidden_size=16, head_hidden_size=8, patch_size=14)


def pixels() -> dict[str, torch.Tensor]:
    return {"pixel_values": torch.randn(2, 3, 42, 70, generator=torch.Generator().manual_seed(1))}


FAMILY = harness.Family("depth_anything", "DepthAnything", config=CONFIG,
                        heads={"depth-estimation": ("ForDepthEstimation", AutoModelForDepthEstimation)},
                        inputs=pixels, head_config=lambda head: {}, output_fields=("predicted_depth",))


def reference(**overrides):
    config = transformers.DepthAnythingConfig(**{**CONFIG, **overrides})
    config.backbone_config._attn_implementation = "eager"  # attentions to compare
    torch.manual_seed(0)
    model = transformers.DepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith("bias") or p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.mark.parametrize("kind", ["relative", "metric"])
def test_reference_checkpoint_matches_and_round_trips(tmp_path, kind):
    ref = reference(depth_estimation_type=kind, max_depth=20 if kind == "metric" else 1)
    ref.save_pretrained(tmp_path / "ref")
    ours = AutoModelForDepthEstimation.from_pretrained(tmp_path / "ref")
    assert ours.loading_report.ok, str(ours.loading_report)
    inputs = pixels()
    harness.assert_outputs_close(*harness.run_both(ours, ref, inputs), None, FAMILY.output_fields)
    with torch.no_grad():  # the fused attention path gives the same depth
        torch.testing.assert_close(ours(**inputs).predicted_depth, ref(**inputs).predicted_depth, atol=1e-4, rtol=0)
    if kind == "relative":
        ours.save_pretrained(tmp_path / "ours")
        back, info = transformers.DepthAnythingForDepthEstimation.from_pretrained(tmp_path / "ours",
                                                                                 output_loading_info=True)
        assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
        with torch.no_grad():
            torch.testing.assert_close(back.eval()(**inputs).predicted_depth, ref(**inputs).predicted_depth,
                                       atol=1e-4, rtol=0)
