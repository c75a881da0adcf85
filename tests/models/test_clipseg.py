"""CLIPSeg against the reference on tiny random weights: the dual encoder and the segmentation head through the shared
harness (heat-map logits, conditional embeddings, pooled output on 48 x 48 images, i.e. a position table resized from
the 4 x 4 training grid to 6 x 6, as the real checkpoint's 224 -> 352), plus what the head adds: example images as
prompts, given embeddings, the loss, the "refined" upsampler, one image shared by several prompts."""

from __future__ import annotations

import pytest
import torch

from workbench import AutoModel
from workbench.errors import InputError
from workbench.pipelines.image_segmentation import AutoModelForImageSegmentation

from tests.models import harness
from tests.models.test_clip import TEXT, VISION, image_text_batch

CONFIG = dict(text_config=TEXT, vision_config=VISION, projection_dim=16, extract_layers=[0, 1], reduce_dim=16,
              decoder_num_attention_heads=2, decoder_intermediate_size=24)
FIELDS = ("logits", "conditional_embeddings", "pooled_output", "logits_per_image", "logits_per_text", "text_embeds",
          "image_embeds")

FAMILY = harness.Family(
    "clipseg", "CLIPSeg", config=CONFIG, heads={"base": ("Model", AutoModel)},
    inputs=image_text_batch(images=3, size=48), head_config=lambda head: {}, output_fields=FIELDS,
    nested=("text_model_output", "vision_model_output"),
)
SEGMENTER = harness.Family(
    "clipseg", "CLIPSeg", config=CONFIG,
    heads={"base": ("ForImageSegmentation", AutoModelForImageSegmentation)},
    inputs=image_text_batch(images=3, size=48), head_config=lambda head: {}, output_fields=FIELDS,
    nested=("vision_model_output",),
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)
test_segmenter_checkpoint, test_segmenter_round_trip, test_segmenter_fused_path = harness.standard_tests(SEGMENTER)


def _pair(tmp_path, **overrides):
    ref = harness.reference_model(SEGMENTER, "base", **overrides)
    ref.save_pretrained(tmp_path)
    ours = AutoModelForImageSegmentation.from_pretrained(tmp_path)
    assert ours.loading_report.ok, str(ours.loading_report)
    return ref, ours


def test_example_images_embeddings_loss_and_refined_upsampler(tmp_path):
    ref, ours = _pair(tmp_path, use_complex_transposed_convolution=True)
    g = torch.Generator().manual_seed(5)
    pixels, examples = torch.randn(2, 3, 48, 48, generator=g), torch.randn(2, 3, 40, 56, generator=g)
    labels = torch.rand(2, 24, 24, generator=g)  # the refined upsampler: x (8 // 4) twice on the 6 x 6 grid
    with torch.no_grad():
        r = ref(pixel_values=pixels, conditional_pixel_values=examples, labels=labels)
        o = ours(pixel_values=pixels, conditional_pixel_values=examples, labels=labels)
        assert o.logits.shape == (2, 24, 24)
        torch.testing.assert_close(o.conditional_embeddings, r.conditional_embeddings, atol=1e-4, rtol=0)
        # logits reach +-200 through the refined upsampler of random weights: float32 rounding is relative there
        torch.testing.assert_close(o.logits, r.logits, atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(o.loss, r.loss, atol=1e-4, rtol=1e-5)
        given = torch.randn(2, 16, generator=g)
        torch.testing.assert_close(ours(pixel_values=pixels, conditional_embeddings=given).logits,
                                   ref(pixel_values=pixels, conditional_embeddings=given).logits, atol=1e-4, rtol=1e-5)
        o = ours(pixel_values=pixels, conditional_embeddings=given, output_attentions=True, output_hidden_states=True)
        r = ref(pixel_values=pixels, conditional_embeddings=given, output_attentions=True, output_hidden_states=True)
        for mine, theirs in zip(o.decoder_output.attentions, r.decoder_output.attentions, strict=True):
            torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=0)


def test_one_image_shared_by_several_prompts(tmp_path):
    """The reference needs the image once per prompt; ours takes it once: the same heat maps (FiLM on the second
    decoder layer here: `conditional_layer`)."""
    ref, ours = _pair(tmp_path, conditional_layer=1)
    batch = image_text_batch(images=1, size=48)()
    repeated = {**batch, "pixel_values": batch["pixel_values"].expand(3, -1, -1, -1)}
    with torch.no_grad():
        theirs = ref(**repeated).logits
        mine = ours(**batch).logits
    assert mine.shape == (3, 48, 48)
    torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=0)
    assert not torch.allclose(mine[0], mine[1])  # the prompts really differ


def test_mismatched_conditions_are_refused(tmp_path):
    _, ours = _pair(tmp_path)
    batch = image_text_batch(images=2, size=48)()  # 3 prompts for 2 images
    with pytest.raises(InputError, match="3 prompt texts for 2 images"):
        ours(**batch)
    with pytest.raises(InputError, match="pass a condition"):
        ours(pixel_values=batch["pixel_values"])
    with pytest.raises(InputError, match="conditional_embeddings"):
        ours(pixel_values=batch["pixel_values"], conditional_embeddings=torch.zeros(2, 5))
