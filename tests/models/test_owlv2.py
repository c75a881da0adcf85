"""OWLv2 against the reference on tiny random weights: the shared harness (the dual encoder and the detector: logits,
objectness, boxes, embeddings, both towers), plus what detection adds: several images with padded queries, other
image sizes (the box bias follows the grid), image-guided detection."""

from __future__ import annotations

import torch

from workbench import AutoModel, AutoModelForZeroShotObjectDetection

from tests.models import harness
from tests.models.test_clip import TEXT, VISION, image_text_batch

FAMILY = harness.Family(
    "owlv2", "Owlv2", config=dict(text_config=TEXT, vision_config=VISION, projection_dim=32),  # the text width, as the hub
    heads={"base": ("Model", AutoModel),
           "zero-shot-object-detection": ("ForObjectDetection", AutoModelForZeroShotObjectDetection)},
    inputs=image_text_batch(images=1), head_config=lambda head: {},
    output_fields=("logits_per_image", "logits_per_text", "text_embeds", "image_embeds", "logits",
                   "objectness_logits", "pred_boxes", "class_embeds"),
    nested=("text_model_output", "vision_model_output"),
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)

FIELDS = ("logits", "objectness_logits", "pred_boxes", "text_embeds", "image_embeds", "class_embeds")


def _pair(tmp_path):
    ref = harness.reference_model(FAMILY, "zero-shot-object-detection")
    ref.save_pretrained(tmp_path)
    return ref, AutoModelForZeroShotObjectDetection.from_pretrained(tmp_path)


def _close(ours, ref, fields):
    for name in fields:
        torch.testing.assert_close(getattr(ours, name), getattr(ref, name), atol=1e-4, rtol=0, msg=name)


def test_batches_padded_queries_and_other_sizes_match_reference(tmp_path):
    ref, ours = _pair(tmp_path)
    batch = image_text_batch(images=2)()
    ids = torch.cat([batch["input_ids"], batch["input_ids"][:1]])  # 2 images x 2 queries
    mask = torch.cat([batch["attention_mask"], batch["attention_mask"][:1]])
    ids[3] = 0  # the second image has one query: its second is padding (first id 0)
    inputs = dict(input_ids=ids, attention_mask=mask, pixel_values=batch["pixel_values"])
    with torch.no_grad():
        o, r = ours(**inputs), ref(**inputs)
        _close(o, r, FIELDS)
        assert (o.logits[1, :, 1] == torch.finfo(torch.float32).min).all()
        big = dict(inputs, pixel_values=torch.randn(2, 3, 48, 40), interpolate_pos_encoding=True)
        o, r = ours(**big), ref(**big)
        _close(o, r, FIELDS)
    assert o.image_embeds.shape[1:3] == (6, 5) and o.pred_boxes.shape == (2, 30, 4)


def test_image_guided_detection_matches_reference(tmp_path):
    ref, ours = _pair(tmp_path)
    g = torch.Generator().manual_seed(5)
    target, query = torch.randn(2, 3, 32, 32, generator=g), torch.randn(2, 3, 32, 32, generator=g)
    with torch.no_grad():
        o = ours.image_guided_detection(pixel_values=target, query_pixel_values=query)
        r = ref.image_guided_detection(pixel_values=target, query_pixel_values=query)
    _close(o, r, ("logits", "image_embeds", "query_image_embeds", "target_pred_boxes", "query_pred_boxes",
                  "class_embeds"))
    torch.testing.assert_close(o.vision_model_output.last_hidden_state, r.vision_model_output.last_hidden_state,
                               atol=1e-4, rtol=0)
