"""image-classification and object-detection against the reference's pipelines on the offline sample photos:
the same labels and boxes, scores within 1e-4, one image or a batch; input checks name the input; attention
records and `explain()` agree with the detections."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from workbench import pipeline
from workbench.errors import InputError

from tests.models import harness
from tests.vision import photo, photo_path

transformers = harness.transformers
PHOTOS = ["chelsea", "coffee", "rocket", "astronaut"]
COCO = {0: "cat", 1: "cup", 2: "rocket", 3: "person", 4: "couch"}


def _folder(tmp_path_factory, name, model, processor):
    folder = tmp_path_factory.mktemp(name)
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return folder


@pytest.fixture(scope="module")
def vit_folder(tmp_path_factory):
    config = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                                    image_size=32, patch_size=8, id2label=COCO, attn_implementation="eager")
    torch.manual_seed(0)
    model = transformers.ViTForImageClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(30)  # confident enough that the ranking means something
    return _folder(tmp_path_factory, "vit", model, {"image_processor_type": "ViTImageProcessor", "size": 32,
                                                     "image_mean": [0.5] * 3, "image_std": [0.5] * 3})


@pytest.fixture(scope="module")
def detr_folder(tmp_path_factory):
    backbone = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1],
                                         out_features=["stage4"])
    config = transformers.DetrConfig(backbone_config=backbone, use_timm_backbone=False, d_model=32, encoder_layers=2,
                                     decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
                                     encoder_ffn_dim=37, decoder_ffn_dim=37, num_queries=12, id2label=COCO,
                                     attn_implementation="eager")
    torch.manual_seed(0)
    model = transformers.DetrForObjectDetection(config).eval()
    with torch.no_grad():
        model.class_labels_classifier.weight.mul_(40)
        model.bbox_predictor.layers[-1].weight.mul_(10)  # boxes spread over the image
    return _folder(tmp_path_factory, "detr", model, {"image_processor_type": "DetrImageProcessor",
                                                      "size": {"shortest_edge": 96, "longest_edge": 160}})


def test_image_classification_equals_reference(vit_folder):
    ours = pipeline("image-classification", model=vit_folder)
    ref = transformers.pipeline("image-classification", model=str(vit_folder))
    paths = [str(photo_path(p)) for p in PHOTOS]
    for got, want in zip(ours(paths), [ref(p) for p in paths]):
        assert [g["label"] for g in got] == [w["label"] for w in want]
        np.testing.assert_allclose([g["score"] for g in got], [w["score"] for w in want], atol=1e-4, rtol=0)
    one = ours(photo("chelsea"), top_k=2, function_to_apply="sigmoid")
    want = ref(photo("chelsea"), top_k=2, function_to_apply="sigmoid")
    assert [g["label"] for g in one] == [w["label"] for w in want] and len(one) == 2
    assert ours(images=photo("coffee"), top_k=99) == ours(photo("coffee"), top_k=5)  # capped at the labels there are
    assert isinstance(one[0]["score"], float)


def test_object_detection_equals_reference(detr_folder):
    ours = pipeline("object-detection", model=detr_folder)
    ref = transformers.pipeline("object-detection", model=str(detr_folder))
    paths = [str(photo_path(p)) for p in PHOTOS] + [str(photo_path("chelsea"))]
    got_all = ours(paths, threshold=0.3, batch_size=8)  # chelsea twice: one batch of two, others alone
    total = 0
    for got, path in zip(got_all, paths):
        want = ref(path, threshold=0.3)
        assert [(g["label"], g["box"]) for g in got] == [(w["label"], w["box"]) for w in want], path
        np.testing.assert_allclose([g["score"] for g in got], [w["score"] for w in want], atol=1e-4, rtol=0)
        total += len(got)
    assert total >= 10  # the comparison covered real detections
    assert got_all[0] == got_all[-1]
    assert all(isinstance(v, int) for d in got_all[0] for v in d["box"].values())
    assert ours(photo("rocket"), threshold=0.3) == got_all[2]


def test_bad_inputs_name_the_input_and_the_fix(vit_folder, detr_folder):
    cls = pipeline("image-classification", model=vit_folder)
    det = pipeline("object-detection", model=detr_folder)
    with pytest.raises(InputError, match="input 1 is a int"):
        cls([photo("rocket"), 3])
    with pytest.raises(InputError, match=r"input 1: .*does not exist"):
        det([str(photo_path("rocket")), "/no/such/photo.png"])
    with pytest.raises(InputError, match="threshold must be a number from 0 to 1"):
        det(photo("rocket"), threshold=2)
    with pytest.raises(InputError, match="top_k must be a positive int"):
        cls(photo("rocket"), top_k=0)
    with pytest.raises(InputError, match="images="):
        cls()


def test_attention_records_and_explain(vit_folder, detr_folder):
    cls = pipeline("image-classification", model=vit_folder)
    rec = cls.attention(photo("chelsea"))
    assert rec.kind == "patches" and rec.grid == (4, 4) and rec.attentions.shape == (2, 4, 17, 17)
    det = pipeline("object-detection", model=detr_folder)
    img = photo("coffee")  # 400x600 -> 96x144 -> a 3x5 feature grid
    cross = det.attention(img)
    assert cross.kind == "cross" and cross.grid == (3, 5) and cross.attentions.shape == (2, 4, 12, 15)
    info = det.explain(img)
    assert info["size"] == (400, 600) and info["attention"].shape == (12, 3, 5)
    np.testing.assert_allclose(info["attention"], cross.attentions[-1].mean(0).reshape(12, 3, 5), atol=1e-6)
    kept = det(img, threshold=0.3)
    expect = [(info["labels"][c], s) for c, s in zip(info["label_ids"], info["scores"]) if s > 0.3]
    assert [(d["label"], pytest.approx(d["score"], abs=1e-6)) for d in kept] == expect
