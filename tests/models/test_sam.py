"""SAM against the reference on tiny random weights: points (foreground, background, padding), boxes, points with
boxes, mask prompts, one or three masks; the image encoder's windowed (padded) and global attention with relative
positions (hidden states and attentions); prompts on a cached image embedding; round trips both ways."""

from __future__ import annotations

import pytest
import torch

from workbench import AutoConfig, AutoModelForMaskGeneration

from tests.models import harness

transformers = harness.transformers

VISION = dict(hidden_size=32, output_channels=16, num_hidden_layers=3, num_attention_heads=4, image_size=64,
              patch_size=8, window_size=3, global_attn_indexes=[1], num_pos_feats=8, mlp_dim=37)
PROMPT = dict(hidden_size=16, image_size=64, patch_size=8, mask_input_channels=8)
DECODER = dict(hidden_size=16, mlp_dim=32, num_hidden_layers=2, num_attention_heads=2, iou_head_hidden_dim=16)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    config = transformers.SamConfig(vision_config=VISION, prompt_encoder_config=PROMPT, mask_decoder_config=DECODER,
                                    attn_implementation="eager")
    torch.manual_seed(0)
    ref = transformers.SamModel(config).eval()
    with torch.no_grad():  # relative positions and norms start at zero/one in the reference: make them count
        g = torch.Generator().manual_seed(1)
        for name, p in ref.named_parameters():
            if "rel_pos" in name or "pos_embed" in name or p.dim() == 1:
                p.add_(torch.randn(p.shape, generator=g) * 0.2)
    folder = tmp_path_factory.mktemp("sam")
    ref.save_pretrained(folder)
    ours = AutoModelForMaskGeneration.from_pretrained(folder)
    assert type(ours).__name__ == "SamModel" and ours.loading_report.ok, str(ours.loading_report)
    return ref, ours, folder


def prompts() -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(3)
    points = torch.rand(2, 3, 2, 2, generator=g) * 64  # 2 images, 3 prompts of 2 points
    labels = torch.tensor([[[1, 0], [1, 1], [1, -10]]] * 2)
    boxes = torch.tensor([[[4.0, 6, 40, 50], [10, 12, 60, 30], [0, 0, 63, 63]]] * 2)
    masks = torch.randn(2, 1, 32, 32, generator=g)
    return [dict(input_points=points, input_labels=labels), dict(input_boxes=boxes),
            dict(input_points=points, input_labels=labels, input_boxes=boxes),
            dict(input_points=points[:, :1], input_masks=masks, multimask_output=False)]


def assert_close(o, r):
    torch.testing.assert_close(o.iou_scores, r.iou_scores, atol=1e-4, rtol=0)
    torch.testing.assert_close(o.pred_masks, r.pred_masks, atol=1e-4, rtol=0)


def test_reference_checkpoint_matches(pair):
    ref, ours, _ = pair
    pixels = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        o = ours(pixel_values=pixels, **prompts()[0], output_attentions=True, output_hidden_states=True)
        r = ref(pixel_values=pixels, **prompts()[0], output_attentions=True, output_hidden_states=True)
    assert_close(o, r)
    assert len(o.vision_hidden_states) == len(r.vision_hidden_states)
    for a, b in zip(o.vision_hidden_states, r.vision_hidden_states):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    # windows (padded to 9x9: 2 images x 9 windows) and the global 8x8 grid; ours (B, heads, T, T), the reference's
    # (B * heads, T, T)
    assert [a.shape for a in o.vision_attentions] == [(18, 4, 9, 9), (2, 4, 64, 64), (18, 4, 9, 9)]
    for a, b in zip(o.vision_attentions, r.vision_attentions):
        torch.testing.assert_close(a.reshape(b.shape), b, atol=1e-4, rtol=0)
    with torch.no_grad():
        embeddings = ours.get_image_embeddings(pixels)
        torch.testing.assert_close(embeddings, ref.get_image_embeddings(pixels), atol=1e-4, rtol=0)
        for p in prompts():  # every prompt kind on the cached embedding
            assert_close(ours(image_embeddings=embeddings, **p), ref(image_embeddings=embeddings, **p))


def test_global_attention_in_query_slices_equals_the_reference(pair, monkeypatch):
    """Real images' global layers attend in slices of queries (their 64 x 64 grid); a slice of 24 of the tiny
    model's 64 queries exercises that path, the last slice short."""
    import workbench.models.sam as sam

    monkeypatch.setattr(sam, "QUERY_CHUNK", 24)
    ref, ours, _ = pair
    pixels = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(ours.get_image_embeddings(pixels), ref.get_image_embeddings(pixels), atol=1e-4, rtol=0)


def test_round_trip_loads_in_the_reference(pair, tmp_path):
    ref, ours, _ = pair
    ours.save_pretrained(tmp_path)
    back, info = transformers.SamModel.from_pretrained(tmp_path, output_loading_info=True, attn_implementation="eager")
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    pixels = torch.randn(1, 3, 64, 64)
    p = {k: v[:1] for k, v in prompts()[2].items()}
    with torch.no_grad():
        assert_close(ours(pixel_values=pixels, **p), back.eval()(pixel_values=pixels, **p))
    assert ours.prompt_encoder.shared_embedding.positional_embedding is ours.shared_image_embedding.positional_embedding


def test_from_config_initialises_every_weight():
    """Random models for notebooks and training: every weight set (the decoder's transposed convolutions, the absolute
    and relative positions too), so that masks are finite; the reference's starting values where it has them."""
    config = AutoConfig.for_model("sam", vision_config=VISION, prompt_encoder_config=PROMPT, mask_decoder_config=DECODER)
    model = AutoModelForMaskGeneration.from_config(config)
    assert all(torch.isfinite(p).all() for p in model.state_dict().values())
    assert not model.vision_encoder.pos_embed.any() and not model.vision_encoder.layers[0].attn.rel_pos_h.any()
    assert model.mask_decoder.upscale_conv1.weight.std() > 0
    with torch.no_grad():
        out = model(pixel_values=torch.randn(1, 3, 64, 64), input_points=torch.rand(1, 1, 1, 2) * 64)
    assert torch.isfinite(out.pred_masks).all() and torch.isfinite(out.iou_scores).all()
