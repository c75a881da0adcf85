"""ZeroShotImageClassifier without a browser: typed labels re-score the photo (only new labels are encoded), the
image x label matrix, refusals, the badge and the saved picture."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import pipeline
from workbench.classroom import tiny_vision_model
from widgets import ZeroShotImageClassifier
from widgets._gallery import sample_path


@pytest.fixture(scope="module")
def pipe():
    model, processor = tiny_vision_model("zero-shot-image-classification")
    return pipeline("zero-shot-image-classification", model=model, processor=processor)


def test_typed_labels_rescore_the_photo(pipe):
    panel = ZeroShotImageClassifier(model=pipe, debounce_ms=0)
    assert panel.untrained and "untrained weights" in panel._badge.value
    panel.classify(str(sample_path("chelsea")), name="chelsea")
    assert panel.result == []  # no labels yet
    panel.candidate_labels = "a cat, a dog"
    want = pipe(str(sample_path("chelsea")), candidate_labels=["a cat", "a dog"])
    assert [r["label"] for r in panel.result] == [w["label"] for w in want]
    np.testing.assert_allclose([r["score"] for r in panel.result], [w["score"] for w in want], atol=1e-5)
    seen = len(pipe._texts)
    panel.candidate_labels = "a cat, a dog, a rocket"  # one new label: one new text embedding
    assert len(pipe._texts) == seen + 1 and len(panel.result) == 3
    assert "wb-zsi-bars" in panel.static_html and "data:image/jpeg" in panel.static_html
    panel.hypothesis_template = "a picture of {}"
    assert pytest.approx(sum(r["score"] for r in panel.result), abs=1e-5) == 1.0  # CLIP: a softmax over labels


def test_compare_matrix_and_refusals(pipe):
    panel = ZeroShotImageClassifier(model=pipe, candidate_labels="a cat, a cup of coffee, a rocket",
                                    compare=["chelsea", "coffee"], debounce_ms=0)
    m = panel.matrix
    assert m["images"] == ["chelsea", "coffee"] and np.asarray(m["scores"]).shape == (2, 3)
    want = pipe.similarity([str(sample_path("chelsea")), str(sample_path("coffee"))], m["labels"])["scores"]
    np.testing.assert_allclose(m["scores"], want, atol=1e-5)
    assert panel.static_html.count('class="wb-zsi-cell"') == 6
    panel.compared = ["chelsea", "coffee", "rocket"]  # also what ticking a third photo does
    assert np.asarray(panel.matrix["scores"]).shape == (3, 3) and panel._compare_box.value == ("chelsea", "coffee", "rocket")
    panel.hypothesis_template = "no slot"
    assert "needs {}" in panel.error and panel.hypothesis_template == "This is a photo of {}."
    panel.compared = ["nope"]
    assert "no gallery photo" in panel.error and len(panel.compared) == 3
    panel.candidate_labels = " , "
    assert "candidate_labels" in panel.error and panel.result == []
    panel.candidate_labels = "a cat"
    assert not panel.error and len(panel.matrix["labels"]) == 1
