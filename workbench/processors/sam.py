"""SAM's processor: images resized (longest side 1024) and padded to a square, prompts moved into that frame, the
decoder's 256x256 mask logits taken back to each image's pixels; and the automatic mask generator's pieces (a grid
of point prompts per crop, mask filtering by predicted IoU and stability, run-length encoding, non-maximum
suppression), as the reference computes them.

Coordinates: prompts are given in the original image's pixels (x, y); the model reads them in the frame of the
resized image (`scale_coordinates`). Boxes are (x0, y0, x1, y1).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from .image import ImageProcessor, box_iou, to_rgb


def resized_shape(height: int, width: int, longest: int) -> tuple[int, int]:
    """(h, w) with the longest side `longest`, rounded as the reference (half up)."""
    scale = longest / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def scale_coordinates(coords: np.ndarray, original: tuple[int, int], longest: int) -> np.ndarray:
    """(..., 2) points (x, y) in original pixels -> the resized image's frame (float64, as the reference)."""
    h, w = original
    nh, nw = resized_shape(h, w, longest)
    out = np.array(coords, dtype=np.float64, copy=True)
    out[..., 0] *= nw / w
    out[..., 1] *= nh / h
    return out


@dataclass
class SamProcessor:
    """`processor(images)` -> {"pixel_values" (B, 3, 1024, 1024), "original_sizes", "reshaped_input_sizes"}; prompts
    through `points()` / `boxes()`; masks back through `post_process_masks()`."""

    image_processor: ImageProcessor

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> "SamProcessor":
        return cls(ImageProcessor.from_dict({**config, "image_processor_type": "SamImageProcessor"}))

    @property
    def longest(self) -> int:
        return self.image_processor.size["longest_edge"]

    @property
    def pad_size(self) -> tuple[int, int]:
        pad = self.image_processor.pad_size or {"height": self.longest, "width": self.longest}
        return pad["height"], pad["width"]

    def __call__(self, images: Any, *, return_tensors: str = "pt", device: Any = None) -> dict[str, Any]:
        batch = list(images) if isinstance(images, (list, tuple)) else [images]
        rgbs = [to_rgb(x) for x in batch]
        out = self.image_processor(rgbs, return_tensors=return_tensors, device=device)
        out.pop("pixel_mask", None)
        out["reshaped_input_sizes"] = [resized_shape(*rgb.shape[:2], self.longest) for rgb in rgbs]
        return out

    def save_pretrained(self, folder: Any) -> Any:
        return self.image_processor.save_pretrained(folder)

    @property
    def model_input_names(self) -> tuple[str, ...]:
        return ("pixel_values",)

    # -- prompts -------------------------------------------------------------------------------------
    def points(self, points: Sequence[Sequence[float]], original: tuple[int, int]) -> np.ndarray:
        """(n, 2) points (x, y) in original pixels -> the model's frame."""
        return scale_coordinates(np.asarray(points, dtype=np.float64).reshape(-1, 2), original, self.longest)

    def boxes(self, boxes: Sequence[Sequence[float]], original: tuple[int, int]) -> np.ndarray:
        """(n, 4) boxes (x0, y0, x1, y1) in original pixels -> the model's frame."""
        corners = np.asarray(boxes, dtype=np.float32).reshape(-1, 2, 2)
        return scale_coordinates(corners, original, self.longest).reshape(-1, 4)

    # -- masks -------------------------------------------------------------------------------------------
    def post_process_masks(self, masks: Any, original: tuple[int, int], reshaped: tuple[int, int], *,
                           mask_threshold: float = 0.0, binarize: bool = True,
                           output_size: tuple[int, int] | None = None) -> Any:
        """(..., 256, 256) mask logits of one image -> (..., height, width) in its original pixels: up to the padded
        square, cropped to the resized image, resized to the original (bilinear both times), then `> threshold`.
        `output_size` resizes once more (bilinear), to a display size.

        Bilinear resizing is linear and separable, so the whole chain is one (height x 256) matrix down the rows and
        one (width x 256) across the columns: two small matmuls per mask instead of resizing 1024 x 1024 maps (the
        same values to float rounding; a click in the SegmentAnything panel spent most of its time here)."""
        lead = masks.shape[:-2]
        rows = _resize_chain(masks.shape[-2], self.pad_size[0], int(reshaped[0]), int(original[0]),
                             None if output_size is None else int(output_size[0]))
        cols = _resize_chain(masks.shape[-1], self.pad_size[1], int(reshaped[1]), int(original[1]),
                             None if output_size is None else int(output_size[1]))
        x = masks.reshape(-1, *masks.shape[-2:])
        x = rows.to(x) @ x @ cols.to(x).T  # (N, height, width)
        x = x.reshape(*lead, *x.shape[-2:])
        return x > mask_threshold if binarize else x


@functools.lru_cache(maxsize=64)
def _resize_chain(size: int, padded: int, cropped: int, original: int, display: int | None) -> Any:
    """The (out, size) matrix of one axis: bilinear to `padded`, keep the first `cropped`, bilinear to `original`
    (and to `display`), each as torch's F.interpolate(mode="bilinear", align_corners=False) along that axis."""
    m = _linear_resize(cropped, original) @ _linear_resize(size, padded)[:cropped]
    return _linear_resize(original, display) @ m if display is not None and display != original else m


def _linear_resize(n: int, m: int) -> Any:
    """(m, n): 1-D linear resizing of n samples to m, as torch's interpolate (half-pixel centres, edges clamped)."""
    import torch
    import torch.nn.functional as F

    return F.interpolate(torch.eye(n, dtype=torch.float64)[:, None], size=m, mode="linear", align_corners=False)[:, 0].T


# -- the automatic mask generator's pieces ---------------------------------------------------------------
def point_grid(n_per_side: int) -> np.ndarray:
    """(n^2, 2) points (x, y) in [0, 1], cell centres row by row."""
    offset = 1 / (2 * n_per_side)
    side = np.linspace(offset, 1 - offset, n_per_side)
    xs = np.tile(side[None, :], (n_per_side, 1))
    ys = np.tile(side[:, None], (1, n_per_side))
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def crop_boxes(height: int, width: int, n_layers: int, overlap_ratio: float) -> tuple[list[list[int]], list[int]]:
    """The whole image, then 2^k x 2^k overlapping crops for each layer k = 1..n_layers: boxes and their layer."""
    boxes, layers = [[0, 0, width, height]], [0]
    short = min(height, width)
    for k in range(n_layers):
        per_side = 2 ** (k + 1)
        overlap = int(overlap_ratio * short * (2 / per_side))
        crop_w = int(math.ceil((overlap * (per_side - 1) + width) / per_side))
        crop_h = int(math.ceil((overlap * (per_side - 1) + height) / per_side))
        x0s = [int((crop_w - overlap) * i) for i in range(per_side)]
        y0s = [int((crop_h - overlap) * i) for i in range(per_side)]
        for left, top in itertools.product(x0s, y0s):
            boxes.append([left, top, min(left + crop_w, width), min(top + crop_h, height)])
            layers.append(k + 1)
    return boxes, layers


def crop_prompts(height: int, width: int, *, n_layers: int = 0, overlap_ratio: float = 512 / 1500,
                 points_per_crop: int = 32, downscale: int = 1, longest: int = 1024) -> list[tuple[list[int], np.ndarray]]:
    """[(crop box, (n, 2) grid points in the crop's model frame)] for every crop, as the reference's generator."""
    grids = [point_grid(int(points_per_crop / downscale ** k)) for k in range(n_layers + 1)]
    boxes, layers = crop_boxes(height, width, n_layers, overlap_ratio)
    out = []
    for box, layer in zip(boxes, layers):
        size = (box[3] - box[1], box[2] - box[0])
        points = grids[layer] * np.array(size)[None, ::-1]  # (x, y) in the crop's pixels
        out.append((box, scale_coordinates(points, size, longest)))
    return out


def stability_score(masks: Any, threshold: float, offset: float) -> Any:
    """IoU of the mask thresholded above and below `threshold` by `offset`: high when the logits are decisive."""
    import torch

    inter = (masks > threshold + offset).sum(-1, dtype=torch.int16).sum(-1, dtype=torch.int32)
    union = (masks > threshold - offset).sum(-1, dtype=torch.int16).sum(-1, dtype=torch.int32)
    return inter / union


def masks_to_boxes(masks: Any) -> Any:
    """(N, H, W) bool -> (N, 4) (x0, y0, x1, y1) inclusive pixel bounds; zeros for empty masks."""
    import torch

    if masks.numel() == 0:
        return torch.zeros(*masks.shape[:-2], 4, device=masks.device, dtype=torch.long)
    h, w = masks.shape[-2:]
    rows, cols = masks.any(-1), masks.any(-2)  # (N, H), (N, W)
    ar_h, ar_w = torch.arange(h, device=masks.device), torch.arange(w, device=masks.device)
    bottom = (rows * ar_h).amax(-1)
    top = torch.where(rows, ar_h, h).amin(-1)
    right = (cols * ar_w).amax(-1)
    left = torch.where(cols, ar_w, w).amin(-1)
    boxes = torch.stack([left, top, right, bottom], dim=-1)
    empty = (right < left) | (bottom < top)
    return boxes * (~empty)[..., None]


def near_crop_edge(boxes: Any, crop: Sequence[int], image: Sequence[int], atol: float = 20.0) -> Any:
    """Which boxes (in crop pixels) touch the crop's edge where it is not the image's edge (cut objects)."""
    import torch

    crop_t = torch.as_tensor(crop, dtype=torch.float, device=boxes.device)
    image_t = torch.as_tensor(image, dtype=torch.float, device=boxes.device)
    shifted = (boxes + torch.tensor([crop[0], crop[1], crop[0], crop[1]], device=boxes.device)).float()
    at_crop = torch.isclose(shifted, crop_t[None], atol=atol, rtol=0)
    at_image = torch.isclose(shifted, image_t[None], atol=atol, rtol=0)
    return (at_crop & ~at_image).any(dim=1)


def mask_to_rle(masks: Any) -> list[dict[str, Any]]:
    """(N, H, W) bool -> COCO-style uncompressed run lengths (column-major, starting with a run of zeros)."""
    n, h, w = masks.shape
    flat = masks.permute(0, 2, 1).flatten(1)
    change = (flat[:, 1:] ^ flat[:, :-1]).nonzero()
    out = []
    for i in range(n):
        idx = change[change[:, 0] == i, 1] + 1
        if len(idx) == 0:
            out.append({"size": [h, w], "counts": [h * w] if not flat[i, 0] else [0, h * w]})
            continue
        counts = [] if not flat[i, 0] else [0]
        counts += [int(idx[0])] + (idx[1:] - idx[:-1]).tolist() + [h * w - int(idx[-1])]
        out.append({"size": [h, w], "counts": counts})
    return out


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    h, w = rle["size"]
    flat = np.zeros(h * w, dtype=bool)
    pos, value = 0, False
    for count in rle["counts"]:
        flat[pos: pos + count] = value
        pos += count
        value = not value
    return flat.reshape(w, h).T


def box_nms(boxes: Any, scores: Any, threshold: float) -> Any:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first (IoU > threshold suppresses)."""
    import torch

    order = torch.argsort(scores, descending=True, stable=True)
    boxes = boxes.float()[order]
    iou = box_iou(boxes, boxes)
    keep = torch.ones(len(order), dtype=torch.bool)
    for i in range(len(order)):
        if keep[i]:
            keep[i + 1:] &= iou[i, i + 1:] <= threshold
    return order[keep]


def filter_masks(masks: Any, iou_scores: Any, image_size: tuple[int, int], crop: Sequence[int], *,
                 pred_iou_thresh: float, stability_score_thresh: float, mask_threshold: float,
                 stability_score_offset: float) -> tuple[list[dict[str, Any]], Any, Any]:
    """One crop's (prompts, masks, h, w) logits -> kept masks as run lengths on the whole image, their scores and
    boxes (image pixels): predicted IoU and stability over their thresholds, not cut by the crop's edge."""
    import torch

    height, width = image_size
    scores, masks = iou_scores.flatten(0, 1), masks.flatten(0, 1)
    keep = torch.ones(len(masks), dtype=torch.bool, device=masks.device)
    if pred_iou_thresh > 0:
        keep &= scores > pred_iou_thresh
    if stability_score_thresh > 0:
        keep &= stability_score(masks, mask_threshold, stability_score_offset) > stability_score_thresh
    scores, masks = scores[keep], masks[keep] > mask_threshold
    boxes = masks_to_boxes(masks)
    keep = ~near_crop_edge(boxes, crop, [0, 0, width, height])
    scores, masks, boxes = scores[keep], masks[keep], boxes[keep]
    left, top = int(crop[0]), int(crop[1])
    boxes = boxes + torch.tensor([left, top, left, top], device=boxes.device)
    if list(crop) != [0, 0, width, height]:  # the crop's masks placed on the whole image
        right, bottom = int(crop[2]), int(crop[3])
        masks = torch.nn.functional.pad(masks, (left, width - right, top, height - bottom), value=False)
    return mask_to_rle(masks), scores, boxes


def check_points(points: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Points (x, y) and labels (1 foreground, 0 background) as arrays, checked."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or not np.isfinite(p).all():
        raise InputError(f"points must be a list of (x, y) pixel positions; got {np.asarray(points).tolist()!r:.80}.")
    lab = np.ones(len(p), dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(lab) != len(p) or not np.isin(lab, (0, 1)).all():
        raise InputError(f"labels must give each of the {len(p)} points 1 (foreground) or 0 (background); "
                         f"got {np.asarray(labels).tolist()!r:.80}.")
    return p, lab


__all__ = ["SamProcessor", "crop_prompts", "filter_masks", "box_nms", "mask_to_rle", "rle_to_mask", "scale_coordinates",
           "resized_shape", "check_points"]
