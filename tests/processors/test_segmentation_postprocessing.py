"""Mask-classifier post-processing (processors/segmentation.py) against the reference's Mask2Former image processor,
on random query outputs: the same label maps pixel for pixel and the same segments (ids, labels, scores, fused
stuff) for semantic, instance and panoptic segmentation, with and without a target size."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from workbench.processors.segmentation import (MASK2FORMER_MASK_SIZE, universal_instance, universal_panoptic,
                                               universal_semantic)

from tests.models import harness

transformers = harness.transformers
QUERIES, CLASSES = 12, 5


def outputs(seed: int) -> SimpleNamespace:
    g = torch.Generator().manual_seed(seed)
    cls = torch.randn(1, QUERIES, CLASSES + 1, generator=g) * 4  # peaked: several queries pass a 0.5 threshold
    cls[0, :3, -1] += 8  # a few "no object" queries the panoptic pass must drop
    masks = torch.randn(1, QUERIES, 6, 8, generator=g) * 3  # coarse blobs, as a mask head gives
    return SimpleNamespace(class_queries_logits=cls, masks_queries_logits=masks)


@pytest.fixture(scope="module")
def reference():
    return transformers.Mask2FormerImageProcessor()


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("size", [(45, 70), None])
def test_semantic_equals_reference(reference, seed, size):
    out = outputs(seed)
    want = reference.post_process_semantic_segmentation(out, target_sizes=[size] if size else None)[0]
    got = universal_semantic(out.class_queries_logits[0], out.masks_queries_logits[0], size, MASK2FORMER_MASK_SIZE)
    assert torch.equal(got.segmentation.long(), want.long())
    assert len(got.segments) >= 2


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("size", [(45, 70), None])
def test_instance_equals_reference(reference, seed, size):
    out = outputs(seed)
    want = reference.post_process_instance_segmentation(out, threshold=0.3, target_sizes=[size] if size else None)[0]
    got = universal_instance(out.class_queries_logits[0], out.masks_queries_logits[0], 0.3, size, MASK2FORMER_MASK_SIZE)
    assert got.segments == want["segments_info"] and len(got.segments) >= 2
    assert torch.equal(got.segmentation.long(), want["segmentation"].long())


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("size", [(45, 70), None])
def test_panoptic_equals_reference_and_fuses_stuff(reference, seed, size):
    out = outputs(seed)
    for fuse in (set(), {0, 1, 2}):
        want = reference.post_process_panoptic_segmentation(out, threshold=0.5, mask_threshold=0.5,
                                                            overlap_mask_area_threshold=0.3, label_ids_to_fuse=fuse,
                                                            target_sizes=[size] if size else None)[0]
        got = universal_panoptic(out.class_queries_logits[0], out.masks_queries_logits[0], 0.5, 0.5, 0.3, fuse, size,
                                 MASK2FORMER_MASK_SIZE)
        assert got.segments == want["segments_info"] and len(got.segments) >= 2
        assert torch.equal(got.segmentation.long(), want["segmentation"].long())
        assert any(s["was_fused"] for s in got.segments) == bool(fuse)  # the fusing path ran


def test_panoptic_with_no_object_gives_an_empty_map(reference):
    out = outputs(0)
    out.class_queries_logits[..., -1] = 50.0  # every query says "no object"
    want = reference.post_process_panoptic_segmentation(out, target_sizes=[(20, 30)])[0]
    got = universal_panoptic(out.class_queries_logits[0], out.masks_queries_logits[0], 0.5, 0.5, 0.8, None, (20, 30),
                             MASK2FORMER_MASK_SIZE)
    assert got.segments == want["segments_info"] == []
    assert torch.equal(got.segmentation.long(), want["segmentation"].long())
