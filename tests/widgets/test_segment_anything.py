"""SegmentAnything without a browser: a photo embedded once, prompts set as the browser sets them give the pipeline's
masks at display size, refusals of bad prompts, "segment everything" as a label map, the saved picture."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import pipeline
from workbench.classroom import tiny_vision_model
from widgets import SegmentAnything
from widgets._gallery import sample_path
from widgets._render.vision import display_size, label_map


@pytest.fixture(scope="module")
def sam():
    model, processor = tiny_vision_model("mask-generation")
    return pipeline("mask-generation", model=model, processor=processor)


def test_prompts_from_the_canvas_give_the_pipelines_masks(sam, monkeypatch):
    panel = SegmentAnything(model=sam)
    assert panel.untrained and "untrained weights" in panel._badge.value
    panel.source.load_sample("chelsea")
    assert panel.canvas.meta["width"] == 451 and panel.canvas.image[:2] == b"\xff\xd8"
    calls = []
    encode = sam.model.get_image_embeddings
    monkeypatch.setattr(sam.model, "get_image_embeddings", lambda x: calls.append(1) or encode(x))
    panel.canvas.points = [[190.0, 140.0, 1]]  # what a click sends
    want = sam.segment(panel.embedded, points=[(190.0, 140.0)], labels=[1])
    c = panel.canvas
    assert c.masks.shape == (3, 300, 451) and c.masks.dtype == np.uint8
    assert (c.masks.astype(bool) == want["masks"]).all() and c.scores == pytest.approx(want["scores"])
    assert c.selected == int(np.argmax(want["scores"])) and c.latency_ms > 0
    assert panel.static_html.startswith('<img alt="SAM masks"')
    panel.canvas.box = [60, 20, 420, 300]  # a drag: the box joins the point
    want = sam.segment(panel.embedded, points=[(190.0, 140.0)], labels=[1], box=(60, 20, 420, 300))
    assert (c.masks.astype(bool) == want["masks"]).all()
    assert calls == []  # prompts reuse the embedding: the image encoder ran once, at load
    panel.source.load_sample("rocket")
    assert calls == [1] and panel.canvas.points == [] and panel.canvas.masks.shape[0] == 0  # a new photo: new prompts
    panel.clear()
    assert c.masks.shape[0] == 0 and c.scores == [] and panel.result is None


def test_bad_prompts_are_refused_and_named(sam):
    panel = SegmentAnything(model=sam, image=np.zeros((40, 60, 3), dtype=np.uint8))
    panel.canvas.points = [[10, 10, 1]]
    assert not panel.error
    panel.canvas.points = [[100, 10, 1]]
    assert "inside the 60 x 40 photo" in panel.error and panel.canvas.points == [[10, 10, 1]]
    panel.canvas.points = [[10, 10, 2]]
    assert "label 1 (the object) or 0" in panel.error
    panel.canvas.box = [30, 5, 10, 20]
    assert "x0 < x1" in panel.error and panel.canvas.box == []
    panel.canvas.opacity = 3
    assert "from 0 to 1" in panel.error


def test_segment_everything_sends_a_label_map(sam):
    from PIL import Image

    panel = SegmentAnything(model=sam, points_per_crop=4)
    panel.load(np.asarray(Image.open(sample_path("coffee")).convert("RGB").resize((150, 100))), name="coffee")
    seen = []
    panel.progress.observe(lambda c: seen.append(c["new"]), names="value")
    found = panel.segment_everything(pred_iou_thresh=0.0, stability_score_thresh=0.0, crops_nms_thresh=1.0)
    assert len(found["masks"]) == 48 and seen[-1] == panel.progress.max == 1  # 16 points x 3 masks, one batch
    layers = panel.canvas.everything
    assert layers.shape == display_size(100, 150) == (100, 150) and layers.max() >= 1
    assert (layers == label_map(found["masks"], layers.shape)).all()
    assert (layers == 1).sum() == found["masks"][0].sum()  # the best mask is drawn over the others
    assert panel.static_html.startswith('<img alt="SAM masks"')


def test_segment_everything_needs_a_photo(sam):
    panel = SegmentAnything(model=sam)
    panel.everything_button.click()
    assert "pick a photo first" in panel.error
