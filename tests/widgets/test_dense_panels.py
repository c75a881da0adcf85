"""Segment and Depth without a browser: what they send, their static pictures, their refusals; the rank correlation."""

from __future__ import annotations

import numpy as np
import torch
import pytest

from workbench import pipeline
from workbench.classroom import tiny_vision_model
from workbench.training.metrics import rank_correlation
from widgets import Depth, Segment
from widgets._gallery import sample_path
from widgets._render.segmentation import legend, segment_colors, shrink_nearest


@pytest.fixture(scope="module")
def segmenter():
    model, processor = tiny_vision_model("image-segmentation")
    return pipeline("image-segmentation", model=model, processor=processor)


@pytest.fixture(scope="module")
def estimator():
    model, processor = tiny_vision_model("depth-estimation")
    return pipeline("depth-estimation", model=model, processor=processor)


def test_segment_sends_one_label_map_and_filters_like_the_browser(segmenter):
    s = Segment(model=segmenter)
    assert s.untrained and "untrained weights" in s._badge.value
    found = s.segment(str(sample_path("coffee")), name="coffee")
    v = s.view
    info = segmenter.explain(str(sample_path("coffee")))
    assert v.segmentation.dtype == np.uint16 and v.segmentation.shape == (400, 600)  # under 1024: full size
    assert np.array_equal(v.segmentation.astype(np.int64) - 1, info["segmentation"])
    assert [x["label"] for x in found] == [x["label"] for x in info["segments"]] and len(found) >= 3
    assert abs(sum(x["area"] for x in found) - 1.0) < 1e-6  # a per-pixel classifier covers the photo
    assert all(x["color"].startswith("#") for x in v.meta["segments"]) and v.meta["subtasks"] == ["semantic"]
    assert s.static_html.startswith("<img")
    before = s.static_html
    s.hidden = [found[0]["label"]]  # set from code: the browser's legend and the saved picture follow
    assert v.hidden == [v.meta["segments"][0]["label_id"]] and s.static_html != before
    assert [x["label"] for x in s.segments()] == [x["label"] for x in found[1:]]
    s.isolated = 1
    assert [x["label"] for x in s.segments()] == [found[1]["label"]]
    s.isolated = 99
    assert "segment 99 does not exist" in s.error and s.isolated == 1
    s.opacity = 2
    assert "opacity must be from 0 to 1" in s.error and s.opacity == 0.6
    s.hidden = ["no-such-class"]
    assert "no segment of class 'no-such-class'" in s.error
    s.subtask = "panoptic"
    assert "use one of ['semantic']" in s.error
    s.segment("/no/such/photo.png")
    assert "does not exist" in s.error


def test_segment_takes_any_models_masks_and_soft_maps(segmenter):
    """What another model hands over: a label map with segments, or one heat map per prompt (CLIPSeg-style)."""
    s = Segment()
    rgb = np.zeros((1500, 900, 3), dtype=np.uint8)
    index = np.full((1500, 900), -1, dtype=np.int32)
    index[100:700, 100:500], index[800:1400, 200:800] = 0, 1
    segments = [{"label_id": 3, "label": "cat", "score": 0.97, "area": 0.18},
                {"label_id": 3, "label": "cat", "score": 0.51, "area": 0.27}]
    s.show(rgb, index, segments, name="two cats", subtask="instance")
    assert s.view.segmentation.shape == (1024, 614) and int(s.view.segmentation.max()) == 2  # shrunk, nearest
    colors = [x["color"] for x in s.view.meta["segments"]]
    assert colors[0] != colors[1] and colors == segment_colors(segments)  # two shades of the class's colour
    assert legend(segments, colors) == [{"label_id": 3, "label": "cat", "color": colors[0], "count": 2, "area": 0.45}]
    soft = np.random.default_rng(0).random((2, 60, 90)).astype(np.float32)
    s.show(rgb, soft=soft, soft_labels=["a cat", "a remote"], name="prompts")
    assert s.view.soft.dtype == np.uint8 and s.view.soft.shape == (2, 60, 90) and s.view.segmentation is None
    assert s.view.meta["soft_labels"] == ["a cat", "a remote"] and len(s.view.meta["soft_colors"]) == 2
    assert "2 prompts" in s.info.value and s.static_html
    with pytest.raises(Exception, match="label map is"):
        s.show(rgb, index[:10], segments)
    with pytest.raises(Exception, match="N names"):
        s.show(rgb, soft=soft, soft_labels=["one"])
    assert shrink_nearest(np.arange(12).reshape(3, 4), max_side=2).shape == (2, 2)


def test_depth_sends_the_map_and_scores_against_a_measured_one(estimator):
    import skimage.data
    from scipy.stats import rankdata

    d = Depth(model=estimator)
    assert "untrained weights" in d._badge.value
    left, _, disparity = skimage.data.stereo_motorcycle()
    depth = d.estimate(left, name="motorcycle")
    assert depth.shape == left.shape[:2] and not d.error
    v = d.view
    assert v.depth.shape == (432, 640) and float(v.depth.min()) == 0.0 and float(v.depth.max()) == 1.0
    assert len(v.meta["colormap"]) == 768 and v.meta["range"] == [pytest.approx(float(depth.min())),
                                                                   pytest.approx(float(depth.max()))]
    rho = d.compare(disparity, name="measured disparity")
    keep = np.isfinite(disparity) & (disparity > 0)
    assert rho == pytest.approx(rank_correlation(depth, disparity, keep)) and -1 <= rho <= 1
    assert v.measured.shape == v.depth.shape and np.isnan(v.measured.astype(np.float32)).any()  # unmatched pixels
    assert "rank correlation" in v.meta["note"] and "rank correlation" in d.info.value
    reverse = rankdata(-depth).reshape(depth.shape)  # ranks: exact in the panel's float32, unlike max + 1 - depth
    assert d.compare(reverse) == pytest.approx(-1.0, abs=1e-9)  # every pair in the opposite order
    before = d.static_html
    d.arrangement = "overlay"
    assert d.static_html != before
    d.arrangement = "stacked"
    assert "use one of ('side', 'overlay')" in d.error and d.arrangement == "overlay"
    d.blend = -1
    assert "blend must be from 0 to 1" in d.error
    with pytest.raises(Exception, match="one value per pixel"):
        d.compare(disparity[:10])
    fresh = Depth(model=estimator)
    with pytest.raises(Exception, match="estimate a depth first"):
        fresh.compare(disparity)


def test_rank_correlation_is_spearmans():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=500), rng.normal(size=500)
    b += a
    a[::4] = 0.25  # ties
    assert rank_correlation(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    b[3] = np.inf  # not finite: left out
    assert rank_correlation(a, b) == pytest.approx(spearmanr(np.delete(a, 3), np.delete(b, 3)).statistic, abs=1e-12)
    assert np.isnan(rank_correlation([1.0], [2.0]))


@pytest.fixture(scope="module")
def prompted():
    model, processor = tiny_vision_model("zero-shot-image-segmentation")
    return pipeline("image-segmentation", model=model, processor=processor)


def test_segment_takes_typed_prompts_one_heat_map_each(prompted, segmenter):
    """CLIPSeg in Segment: typed prompts -> the pipeline's heat maps at display size; the threshold is the browser's."""
    s = Segment(model=prompted, prompts="a cat, a remote control")
    assert s.untrained and s.prompts_box.layout.display is None and s.prompts == ["a cat", "a remote control"]
    assert Segment(model=segmenter).prompts_box.layout.display == "none"  # label-map models have no prompts
    found = s.segment(str(sample_path("chelsea")), name="chelsea")
    info = prompted.explain(str(sample_path("chelsea")), prompts=s.prompts)
    v = s.view
    assert v.soft.dtype == np.uint8 and v.soft.shape == (2, 300, 451) and v.segmentation is None
    np.testing.assert_allclose(v.soft / 255, info["heatmaps"], atol=0.51 / 255)
    assert v.meta["soft_labels"] == s.prompts
    np.testing.assert_allclose(v.meta["soft_scores"], [x["score"] for x in info["segments"]], atol=1e-6)
    assert [x["label"] for x in found] == s.prompts and all(x["area"] == 1.0 for x in found)  # threshold 0: all drawn
    before = s.static_html
    s.threshold = 0.5  # the browser's slider, set from code: areas and the saved picture follow, no model run
    assert v.threshold == 0.5 and s.static_html != before
    np.testing.assert_allclose([x["area"] for x in s.segments()], [x["area"] for x in info["segments"]], atol=1e-6)
    s.hidden = ["a remote control"]
    assert v.hidden == [1] and s.hidden == ["a remote control"] and [x["label"] for x in s.segments()] == ["a cat"]
    s.threshold = 2
    assert "threshold must be from 0 to 1" in s.error and v.threshold == 0.5
    s.prompts = ["a blanket"]  # typed prompts: the photo is segmented again
    assert v.meta["soft_labels"] == ["a blanket"] and v.soft.shape == (1, 300, 451) and v.hidden == []
    s.prompts = ""
    assert v.soft is None and "type what to find" in s.info.value


def test_segment_subtask_switch_reruns_oneformer_with_its_task_token():
    """OneFormer's subtask is its task input: switching reruns the model (the canvas busy meanwhile) with the new task
    token, and the drawing is the pipeline's for that subtask."""
    model, processor = tiny_vision_model("task-conditioned-segmentation")
    pipe = pipeline("image-segmentation", model=model, processor=processor)
    s = Segment(model=pipe)
    assert s.untrained
    tokens = []
    original = model.forward
    model.forward = lambda *a, **k: (tokens.append(k["task_inputs"].clone()), original(*a, **k))[1]
    busy = []
    s.view.observe(lambda c: busy.append(c["new"]), names="busy")
    s.segment(str(sample_path("coffee")), name="coffee")
    assert s.view.meta["subtasks"] == ["panoptic", "instance", "semantic"] and s.view.subtask == "panoptic"
    before = s.view.segmentation.copy()
    s.view.subtask = "semantic"  # what the browser's menu sets
    assert s.error == "" and s.view.meta["subtask"] == "semantic" and busy == [True, False, True, False]
    assert len(tokens) == 2 and not torch.equal(tokens[0], tokens[1])  # one run per subtask, different task tokens
    info = pipe.explain(str(sample_path("coffee")), subtask="semantic", threshold=s.threshold)
    assert np.array_equal(s.view.segmentation.astype(np.int64) - 1, info["segmentation"])
    assert not np.array_equal(before, s.view.segmentation)  # the drawing changed
