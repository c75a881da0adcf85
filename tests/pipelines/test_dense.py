"""image-segmentation and depth-estimation against the reference's pipelines on the offline sample photos: the same
labels and masks pixel for pixel, depths within 1e-4 (relative) and the same normalised depth image, one image or
a batch; input checks name the input and the fix; explain() agrees with the masks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from workbench import pipeline
from workbench.errors import InputError, UnsupportedModelError

from tests.models import harness
from tests.vision import photo, photo_path

transformers = harness.transformers
PHOTOS = ["chelsea", "coffee", "astronaut", "motorcycle"]
SCENE = {i: n for i, n in enumerate(["wall", "sky", "tree", "person", "cat", "road"])}


def _folder(tmp_path_factory, name, model, processor):
    folder = tmp_path_factory.mktemp(name)
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return folder


@pytest.fixture(scope="module")
def segformer_folder(tmp_path_factory):
    config = transformers.SegformerConfig(num_encoder_blocks=3, depths=[1, 1, 1], sr_ratios=[4, 2, 1],
                                          hidden_sizes=[16, 24, 32], patch_sizes=[7, 3, 3], strides=[4, 2, 2],
                                          num_attention_heads=[1, 2, 4], mlp_ratios=[2, 2, 2], decoder_hidden_size=24,
                                          id2label=SCENE)
    torch.manual_seed(0)
    model = transformers.SegformerForSemanticSegmentation(config).eval()
    with torch.no_grad():
        model.decode_head.classifier.weight.mul_(20)  # several classes per photo
    return _folder(tmp_path_factory, "segformer", model, {"image_processor_type": "SegformerImageProcessor",
                                                           "size": {"height": 64, "width": 64}})


@pytest.fixture(scope="module")
def depth_folder(tmp_path_factory):
    backbone = dict(model_type="dinov2", image_size=28, hidden_size=32, num_attention_heads=4, num_hidden_layers=4,
                    mlp_ratio=2, patch_size=14, out_indices=[1, 2, 3, 4], reshape_hidden_states=False)
    config = transformers.DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32,
                                              neck_hidden_sizes=[8, 16, 24, 32], fusion_hidden_size=16, head_hidden_size=8)
    torch.manual_seed(0)
    model = transformers.DepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():  # depth with structure (random weights this small give an almost flat map)
        for name, p in model.named_parameters():
            if name.startswith(("neck.", "head.")) and name.endswith("weight"):
                p.mul_(40)
        model.head.conv3.bias.fill_(1.0)
    return _folder(tmp_path_factory, "depth", model, {
        "image_processor_type": "DPTImageProcessor", "do_pad": False, "ensure_multiple_of": 14, "keep_aspect_ratio": True,
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "resample": 3,
        "size": {"height": 70, "width": 70}})


def assert_same_segments(got, want, where):
    assert [(g["label"], g["score"]) for g in got] == [(w["label"], w["score"]) for w in want], where
    for g, w in zip(got, want):
        assert g["mask"].mode == "L" and g["mask"].size == w["mask"].size
        assert np.array_equal(np.asarray(g["mask"]), np.asarray(w["mask"])), (where, g["label"])


def test_semantic_segmentation_equals_reference(segformer_folder):
    ours = pipeline("image-segmentation", model=segformer_folder)
    ref = transformers.pipeline("image-segmentation", model=str(segformer_folder))
    paths = [str(photo_path(p)) for p in PHOTOS]
    got = ours(paths, batch_size=4)  # one processed size: one batch
    for path, g in zip(paths, got):
        assert_same_segments(g, ref(path), path)
    assert sum(len(g) for g in got) >= 12  # the comparison covered several classes per photo
    assert_same_segments(ours(photo("coffee"), subtask="semantic"), got[1], "a PIL image, one at a time")
    assert ours.subtasks == ("semantic",)


def test_depth_estimation_equals_reference(depth_folder):
    ours = pipeline("depth-estimation", model=depth_folder)
    ref = transformers.pipeline("depth-estimation", model=str(depth_folder))
    paths = [str(photo_path(p)) for p in PHOTOS] + [str(photo_path("chelsea"))]
    got = ours(paths, batch_size=8)  # the keep-aspect sizes differ: same-size images share a batch
    for path, g in zip(paths, got):
        w = ref(path)
        assert g["predicted_depth"].shape == w["predicted_depth"].shape
        scale = float(w["predicted_depth"].abs().max())
        assert scale > 1e-3 and float(w["predicted_depth"].std()) > 1e-3 * scale  # not a flat map
        torch.testing.assert_close(g["predicted_depth"], w["predicted_depth"], atol=1e-4 * scale, rtol=0)
        diff = np.abs(np.asarray(g["depth"]).astype(int) - np.asarray(w["depth"]).astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, path  # a level where float rounding straddles one
    assert torch.equal(got[0]["predicted_depth"], got[-1]["predicted_depth"])
    one = ours(photo("rocket"))
    assert set(one) == {"predicted_depth", "depth"} and one["depth"].size == photo("rocket").size


def test_explain_matches_the_masks(segformer_folder):
    seg = pipeline("image-segmentation", model=segformer_folder)
    info = seg.explain(photo("astronaut"))
    masks = seg(photo("astronaut"))
    assert info["size"] == (512, 512) and info["subtask"] == "semantic" and info["labels"] == list(SCENE.values())
    assert [s["label"] for s in info["segments"]] == [m["label"] for m in masks]
    for i, m in enumerate(masks):
        inside = np.asarray(m["mask"]) == 255
        assert np.array_equal(info["segmentation"] == i, inside)
        assert info["segments"][i]["area"] == pytest.approx(inside.mean())
    assert (info["segmentation"] >= 0).all()  # a per-pixel classifier labels every pixel


def test_bad_inputs_name_the_input_and_the_fix(segformer_folder, depth_folder):
    seg = pipeline("image-segmentation", model=segformer_folder)
    with pytest.raises(InputError, match="subtask='panoptic'.*does semantic"):
        seg(photo("rocket"), subtask="panoptic")
    with pytest.raises(InputError, match="threshold must be a number from 0 to 1"):
        seg(photo("rocket"), threshold=1.5)
    with pytest.raises(InputError, match=r"input 1: .*does not exist"):
        seg([str(photo_path("rocket")), "/no/such/photo.png"])
    with pytest.raises(InputError, match="label_ids_to_fuse"):
        seg(photo("rocket"), label_ids_to_fuse={99})
    depth = pipeline("depth-estimation", model=depth_folder)
    with pytest.raises(InputError, match="input 1 is a int"):
        depth([photo("rocket"), 7])
    with pytest.raises(UnsupportedModelError, match="do not segment images"):
        pipeline("image-segmentation", model=depth_folder)
