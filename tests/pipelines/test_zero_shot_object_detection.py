"""zero-shot-object-detection against the reference on the sample photos (a tiny OWLv2 built by the reference): the
pipeline's detections (labels, boxes, scores within 1e-4, order), batched; the image processor (pad to a square, blur,
zoom) and the post-processing (boxes in original pixels, image-guided NMS); image-guided detection; input checks."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from workbench import AutoProcessor, pipeline
from workbench.errors import InputError
from workbench.processors.owlv2 import post_process_image_guided_detection, post_process_object_detection

from tests.models.harness import transformers
from tests.vision import photo, photo_path
from tests.vision_text import owlv2_folder

PHOTOS = ["chelsea", "coffee", "rocket"]
LABELS = ["a cat", "a cup of coffee", "a rocket launch"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return owlv2_folder(tmp_path_factory.mktemp("owlv2"))


@pytest.fixture(scope="module")
def ours(folder):
    return pipeline("zero-shot-object-detection", model=folder)


def assert_same(got, want):
    """The same detections in the same order (boxes exact, scores within 1e-4)."""
    assert [(g["label"], g["box"]) for g in got] == [(w["label"], w["box"]) for w in want]
    np.testing.assert_allclose([g["score"] for g in got], [w["score"] for w in want], atol=1e-4, rtol=0)


def test_equals_reference_pipeline(folder, ours):
    ref = transformers.pipeline("zero-shot-object-detection", model=str(folder))
    paths = [str(photo_path(p)) for p in PHOTOS]
    got = ours(paths, candidate_labels=LABELS, threshold=0.3, batch_size=2)
    assert sum(len(g) for g in got) > 10  # enough boxes to compare
    for path, result in zip(paths, got):
        assert_same(result, ref(path, candidate_labels=LABELS, threshold=0.3))
    assert_same(ours(photo("coffee"), candidate_labels=LABELS[:2], top_k=3),
                ref(photo("coffee"), candidate_labels=LABELS[:2], top_k=3))
    per_image = ours(paths[:2], candidate_labels=[LABELS[:1], LABELS[1:]], threshold=0.3)
    assert_same(per_image[1], ref(paths[1], candidate_labels=LABELS[1:], threshold=0.3))
    assert_same(ours(images=paths[0], candidate_labels=",".join(LABELS), threshold=0.3), got[0])


def test_image_processor_equals_reference(folder):
    theirs = transformers.AutoImageProcessor.from_pretrained(str(folder))
    mine = AutoProcessor.from_pretrained(folder).image_processor
    g = np.random.default_rng(0)
    images = [np.asarray(photo("rocket")), g.integers(0, 256, (20, 12, 3), dtype=np.uint8),  # shrink, grow
              g.integers(0, 256, (70, 33, 3), dtype=np.uint8)]
    for image in images:
        want = theirs(image, return_tensors="pt")["pixel_values"]
        got = mine(image)["pixel_values"]
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_post_processing_equals_reference(folder):
    theirs = transformers.AutoImageProcessor.from_pretrained(str(folder))
    g = torch.Generator().manual_seed(3)
    logits, boxes = torch.randn(2, 16, 3, generator=g), torch.rand(2, 16, 4, generator=g) * 0.5 + 0.2
    sizes = [(480, 640), (300, 200)]
    out = transformers.models.owlv2.modeling_owlv2.Owlv2ObjectDetectionOutput(logits=logits, pred_boxes=boxes)
    for want, got in zip(theirs.post_process_object_detection(out, threshold=0.4, target_sizes=sizes),
                         post_process_object_detection(logits, boxes, threshold=0.4, target_sizes=sizes)):
        for key in ("scores", "labels", "boxes"):
            torch.testing.assert_close(got[key], want[key])
    guided = SimpleNamespace(logits=logits[..., :1].clone(), target_pred_boxes=boxes)
    want = theirs.post_process_image_guided_detection(guided, threshold=0.2, nms_threshold=0.3,
                                                      target_sizes=torch.tensor(sizes))
    got = post_process_image_guided_detection(logits[..., :1], boxes, threshold=0.2, nms_threshold=0.3,
                                              target_sizes=sizes)
    for w, o in zip(want, got):
        torch.testing.assert_close(o["scores"], w["scores"])
        torch.testing.assert_close(o["boxes"], w["boxes"])


def test_image_guided_detection_equals_reference(folder, ours):
    model = transformers.Owlv2ForObjectDetection.from_pretrained(str(folder), attn_implementation="eager").eval()
    processor = transformers.AutoImageProcessor.from_pretrained(str(folder))
    image, example = photo("chelsea"), np.asarray(photo("chelsea"))[100:250, 50:200]
    with torch.no_grad():
        out = model.image_guided_detection(pixel_values=processor(image, return_tensors="pt")["pixel_values"],
                                           query_pixel_values=processor(example, return_tensors="pt")["pixel_values"])
    want = processor.post_process_image_guided_detection(out, threshold=0.0, nms_threshold=0.3,
                                                         target_sizes=torch.tensor([image.size[::-1]]))[0]
    got = ours.image_guided_detection(image, example)
    order = torch.argsort(-want["scores"])
    assert [g["box"] for g in got] == [dict(zip(("xmin", "ymin", "xmax", "ymax"), b))
                                       for b in want["boxes"][order].int().tolist()]
    np.testing.assert_allclose([g["score"] for g in got], want["scores"][order].numpy(), atol=1e-4)
    shown = ours.explain(image, query_image=example)
    assert shown["labels"] == ["example"] and shown["maps"].shape == (1, 4, 4)
    best = shown["scores"].max()  # NMS as the reference; its post-processing then drops boxes under a tenth of the best
    assert (shown["scores"] > 0.1 * best + 1e-5).sum() <= len(got) <= (shown["scores"] > 0.1 * best - 1e-5).sum()


def test_explain_and_bad_inputs(ours):
    shown = ours.explain(photo("coffee"), "a cup, a cat")
    assert shown["grid"] == (4, 4) and shown["boxes"].shape == (16, 4) and shown["maps"].shape == (2, 4, 4)
    np.testing.assert_allclose(shown["scores"], shown["maps"].reshape(2, -1).max(0))
    with pytest.raises(InputError, match="candidate_labels"):
        ours(photo("rocket"), candidate_labels=[])
    with pytest.raises(InputError, match="threshold"):
        ours(photo("rocket"), candidate_labels=LABELS, threshold=2)
    with pytest.raises(InputError, match="input 1 is a int"):
        ours([photo("rocket"), 3], candidate_labels=LABELS)
    with pytest.raises(InputError, match="2 images but 3 lists"):
        ours([photo("rocket")] * 2, candidate_labels=[["a"], ["b"], ["c"]])
