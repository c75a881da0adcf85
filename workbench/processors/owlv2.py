"""OWLv2's image processor and its post-processing, as the reference's `Owlv2ImageProcessor` (its PIL/scipy backend).

Preprocessing is not a PIL resize: each image is rescaled to 0..1, padded to a square at the bottom and right (with
0.0, as the reference 5.x; OWLv2's original code used grey 0.5), blurred with a Gaussian when it is shrunk
(sigma = (factor - 1) / 2 per axis, scipy's `gaussian_filter`: mirror edges, radius 4 sigma), resized bilinearly
(scipy's `zoom(order=1, grid_mode=True, mode="mirror")`: pixel centres aligned, edges mirrored) and normalised.
Here the blur and the resize are separable torch operations (threads, no float64 copies), equal to scipy's to
float rounding.

Boxes come out relative to that padded square, so post-processing scales them by the original image's longer side:
a box lands on the original pixels, and the padding lies beyond the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from .image import ImageInput, ImageProcessor, _is_rgb_u8, box_iou, center_to_corners, to_rgb

PAD_VALUE = 0.0  # what the reference 5.x pads with (after rescaling to 0..1)


def _mirror(index: Any, size: int) -> Any:
    """scipy's "mirror" edge (d c b | a b c d | c b a) for integer positions (torch)."""
    if size == 1:
        return index.clamp(0, 0)
    period = 2 * (size - 1)
    index = index.remainder(period)
    return index.where(index < size, period - index)


def _along_rows(fn: Any, x: Any, axis: int, *args: Any) -> Any:
    """Apply `fn` (which works along dim 1 of a (C, L, M) tensor, where rows are contiguous) along `axis` (1 or 2)."""
    if axis == 1:
        return fn(x, *args)
    return fn(x.transpose(1, 2).contiguous(), *args).transpose(1, 2).contiguous()


def _blur_rows(x: Any, sigma: float) -> Any:
    """A Gaussian along dim 1, as scipy's gaussian_filter1d (truncate 4, mirror edges): a sum of shifted rows."""
    import torch

    radius = int(4.0 * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(x.dtype).tolist()
    size = x.shape[1]
    padded = x.index_select(1, _mirror(torch.arange(-radius, size + radius), size))  # mirrored edges
    out = padded[:, :size] * kernel[0]
    for tap in range(1, 2 * radius + 1):
        out.add_(padded[:, tap : tap + size], alpha=kernel[tap])
    return out


def _positions(size: int, out_size: int) -> Any:
    """Where each output pixel's centre falls in the input (pixel centres aligned: scipy's grid_mode)."""
    import torch

    return (torch.arange(out_size, dtype=torch.float64) + 0.5) * (size / out_size) - 0.5


def _zoom_rows(x: Any, out_size: int) -> Any:
    """Linear resampling along dim 1 (scipy zoom, order 1, grid_mode, mirror edges): two row gathers and a lerp."""
    import torch

    size = x.shape[1]
    if size == out_size:
        return x
    pos = _positions(size, out_size)
    left = pos.floor()
    weight = (pos - left).to(x.dtype)[None, :, None]
    lo, hi = _mirror(left.long(), size), _mirror(left.long() + 1, size)
    return torch.lerp(x.index_select(1, lo), x.index_select(1, hi), weight)


class Owlv2ImageProcessor(ImageProcessor):
    """`processor(images)` -> {"pixel_values": (B, 3, S, S)}: padded to a square, resized to `size`, normalised.
    Every image comes out at one size, so a batch needs no pixel mask."""

    @property
    def pads_batch(self) -> bool:
        return False

    @property
    def model_input_names(self) -> tuple[str, ...]:
        return ("pixel_values",)

    def prepare(self, image: ImageInput) -> tuple[np.ndarray, tuple[int, int]]:
        import torch

        rgb = image if _is_rgb_u8(image) else to_rgb(image)
        h, w = rgb.shape[:2]
        u8 = torch.from_numpy(rgb if rgb.flags.writeable else np.array(rgb)).permute(2, 0, 1)  # (3, H, W)
        if self.do_rescale:  # each uint8 value's float64 product cast to float32, as the reference: one table
            table = (torch.arange(256, dtype=torch.float64) * self.rescale_factor).to(torch.float32)
            values = table[u8.long()]
        else:
            values = u8.to(torch.float32)
        x = values
        if self.do_pad and h != w:
            side = max(h, w)
            x = torch.full((3, side, side), PAD_VALUE, dtype=torch.float32)
            x[:, :h, :w] = values
        if self.do_resize:
            x = self.resize_float(x)
        if self.do_normalize:
            mean = torch.tensor(self.image_mean, dtype=torch.float32)[:, None, None]
            std = torch.tensor(self.image_std, dtype=torch.float32)[:, None, None]
            x = x.sub_(mean).div_(std) if x is not values else (x - mean) / std
        return x.contiguous().numpy(), (int(h), int(w))

    def resize_float(self, x: Any) -> Any:
        """(C, H, W) float -> (C, size): anti-aliasing blur when shrinking, then linear zoom (as the reference's
        skimage-style resize)."""
        out_h, out_w = self.size["height"], self.size["width"]
        for axis, out in ((1, out_h), (2, out_w)):
            sigma = max(0.0, (x.shape[axis] / out - 1) / 2)
            if sigma > 0:
                x = _along_rows(_blur_rows, x, axis, sigma)
        # width first: the transposes then move the smaller tensors. Both steps mix neighbours with weights that
        # add up to 1, so the result stays in the input's range (the reference's clip changes nothing).
        return _zoom_rows(_along_rows(_zoom_rows, x, 2, out_w), out_h)

    def __call__(self, images: ImageInput | Sequence[ImageInput], *, return_tensors: str | None = "pt",
                 device: Any = None) -> dict[str, Any]:
        if set(self.size) != {"height", "width"}:
            raise InputError(f"OWLv2 resizes to a height and width; size = {self.size} in preprocessor_config.json.")
        return super().__call__(images, return_tensors=return_tensors, device=device)


def suppress_overlaps(scores: Any, boxes: Any, nms_threshold: float) -> Any:
    """The reference's suppression for image-guided detection, in place on one image's (P,) non-negative scores:
    best first, every box overlapping a kept one by more than `nms_threshold` IoU gets score 0."""
    import torch

    if nms_threshold >= 1.0:
        return scores
    for i in torch.argsort(-scores).tolist():
        if scores[i] > 0:
            iou = box_iou(boxes[i : i + 1], boxes)[0]
            iou[i] = -1.0
            scores[iou > nms_threshold] = 0.0
    return scores


def square_scale(target_sizes: Sequence[tuple[int, int]]) -> Any:
    """(B, 1, 4) factors taking boxes relative to the padded square to pixels of the original image (its longer side)."""
    import torch

    side = torch.tensor([float(max(h, w)) for h, w in target_sizes])
    return side[:, None, None].expand(-1, 1, 4)


def post_process_object_detection(logits: Any, pred_boxes: Any, *, threshold: float = 0.1,
                                  target_sizes: Sequence[tuple[int, int]] | None = None) -> list[dict[str, Any]]:
    """OWLv2's outputs -> per image {"scores", "labels", "boxes"} (torch): each patch's best query through a sigmoid,
    patches over `threshold` kept in patch order, boxes as corners (in original pixels with `target_sizes`)."""
    import torch

    best = torch.max(logits, dim=-1)
    scores, labels = torch.sigmoid(best.values), best.indices
    boxes = center_to_corners(pred_boxes)
    if target_sizes is not None:
        if len(target_sizes) != len(logits):
            raise InputError(f"{len(target_sizes)} target sizes for {len(logits)} images.")
        boxes = boxes * square_scale(target_sizes).to(boxes)
    return [{"scores": s[s > threshold], "labels": lab[s > threshold], "boxes": b[s > threshold]}
            for s, lab, b in zip(scores, labels, boxes)]


def post_process_image_guided_detection(logits: Any, target_pred_boxes: Any, *, threshold: float = 0.0,
                                        nms_threshold: float = 0.3,
                                        target_sizes: Sequence[tuple[int, int]] | None = None) -> list[dict[str, Any]]:
    """Image-guided outputs -> per image {"scores", "labels": None, "boxes"}, as the reference: non-maximum
    suppression (a box overlapping a better one by more than `nms_threshold` IoU is dropped), then each score
    rescaled so the image's best is 1 and a tenth of it is 0 (the reference's display alphas); kept if over 0."""
    import torch

    scores = torch.sigmoid(logits.max(dim=-1).values).clone()  # (B, P)
    boxes = center_to_corners(target_pred_boxes)
    for b in range(len(boxes)):
        suppress_overlaps(scores[b], boxes[b], nms_threshold)
    if target_sizes is not None:
        boxes = boxes * square_scale(target_sizes).to(boxes)
    results = []
    for s, bx in zip(scores, boxes):
        if not s.nonzero().numel():
            continue  # as the reference: an image with no box left gives no entry
        s = s.masked_fill(s < threshold, 0.0)
        top = s.max() + 1e-6
        alpha = ((s - top * 0.1) / (top * 0.9)).clip(0.0, 1.0)
        results.append({"scores": alpha[alpha > 0], "labels": None, "boxes": bx[alpha > 0]})
    return results


__all__ = ["Owlv2ImageProcessor", "post_process_image_guided_detection", "post_process_object_detection",
           "suppress_overlaps"]
