"""Detect and ImageClassifier without a browser: what they send, their static pictures, their refusals."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import pipeline
from workbench.classroom import tiny_vision_model
from widgets import Detect, ImageClassifier
from widgets._gallery import SAMPLES, available, sample_path
from widgets._render.vision import cls_attention_maps, visible


@pytest.fixture(scope="module")
def detector():
    model, processor = tiny_vision_model("object-detection")
    return pipeline("object-detection", model=model, processor=processor)


@pytest.fixture(scope="module")
def classifier():
    model, processor = tiny_vision_model("image-classification")
    return pipeline("image-classification", model=model, processor=processor)


def test_gallery_ships_offline():
    assert available() == list(SAMPLES)  # scikit-image and matplotlib are dependencies
    with pytest.raises(KeyError, match="choose one of"):
        sample_path("nope")


def test_detect_sends_every_query_and_filters_like_the_browser(detector):
    d = Detect(model=detector, threshold=0.6)
    assert d.untrained and "untrained weights" in d._badge.value
    found = d.detect(str(sample_path("coffee")), name="coffee")
    v = d.view
    q = detector.model.config.num_queries
    assert v.boxes.shape == (q, 4) and v.heat.shape[0] == q and v.meta["width"] == 600 and v.meta["height"] == 400
    keep = visible(v.scores, v.label_ids, 0.6, None)
    assert len(found[0]) == int(keep.sum()) == len(d.detections())
    assert d.static_html.startswith("<img")
    before = d.static_html
    d.threshold = 0.0  # set from code: the saved picture follows
    assert d.static_html != before and len(d.detections()) == q
    d.classes = [v.meta["labels"][int(v.label_ids[0])]]
    assert {x["label"] for x in d.detections()} == {v.meta["labels"][int(v.label_ids[0])]}
    d.threshold = 5
    assert "from 0 to 1" in d.error and d.threshold == 0.0
    d.classes = ["no-such-class"]
    assert "no class 'no-such-class'" in d.error


def test_two_models_are_compared_on_one_grid(detector):
    d = Detect(model=[detector, detector], arrangement="side")
    d.detect(np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(sample_path("rocket")).convert("RGB")))
    q = detector.model.config.num_queries
    assert d.view.boxes.shape == (2 * q, 4) and sorted(set(d.view.source.tolist())) == [0, 1]
    assert np.array_equal(d.view.boxes[:q], d.view.boxes[q:]) and d.arrangement == "side"


def test_image_classifier_maps_and_views(classifier):
    c = ImageClassifier(model=classifier, top_k=3)
    result = c.classify(str(sample_path("chelsea")), name="chelsea")
    assert len(result) == 3 and "wb-cls-bars" in c.bars.value
    layers, heads = 2, 4
    assert c.overlay.maps.shape == (layers, heads + 2, 14, 14)
    rec = classifier.attention(str(sample_path("chelsea")))
    from workbench.inspect import rollout

    assert c.overlay.view == "rollout"  # the default: attention rollout through the last layer
    np.testing.assert_allclose(c.current_map(), rollout(rec.attentions)[-1, 0, 1:].reshape(14, 14), atol=2e-3)
    assert cls_attention_maps(rec.attentions, None, rec.grid)[-1, heads + 1].max() == 0  # no rollout given: zeros
    c.overlay.view = "head 1"
    np.testing.assert_allclose(c.current_map(), rec.attentions[-1, 1, 0, 1:].reshape(14, 14), atol=2e-3)
    c.overlay.view = "mean"
    np.testing.assert_allclose(c.current_map(), rec.attentions[-1, :, 0, 1:].mean(0).reshape(14, 14), atol=2e-3)
    c.overlay.view = "head 7"
    assert "use 'rollout'" in c.error and c.overlay.view == "mean"
    c.classify("/no/such/photo.png")
    assert "does not exist" in c.error


def test_detect_takes_typed_queries_and_an_example_with_owlv2():
    model, processor = tiny_vision_model("zero-shot-object-detection")
    owl = pipeline("zero-shot-object-detection", model=model, processor=processor)
    d = Detect(model=owl, queries="a cat, a remote control")
    assert d.zero_shot and d.threshold == 0.1 and d.view.guided and d.untrained
    d.detect(str(sample_path("chelsea")), name="chelsea")
    v = d.view
    assert v.meta["labels"] == ["a cat", "a remote control"] and 0 < len(v.scores) <= 300
    found = d.detections()
    assert found and {x["label"] for x in found} <= {"a cat", "a remote control"}
    # the panel's boxes are the pipeline's: each kept patch's best query, same score and box
    ref = {(x["label"], tuple(x["box"].values())): x["score"] for x in owl(str(sample_path("chelsea")),
                                                                            candidate_labels=["a cat", "a remote control"])}
    for x in found:
        assert abs(ref[(x["label"], tuple(x["box"].values()))] - x["score"]) < 1e-5
    assert v.heat.shape[0] == len(v.scores)  # each box carries its query's score map
    d.queries = "a sofa"
    assert d.view.meta["labels"] == ["a sofa"] and d.static_html.startswith("<img")
    similar = d.find_similar((90, 30, 250, 190))
    assert d.view.meta["labels"] == ["example"] and d.view.meta["example"] == [90.0, 30.0, 250.0, 190.0]
    assert all(x["label"] == "example" for x in similar)
    d.find_similar((5, 5, 6, 6))
    assert "smaller than 4 pixels" in d.error
