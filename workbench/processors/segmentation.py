"""Post-processing of dense predictions, as the reference's image processors do it: model outputs of one image in,
label maps and segments in the original image's pixels out (torch tensors; pipelines turn them into plain data).

Two kinds of segmentation heads:

- **per-pixel classifiers** (SegFormer): class logits (C, h, w) -> bilinear to the image -> argmax;
- **mask classifiers** (Mask2Former, OneFormer): Q queries, each a class distribution (C + 1, the last is "no
  object") and a mask (h, w). Semantic: sum over queries of class probability x mask probability; instance: the
  top-scoring (query, class) pairs whose binary mask is non-empty; panoptic: each pixel goes to the query with
  the highest score-weighted mask probability, a query keeps its segment when enough of its own mask survives
  (`overlap_mask_area_threshold`), and classes in `label_ids_to_fuse` (stuff: sky, road) merge into one segment.

Mask2Former's reference post-processing first resizes every mask to 384x384 whatever the input size ("for all
models"), then to the image; `mask_size` reproduces that, so our segments equal the reference's pixel for pixel.
OneFormer's resizes straight to the image: its semantic maps with plain bilinear, its instance and panoptic masks
with torchvision's resize of tensors (antialiased bilinear: `antialias=True`; the same when enlarging, as masks at a
quarter of the processed size mostly are); its instances are panoptic-style segments of the top (query, class)
pairs (`oneformer_instance`).
Depth: (h, w) -> bicubic to the image.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

MASK2FORMER_MASK_SIZE = (384, 384)


@dataclass
class Segments:
    """One image's segmentation: `segmentation` (H, W) int32 holds each pixel's segment id (-1: none); `segments`
    are {"id", "label_id", "was_fused", "score"} (score None for per-pixel classifiers), as the reference."""

    segmentation: torch.Tensor
    segments: list[dict[str, Any]]


def resize_bilinear(x: torch.Tensor, size: tuple[int, int] | None, antialias: bool = False) -> torch.Tensor:
    """(N, h, w) -> (N, H, W), bilinear, align_corners=False (the reference's choice everywhere here); `antialias`
    as torchvision's resize of tensors (OneFormer's post-processing)."""
    if size is None or tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x[None], size=tuple(int(s) for s in size), mode="bilinear", align_corners=False,
                         antialias=antialias)[0]


# -- per-pixel classifiers -------------------------------------------------------------------------
def semantic_from_logits(logits: torch.Tensor, target_size: tuple[int, int] | None = None) -> Segments:
    """(C, h, w) class logits -> one segment per class present (id = class id, score None)."""
    label_map = resize_bilinear(logits.float(), target_size).argmax(0).to(torch.int32)
    return Segments(label_map, [{"id": int(c), "label_id": int(c), "was_fused": False, "score": None}
                                for c in torch.unique(label_map).tolist()])


# -- mask classifiers --------------------------------------------------------------------------------
def universal_semantic(class_logits: torch.Tensor, mask_logits: torch.Tensor, target_size: tuple[int, int] | None,
                       mask_size: tuple[int, int] | None = None, antialias: bool = False) -> Segments:
    """Class scores per pixel: sum over queries of P(class | query) * P(pixel in mask | query), then argmax."""
    masks = resize_bilinear(mask_logits.float(), mask_size).sigmoid()  # (Q, h, w)
    classes = class_logits.float().softmax(-1)[:, :-1]  # (Q, C): "no object" dropped
    scores = torch.einsum("qc,qhw->chw", classes, masks)
    label_map = resize_bilinear(scores, target_size, antialias).argmax(0).to(torch.int32)
    return Segments(label_map, [{"id": int(c), "label_id": int(c), "was_fused": False, "score": None}
                                for c in torch.unique(label_map).tolist()])


def universal_instance(class_logits: torch.Tensor, mask_logits: torch.Tensor, threshold: float,
                       target_size: tuple[int, int] | None, mask_size: tuple[int, int] | None = None) -> Segments:
    """Mask2Former's instances: the Q best (query, class) pairs; score = class probability x the mean mask probability
    inside the binary mask (logit > 0); kept when over `threshold` with a non-empty mask; later ones paint over."""
    masks = resize_bilinear(mask_logits.float(), mask_size)  # (Q, h, w) logits
    q, c1 = class_logits.shape
    probs = class_logits.float().softmax(-1)[:, :-1]
    top_scores, top = probs.flatten().topk(q, sorted=False)  # the reference's order (unsorted topk)
    labels = top % (c1 - 1)
    chosen = masks[torch.div(top, c1 - 1, rounding_mode="floor")]
    binary = (chosen > 0).float()
    mask_scores = (chosen.sigmoid().flatten(1) * binary.flatten(1)).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
    scores = top_scores * mask_scores
    if target_size is not None:
        binary = F.interpolate(binary[None], size=tuple(int(s) for s in target_size), mode="nearest")[0]
    segmentation = torch.full(tuple(binary.shape[-2:]), -1, dtype=torch.int32)
    segments, next_id = [], 0
    for j in range(q):
        score = float(scores[j])
        if score >= threshold and bool(binary[j].any()):
            segmentation[binary[j] == 1] = next_id
            segments.append({"id": next_id, "label_id": int(labels[j]), "was_fused": False, "score": round(score, 6)})
            next_id += 1
    return Segments(segmentation, segments)


def universal_panoptic(class_logits: torch.Tensor, mask_logits: torch.Tensor, threshold: float, mask_threshold: float,
                       overlap_mask_area_threshold: float, label_ids_to_fuse: Collection[int] | None,
                       target_size: tuple[int, int] | None, mask_size: tuple[int, int] | None = None,
                       antialias: bool = False) -> Segments:
    """Panoptic segments: queries whose best class is an object scoring over `threshold` compete for every pixel."""
    masks = resize_bilinear(mask_logits.float(), mask_size).sigmoid()  # (Q, h, w)
    num_labels = class_logits.shape[-1] - 1
    scores, labels = class_logits.float().softmax(-1).max(-1)
    keep = labels.ne(num_labels) & (scores > threshold)
    return compete(masks[keep], scores[keep], labels[keep], mask_threshold, overlap_mask_area_threshold,
                   label_ids_to_fuse, target_size, antialias)


def oneformer_instance(class_logits: torch.Tensor, mask_logits: torch.Tensor, threshold: float, mask_threshold: float,
                       overlap_mask_area_threshold: float, target_size: tuple[int, int] | None) -> Segments:
    """OneFormer's instances (the reference's demo mode): the Q best (query, class) pairs scoring over `threshold`
    compete for pixels as panoptic segments do, with their mask logits (not probabilities) as the reference passes
    them, nothing fused."""
    q, c1 = class_logits.shape
    probs = class_logits.float().softmax(-1)[:, :-1]
    scores, top = probs.flatten().topk(q, sorted=False)  # the reference's order (unsorted topk)
    labels = top % (c1 - 1)
    masks = mask_logits.float()[torch.div(top, c1 - 1, rounding_mode="floor")]
    keep = scores > threshold
    return compete(masks[keep], scores[keep], labels[keep], mask_threshold, overlap_mask_area_threshold, (),
                   target_size, antialias=True)


def compete(masks: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, mask_threshold: float,
            overlap_mask_area_threshold: float, label_ids_to_fuse: Collection[int] | None,
            target_size: tuple[int, int] | None, antialias: bool = False) -> Segments:
    """Kept queries' masks (N, h, w), scores and labels -> segments: each pixel goes to the query with the highest
    score-weighted mask; a query keeps its segment when enough of its own mask survives."""
    fuse = set(label_ids_to_fuse or ())
    size = tuple(int(s) for s in target_size) if target_size is not None else tuple(masks.shape[-2:])
    segmentation = torch.zeros(size, dtype=torch.int32)
    if masks.shape[0] == 0:
        return Segments(segmentation - 1, [])
    masks = resize_bilinear(masks, target_size, antialias)
    masks = masks * scores[:, None, None]  # each mask weighed by its query's score
    owner = masks.argmax(0)  # (H, W): the query each pixel goes to
    segments: list[dict[str, Any]] = []
    current, stuff = 0, {}
    for k in range(labels.shape[0]):
        label = int(labels[k])
        mine = owner == k
        area = int(mine.sum())
        original = int((masks[k] >= mask_threshold).sum())
        if area == 0 or original == 0 or not area / original > overlap_mask_area_threshold:
            continue  # a sliver left of its own mask: dropped
        if label in stuff:
            current = stuff[label]
        else:
            current += 1
        segmentation[mine] = current
        segments.append({"id": current, "label_id": label, "was_fused": label in fuse, "score": round(float(scores[k]), 6)})
        if label in fuse:
            stuff[label] = current
    return Segments(segmentation, segments)


# -- depth ------------------------------------------------------------------------------------------
def depth_to_size(depth: torch.Tensor, target_size: tuple[int, int] | None) -> torch.Tensor:
    """(h, w) predicted depth -> (H, W) bicubic (align_corners=False), as the reference's DPT post-processing."""
    if target_size is None:
        return depth
    return F.interpolate(depth[None, None].float(), size=tuple(int(s) for s in target_size), mode="bicubic",
                         align_corners=False)[0, 0]


__all__ = ["MASK2FORMER_MASK_SIZE", "Segments", "compete", "depth_to_size", "oneformer_instance", "resize_bilinear",
           "semantic_from_logits", "universal_instance", "universal_panoptic", "universal_semantic"]
