"""mask-generation against the reference's pipeline on a sample photo (a tiny SAM built by the reference): the same
masks, scores and boxes, with and without crops; prompts on a cached embedding against the reference's SamProcessor
and model; our box NMS against a plain greedy one (torchvision, which the reference's NMS needs, is not installed: the
reference pipeline runs here with that plain NMS in its place)."""

from __future__ import annotations

import importlib
import json
import sys
import types

import numpy as np
import pytest
import torch

from workbench import pipeline
from workbench.errors import InputError
from workbench.processors.sam import box_nms

from tests.models.harness import transformers
from tests.models.test_sam import DECODER, PROMPT, VISION
from tests.vision import photo, photo_path

PROCESSOR = {"image_processor_type": "SamImageProcessor", "size": {"longest_edge": 64},
             "pad_size": {"height": 64, "width": 64}}


def greedy_nms(boxes, scores, idxs, iou_threshold):
    """torchvision's batched_nms for one class, written plainly: best first, drop boxes overlapping a kept one."""
    keep = []
    for i in sorted(range(len(scores)), key=lambda i: -float(scores[i])):
        a = boxes[i].tolist()
        for j in keep:
            b = boxes[j].tolist()
            inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            if union > 0 and inter / union > iou_threshold:
                break
        else:
            keep.append(i)
    return torch.tensor(keep, dtype=torch.long)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    config = transformers.SamConfig(vision_config=VISION, prompt_encoder_config=PROMPT, mask_decoder_config=DECODER)
    torch.manual_seed(0)
    model = transformers.SamModel(config).eval()
    with torch.no_grad():  # sharper decoder attention: masks that differ from point to point; and mask logits of
        for name, p in model.named_parameters():  # order 1 (random ones are ~1e-4), so that stability can filter
            if name.startswith("mask_decoder") and p.dim() > 1 and "proj" in name:
                p.mul_(3)
            if "output_hypernetworks_mlps" in name and "proj_out" in name:
                p.mul_(1e4)
    folder = tmp_path_factory.mktemp("sam")
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(PROCESSOR))
    return folder


@pytest.fixture(scope="module")
def reference(folder):
    ref = transformers.pipeline("mask-generation", model=str(folder))
    module = importlib.import_module(type(ref.image_processor).__module__)
    ref.image_processor.post_process_for_mask_generation = module._post_process_for_mask_generation
    boxes = types.ModuleType("torchvision.ops.boxes")
    boxes.batched_nms = greedy_nms
    saved = {k: sys.modules.get(k) for k in ("torchvision", "torchvision.ops", "torchvision.ops.boxes")}
    sys.modules.update({"torchvision": types.ModuleType("torchvision"), "torchvision.ops": types.ModuleType("x"),
                        "torchvision.ops.boxes": boxes})
    yield ref
    for k, v in saved.items():
        if v is None:
            sys.modules.pop(k, None)
        else:
            sys.modules[k] = v


@pytest.mark.parametrize("options", [
    dict(points_per_crop=4, points_per_batch=5, pred_iou_thresh=5e-4, stability_score_thresh=0.3,
         stability_score_offset=0.1, crops_nms_thresh=1.0),  # both filters at work: 4 of 48 masks kept
    dict(points_per_crop=3, points_per_batch=4, pred_iou_thresh=0.0, stability_score_thresh=0.0, crops_n_layers=1,
         crops_nms_thresh=0.95),  # 27 masks over 5 crops, cut ones and duplicates dropped: 2 kept
], ids=["grid", "crops"])
def test_automatic_masks_equal_reference(folder, reference, options):
    ours = pipeline("mask-generation", model=folder)
    image = photo("coffee").resize((150, 100))  # small: the reference post-processes every mask at full size
    want = reference(image, output_bboxes_mask=True, output_rle_mask=True, **options)
    got = ours(image, output_bboxes_mask=True, output_rle_mask=True, **options)
    assert len(got["masks"]) == len(want["masks"]) > 1
    np.testing.assert_allclose(got["scores"], want["scores"].tolist(), atol=1e-5)
    assert all(g.shape == (100, 150) and (g == w).all() for g, w in zip(got["masks"], want["masks"]))
    assert got["bounding_boxes"] == want["bounding_boxes"].tolist() and got["rle_mask"] == want["rle_mask"]
    assert isinstance(got["scores"][0], float)


def test_prompts_on_a_cached_embedding_equal_reference(folder):
    ours = pipeline("mask-generation", model=folder)
    processor = transformers.SamProcessor(transformers.SamImageProcessor.from_pretrained(folder))
    model = transformers.SamModel.from_pretrained(folder).eval()
    image = photo("rocket").resize((160, 107))
    embedded = ours.embed(image)
    prompts = [dict(points=[(30.0, 50.0), (75.0, 22.5)], labels=[1, 0]), dict(box=(8, 10, 75, 95)),
               dict(points=[(50.0, 25.0)], labels=[1], box=(3, 3, 100, 75))]
    for p in prompts:
        kw = {}
        if "points" in p:
            kw.update(input_points=[[list(map(list, p["points"]))]], input_labels=[[p["labels"]]])
        if "box" in p:
            kw["input_boxes"] = [[list(p["box"])]]
        inputs = processor(images=image, return_tensors="pt", **kw)
        with torch.no_grad():
            out = model(**{k: v for k, v in inputs.items() if k not in ("original_sizes", "reshaped_input_sizes")})
        want = processor.post_process_masks(out.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"])[0][0]
        got = ours.segment(embedded, **p)
        np.testing.assert_allclose(got["scores"], out.iou_scores[0, 0].tolist(), atol=1e-4)
        assert got["masks"].shape == tuple(want.shape) and (got["masks"] == want.numpy()).mean() > 0.999
    one = ours.segment(embedded, points=[(5, 5)], multimask_output=False, output_size=(100, 150))
    assert one["masks"].shape == (1, 100, 150) and one["low_res"].shape == (1, 32, 32)  # 4x the embedding grid
    auto = dict(points_per_crop=3, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    assert len(ours.generate(embedded, **auto)["masks"]) == len(ours(image, **auto)["masks"])  # the cache gives the same


def test_nms_keeps_the_best_of_overlapping_boxes():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(60, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 10 + torch.rand(60, 2, generator=g) * 40], dim=1)
    scores = torch.rand(60, generator=g)
    for threshold in (0.1, 0.5, 0.9):
        assert box_nms(boxes, scores, threshold).tolist() == greedy_nms(boxes, scores, None, threshold).tolist()


def test_bad_prompts_and_options_name_the_problem(folder):
    ours = pipeline("mask-generation", model=folder)
    embedded = ours.embed(photo("rocket"))
    with pytest.raises(InputError, match="give a prompt"):
        ours.segment(embedded)
    with pytest.raises(InputError, match="labels must give each"):
        ours.segment(embedded, points=[(1, 2), (3, 4)], labels=[1])
    with pytest.raises(InputError, match="box must be"):
        ours.segment(embedded, box=(1, 2, 3))
    with pytest.raises(InputError, match="points_per_batch"):
        ours(photo("rocket"), points_per_batch=0)
    with pytest.raises(InputError, match="pred_iou_thresh"):
        ours(photo("rocket"), pred_iou_thresh=2)


def test_mask_resizing_equals_the_reference_chain_of_interpolations():
    """Post-processing as two matmuls gives the logits of the reference's bilinear chain (1024 square, crop,
    original size) and of one more bilinear resize to a display size: to float32 rounding of the exact chain (run
    in float64 here; the reference's float32 chain rounds at each step, ~1e-4 on logits of this size)."""
    import torch.nn.functional as F

    from workbench.processors.sam import SamProcessor

    processor = SamProcessor.from_dict({})  # sam-vit-base's defaults: longest edge 1024, padded to 1024 x 1024
    logits = torch.randn(3, 256, 256, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 4
    for original, reshaped, display in [((300, 451), (681, 1024), None), ((107, 160), (684, 1024), (50, 75)),
                                        ((1024, 1024), (1024, 1024), (333, 333))]:
        x = F.interpolate(logits[:, None], (1024, 1024), mode="bilinear", align_corners=False)
        x = F.interpolate(x[..., : reshaped[0], : reshaped[1]], original, mode="bilinear", align_corners=False)
        if display is not None:
            x = F.interpolate(x, display, mode="bilinear", align_corners=False)
        got = processor.post_process_masks(logits.float(), original, reshaped, binarize=False, output_size=display)
        torch.testing.assert_close(got.double(), x[:, 0], atol=1e-5, rtol=0)
