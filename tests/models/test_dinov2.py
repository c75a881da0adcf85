"""DINOv2 against the reference on tiny random weights (the shared harness), plus what it adds: LayerScale, the
SwiGLU MLP of the giant checkpoints (`weights_in` / `weights_out` in hub files), other image sizes (the position
table resized bicubically) and the masked-patch token."""

from __future__ import annotations

import torch

from workbench import AutoModel, AutoModelForImageClassification

from tests.models import harness


def pixels(height: int = 42, width: int = 56):
    def make() -> dict[str, torch.Tensor]:
        return {"pixel_values": torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(1))}

    return make


CONFIG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2, image_size=28, patch_size=14,
              layerscale_value=0.5)
FAMILY = harness.Family(
    "dinov2", "Dinov2", config=CONFIG,
    heads={"base": ("Model", AutoModel), "image-classification": ("ForImageClassification", AutoModelForImageClassification)},
    inputs=pixels(),
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)


def test_swiglu_checkpoint_in_the_hub_layout_loads_and_matches(tmp_path):
    ref = harness.reference_model(FAMILY, "base", use_swiglu_ffn=True)
    ref.save_pretrained(tmp_path)
    from safetensors.torch import load_file

    keys = load_file(tmp_path / "model.safetensors")
    assert "encoder.layer.0.mlp.weights_in.weight" in keys and "encoder.layer.0.mlp.weights_out.bias" in keys
    ours = AutoModel.from_pretrained(tmp_path)
    assert ours.loading_report.ok, str(ours.loading_report)
    x = pixels()()["pixel_values"]
    mask = torch.zeros(2, 12, dtype=torch.bool)
    mask[0, 3:7] = True  # masked patches take the mask token
    with torch.no_grad():
        torch.testing.assert_close(ours(x).last_hidden_state, ref(pixel_values=x).last_hidden_state, atol=1e-4, rtol=0)
        torch.testing.assert_close(ours(x, bool_masked_pos=mask).last_hidden_state,
                                   ref(pixel_values=x, bool_masked_pos=mask).last_hidden_state, atol=1e-4, rtol=0)
