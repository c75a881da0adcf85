"""OneFormer (tiny random weights built by the reference, its CLIP tokenizer and image processor) through our processor
and the image-segmentation pipeline, against the reference's on offline sample photos: the task inputs equal token for
token; post-processing of the same outputs equals the reference's exactly; panoptic, instance and semantic segments
equal label for label, score for score and pixel for pixel (but for float ties); the subtask really steers the model.

The installed reference has no torchvision, and its OneFormer post-processing resizes instance and panoptic masks with
torchvision's `resize` (a NameError without it); the tests give that module the stand-in torchvision's resize of a
float tensor is: `interpolate(..., mode="bilinear", antialias=True)`."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench import AutoModelForUniversalSegmentation, AutoProcessor, pipeline

from tests.models import harness
from tests.pipelines.test_universal_segmentation import segments_as_the_reference
from tests.test_tokenizer_vision_text import clip_vocab
from tests.vision import photo_path

transformers = harness.transformers
LABELS = {i: n for i, n in enumerate(["wall", "sky", "tree", "person", "cat", "road"])}
BACKBONE = dict(model_type="swin", embed_dim=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4], window_size=4,
                mlp_ratio=2.0, drop_path_rate=0.0, out_features=["stage1", "stage2", "stage3", "stage4"])
TASK_LEN = 16


@pytest.fixture(scope="module", autouse=True)
def torchvision_resize_stand_in():
    from transformers.models.oneformer import image_processing_pil_oneformer as module

    saved = getattr(module, "tvF", None)
    module.tvF = types.SimpleNamespace(
        InterpolationMode=types.SimpleNamespace(BILINEAR="bilinear"),
        resize=lambda x, size, interpolation: F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False,
                                                            antialias=True))
    yield
    if saved is None:
        del module.tvF
    else:
        module.tvF = saved


@pytest.fixture(scope="module")
def oneformer_folder(tmp_path_factory):
    config = transformers.OneFormerConfig(backbone_config=BACKBONE, conv_dim=32, mask_dim=32, hidden_dim=32,
                                          encoder_feedforward_dim=48, dim_feedforward=48, encoder_layers=1,
                                          decoder_layers=3, num_attention_heads=4, num_queries=12,
                                          task_seq_len=TASK_LEN, id2label=LABELS)
    torch.manual_seed(0)
    model = transformers.OneFormerForUniversalSegmentation(config).eval()
    with torch.no_grad():  # confident classes, masks with structure, queries that differ (tiny random ones are alike)
        decoder = model.model.transformer_module.decoder
        decoder.class_embed.weight.mul_(30)
        decoder.class_embed.bias.normal_(0, 2)
        model.model.pixel_level_module.decoder.mask_projection.weight.mul_(5)
        model.model.task_encoder.task_mlp.layers[0].layers[0].weight.mul_(3)
        model.model.transformer_module.queries_embedder.weight.mul_(5)
        for name, p in model.named_parameters():
            if name.endswith(("in_proj_weight", "q_proj.weight", "k_proj.weight")):
                p.mul_(4)
    folder = tmp_path_factory.mktemp("oneformer")
    model.save_pretrained(folder)
    vocab, merges = clip_vocab()
    transformers.CLIPTokenizer(vocab=vocab, merges=merges).save_pretrained(folder)
    # the reference's instance post-processing reads its class metadata file (ours needs none)
    (folder / "classes.json").write_text(json.dumps({str(i): {"name": n, "isthing": int(i in (3, 4))}
                                                     for i, n in LABELS.items()}))
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "OneFormerImageProcessor", "size": {"shortest_edge": 96, "longest_edge": 160},
        "class_info_file": "classes.json", "repo_path": str(folder), "num_labels": len(LABELS)}))
    return folder


def reference_processor(folder):
    image_processor = transformers.AutoImageProcessor.from_pretrained(folder)
    tokenizer = transformers.CLIPTokenizer.from_pretrained(folder)
    return transformers.OneFormerProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                           task_seq_length=TASK_LEN)


def test_processor_and_post_processing_equal_the_reference(oneformer_folder):
    ours = AutoProcessor.from_pretrained(oneformer_folder)
    ref = reference_processor(oneformer_folder)
    model = AutoModelForUniversalSegmentation.from_pretrained(oneformer_folder)
    photos = [str(photo_path("chelsea")), str(photo_path("coffee"))]  # two sizes: the batch is padded
    tasks = ["semantic", "panoptic"]
    got = ours(photos, task_inputs=tasks)
    want = ref(images=[transformers.image_utils.load_image(p) for p in photos], task_inputs=tasks, return_tensors="pt")
    assert torch.equal(got["task_inputs"], want["task_inputs"]) and got["task_inputs"].shape == (2, TASK_LEN)
    assert not torch.equal(got["task_inputs"][0], got["task_inputs"][1])
    torch.testing.assert_close(got["pixel_values"], want["pixel_values"], atol=1e-5, rtol=0)
    with torch.no_grad():
        out = model(**got)
    sizes = [tuple(np.asarray(transformers.image_utils.load_image(p)).shape[:2]) for p in photos]
    for a, b in zip(ours.post_process_semantic_segmentation(out, target_sizes=sizes),
                    ref.post_process_semantic_segmentation(out, target_sizes=sizes)):
        assert torch.equal(a, b)
    for name, options in (("instance", dict(threshold=0.3, overlap_mask_area_threshold=0.5)),
                          ("panoptic", dict(threshold=0.3, overlap_mask_area_threshold=0.5, label_ids_to_fuse={1}))):
        mine = getattr(ours, f"post_process_{name}_segmentation")(out, target_sizes=sizes, **options)
        theirs = getattr(ref, f"post_process_{name}_segmentation")(out, target_sizes=sizes, **options)
        assert sum(len(m["segments_info"]) for m in mine) >= 2, name
        for m, t in zip(mine, theirs):
            assert m["segments_info"] == t["segments_info"], name
            assert torch.equal(m["segmentation"], t["segmentation"].to(m["segmentation"].dtype)), name


@pytest.mark.parametrize("subtask,options", [("panoptic", dict(threshold=0.5)), ("instance", dict(threshold=0.3)),
                                             ("semantic", {})])
def test_segments_equal_the_reference_pipeline(oneformer_folder, subtask, options):
    found, ours = segments_as_the_reference(oneformer_folder, subtask, options)
    assert found >= 3  # the comparison covered segments on both photos
    assert ours.subtasks == ("panoptic", "instance", "semantic")


def test_the_subtask_is_the_models_task_input(oneformer_folder):
    """Unlike Mask2Former's, OneFormer's semantic map is not read off the panoptic pass: the task token changes the
    class scores themselves. explain() offers the three subtasks."""
    seg = pipeline("image-segmentation", model=oneformer_folder)
    path = str(photo_path("coffee"))
    maps = {t: seg.explain(path, subtask=t, threshold=0.3) for t in seg.subtasks}
    assert all(m["subtasks"] == ["panoptic", "instance", "semantic"] for m in maps.values())
    processor = AutoProcessor.from_pretrained(oneformer_folder)
    with torch.no_grad():
        outs = {t: seg.model(**processor([path], task_inputs=t)) for t in ("semantic", "panoptic")}
    assert (outs["semantic"].class_queries_logits - outs["panoptic"].class_queries_logits).abs().max() > 1e-2
    size = maps["semantic"]["size"]
    semantic = processor.post_process_semantic_segmentation(outs["semantic"], target_sizes=[size])[0]
    labels = [maps["semantic"]["segments"][i]["label_id"] for i in range(len(maps["semantic"]["segments"]))]
    assert np.array_equal(np.asarray(labels)[maps["semantic"]["segmentation"]], semantic.numpy())  # the semantic token's
