"""image-segmentation with a mask classifier (Mask2Former, tiny random weights built by the reference) against the
reference's pipeline on offline sample photos: panoptic, instance and semantic segments equal label for label, score
for score and pixel for pixel; explain() offers the three subtasks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from workbench import pipeline

from tests.models import harness
from tests.vision import photo_path

transformers = harness.transformers
LABELS = {i: n for i, n in enumerate(["wall", "sky", "tree", "person", "cat", "road"])}
BACKBONE = dict(model_type="swin", embed_dim=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4], window_size=4,
                mlp_ratio=2.0, drop_path_rate=0.0, out_features=["stage1", "stage2", "stage3", "stage4"])


@pytest.fixture(scope="module")
def mask2former_folder(tmp_path_factory):
    config = transformers.Mask2FormerConfig(backbone_config=BACKBONE, feature_size=32, mask_feature_size=32,
                                            hidden_dim=32, encoder_feedforward_dim=48, dim_feedforward=48,
                                            encoder_layers=1, decoder_layers=3, num_attention_heads=4, num_queries=12,
                                            id2label=LABELS)
    torch.manual_seed(0)
    model = transformers.Mask2FormerForUniversalSegmentation(config).eval()
    with torch.no_grad():  # confident classes and masks with structure (tiny random weights are nearly uniform)
        model.class_predictor.weight.mul_(30)
        model.model.pixel_level_module.decoder.mask_projection.weight.mul_(5)
    folder = tmp_path_factory.mktemp("mask2former")
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "Mask2FormerImageProcessor", "size": {"shortest_edge": 96, "longest_edge": 160},
        "size_divisor": 32, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}))
    return folder


def assert_same_segments(got, want, where):
    """Same labels and scores; masks equal but for a few pixels where two queries' weighted masks tie within float
    noise (our logits and the reference's differ by ~1e-6; given the same logits the post-processing is exact,
    tests/processors/test_segmentation_postprocessing.py)."""
    assert [g["label"] for g in got] == [w["label"] for w in want], where
    for g, w in zip(got, want):
        assert (g["score"] is None) == (w["score"] is None) and abs((g["score"] or 0) - (w["score"] or 0)) < 1e-5, where
        assert g["mask"].mode == "L" and g["mask"].size == w["mask"].size
        assert (np.asarray(g["mask"]) != np.asarray(w["mask"])).mean() < 1e-4, (where, g["label"])


@pytest.mark.parametrize("subtask,options", [("panoptic", dict(threshold=0.5)), ("instance", dict(threshold=0.3)),
                                             ("semantic", {})])
def test_segments_equal_the_reference_pipeline(mask2former_folder, subtask, options):
    found, ours = segments_as_the_reference(mask2former_folder, subtask, options)
    assert found >= 2  # the comparison covered segments on both photos
    assert ours.subtasks == ("panoptic", "instance", "semantic")


def segments_as_the_reference(folder, subtask, options):
    """Both libraries' image-segmentation pipelines on the chelsea and coffee photos, segment by segment; returns
    how many segments were compared, and our pipeline."""
    ours = pipeline("image-segmentation", model=folder)
    ref = transformers.pipeline("image-segmentation", model=str(folder))
    found = 0
    for name in ("chelsea", "coffee"):
        path = str(photo_path(name))
        got, want = ours(path, subtask=subtask, **options), ref(path, subtask=subtask, **options)
        assert_same_segments(got, want, (name, subtask))
        found += len(got)
    return found, ours


def test_explain_gives_each_subtask(mask2former_folder):
    seg = pipeline("image-segmentation", model=mask2former_folder)
    path = str(photo_path("chelsea"))
    for subtask in seg.subtasks:
        info = seg.explain(path, subtask=subtask, threshold=0.3)
        masks = seg(path, subtask=subtask, threshold=0.3)
        assert info["subtask"] == subtask and info["subtasks"] == ["panoptic", "instance", "semantic"]
        assert [s["label"] for s in info["segments"]] == [m["label"] for m in masks]
        for i, m in enumerate(masks):
            if subtask != "instance":  # instances may overlap: a later one paints over an earlier one
                assert np.array_equal(info["segmentation"] == i, np.asarray(m["mask"]) == 255)
