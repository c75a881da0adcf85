"""mask-generation: SAM's masks, automatic ("segment everything") or from prompts, on an image embedded once.

`pipe(image)` runs the automatic generator as the reference: a grid of `points_per_crop` x `points_per_crop` point
prompts over the image (and over overlapping crops when `crops_n_layers` > 0), `points_per_batch` prompts per decoder
run, masks kept when their predicted IoU and stability pass `pred_iou_thresh` / `stability_score_thresh`, duplicates
removed by box non-maximum suppression (`crops_nms_thresh`). It returns {"masks": [bool (H, W) arrays], "scores":
[floats]} (+ "rle_mask" and "bounding_boxes" on request), best first, as the reference.

Interactive use embeds the image once (`embed(image)`: the image encoder, the slow part) and then runs only the
prompt encoder and mask decoder per prompt (`segment(embedded, points=..., labels=..., box=...)`, in the image's own
pixels): what a click-to-segment panel calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..auto import AutoModelForMaskGeneration
from ..errors import InputError
from ..processors.sam import SamProcessor, box_nms, check_points, crop_prompts, filter_masks, rle_to_mask
from .image_common import ImagePipeline


@dataclass
class EmbeddedImage:
    """An image after the image encoder: what every prompt on it reuses."""

    embeddings: torch.Tensor  # (1, C, 64, 64)
    size: tuple[int, int]  # original (height, width)
    reshaped: tuple[int, int]  # after resizing the longest side


class MaskGenerationPipeline(ImagePipeline):
    task = "mask-generation"
    default_model = "facebook/sam-vit-huge"
    auto_model = AutoModelForMaskGeneration

    def __init__(self, model: Any, processor: Any = None, *, device: Any = None, batch_size: int = 1) -> None:
        super().__init__(model, processor, device=device, batch_size=batch_size)
        if not isinstance(self.processor, SamProcessor):
            raise InputError(f"the {self.task!r} pipeline needs SAM's processor (preprocessor_config.json of a SAM "
                             f"checkpoint); got a {type(self.processor).__name__}.")

    def __call__(self, image: Any = None, *, images: Any = None, points_per_batch: int | None = 64,
                 crops_n_layers: int = 0, crop_overlap_ratio: float = 512 / 1500, points_per_crop: int = 32,
                 crop_n_points_downscale_factor: int = 1, pred_iou_thresh: float = 0.88,
                 stability_score_thresh: float = 0.95, mask_threshold: float = 0.0, stability_score_offset: float = 1,
                 crops_nms_thresh: float = 0.7, output_rle_mask: bool = False, output_bboxes_mask: bool = False,
                 timeout: float | None = None, batch_size: int | None = None) -> Any:
        options = dict(points_per_batch=points_per_batch, crops_n_layers=crops_n_layers,
                       crop_overlap_ratio=crop_overlap_ratio, points_per_crop=points_per_crop,
                       crop_n_points_downscale_factor=crop_n_points_downscale_factor, pred_iou_thresh=pred_iou_thresh,
                       stability_score_thresh=stability_score_thresh, mask_threshold=mask_threshold,
                       stability_score_offset=stability_score_offset, crops_nms_thresh=crops_nms_thresh,
                       output_rle_mask=output_rle_mask, output_bboxes_mask=output_bboxes_mask)
        check_options(options)
        return super().__call__(self.inputs_from(image, images), batch_size=batch_size, timeout=timeout, **options)

    def _run_batch(self, items: list[Any], *, timeout: float | None, **options: Any) -> list[Any]:
        return [self.generate(rgb, **options) for rgb in self.read(items, timeout)]

    # -- one image, once ---------------------------------------------------------------------------
    def embed(self, image: Any) -> EmbeddedImage:
        """Run the image encoder once; every prompt on this image reuses the result."""
        if isinstance(image, EmbeddedImage):
            return image
        inputs = self.processor(image, device=self.device)
        with torch.inference_mode():
            embeddings = self.model.get_image_embeddings(inputs["pixel_values"])
        return EmbeddedImage(embeddings, tuple(inputs["original_sizes"][0]), tuple(inputs["reshaped_input_sizes"][0]))

    # -- prompts ----------------------------------------------------------------------------------------
    def segment(self, image: Any, *, points: Sequence[Sequence[float]] | None = None, labels: Sequence[int] | None = None,
                box: Sequence[float] | None = None, mask_input: np.ndarray | None = None, multimask_output: bool = True,
                mask_threshold: float = 0.0, output_size: tuple[int, int] | None = None) -> dict[str, Any]:
        """Masks for one prompt on an image (or an `embed()`ed one): points (x, y) in the image's pixels with labels
        (1 foreground, 0 background), a box (x0, y0, x1, y1), and/or a previous low-resolution mask logit map.

        Returns {"masks": (M, H, W) bool, "scores": [M] predicted IoU, "low_res": (M, 256, 256) logits}; M is 3
        candidates (or 1 with multimask_output=False). `output_size` draws the masks at another (height, width)
        (a display size) instead of the image's."""
        embedded = self.embed(image)
        if points is None and box is None and mask_input is None:
            raise InputError("give a prompt: points=[(x, y), ...] with labels=[1 or 0, ...], a box=(x0, y0, x1, y1), "
                             "or mask_input.")
        inputs: dict[str, Any] = {}
        if points is not None and len(points):
            p, lab = check_points(points, labels)
            inputs["input_points"] = torch.from_numpy(self.processor.points(p, embedded.size))[None, None].to(self.device)
            inputs["input_labels"] = torch.from_numpy(lab)[None, None].to(self.device)
        if box is not None:
            b = np.asarray(box, dtype=np.float32).reshape(-1)
            if b.shape != (4,) or not np.isfinite(b).all():
                raise InputError(f"box must be (x0, y0, x1, y1) in the image's pixels; got {box!r:.80}.")
            inputs["input_boxes"] = torch.from_numpy(self.processor.boxes(b[None], embedded.size)).float()[None].to(self.device)
        if mask_input is not None:
            inputs["input_masks"] = torch.as_tensor(np.asarray(mask_input, dtype=np.float32)).reshape(1, 1, *np.shape(mask_input)[-2:]).to(self.device)
        with torch.inference_mode():
            out = self.model(image_embeddings=embedded.embeddings, multimask_output=multimask_output, **inputs)
            low = out.pred_masks[0, 0]  # (M, 256, 256)
            full = self.processor.post_process_masks(low, embedded.size, embedded.reshaped, binarize=False,
                                                     output_size=output_size)
        return {"masks": (full > mask_threshold).cpu().numpy(), "scores": out.iou_scores[0, 0].float().cpu().tolist(),
                "low_res": low.float().cpu().numpy()}

    # -- segment everything ---------------------------------------------------------------------------------
    def generate(self, image: Any, *, points_per_batch: int | None = 64, crops_n_layers: int = 0,
                 crop_overlap_ratio: float = 512 / 1500, points_per_crop: int = 32, crop_n_points_downscale_factor: int = 1,
                 pred_iou_thresh: float = 0.88, stability_score_thresh: float = 0.95, mask_threshold: float = 0.0,
                 stability_score_offset: float = 1, crops_nms_thresh: float = 0.7, output_rle_mask: bool = False,
                 output_bboxes_mask: bool = False, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """The automatic generator on one image (the whole-image crop reuses an `embed()`ed image's embedding);
        `progress(done, total)` is called after each decoder run."""
        embedded = image if isinstance(image, EmbeddedImage) else None
        rgb = None if embedded is not None else self.read([image], None)[0]
        size = embedded.size if embedded is not None else rgb.shape[:2]
        if embedded is not None and crops_n_layers > 0:
            raise InputError("crops_n_layers > 0 needs the image itself (each crop is embedded on its own); pass the "
                             "image, not its embedding.")
        crops = crop_prompts(*size, n_layers=crops_n_layers, overlap_ratio=crop_overlap_ratio,
                             points_per_crop=points_per_crop, downscale=crop_n_points_downscale_factor,
                             longest=self.processor.longest)
        step = points_per_batch or max(len(p) for _, p in crops)
        total = sum(-(-len(p) // step) for _, p in crops)
        bar = None
        if total > 1 and progress is None:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=self.task, unit="batch", leave=False)
        rles, scores, boxes, done = [], [], [], 0
        for box, points in crops:
            whole = box == [0, 0, size[1], size[0]]
            crop = embedded if embedded is not None and whole else self.embed(rgb[box[1]: box[3], box[0]: box[2]])
            for start in range(0, len(points), step):
                chunk = torch.from_numpy(points[start: start + step])[None, :, None].to(self.device)  # (1, n, 1, 2)
                with torch.inference_mode():
                    out = self.model(image_embeddings=crop.embeddings, input_points=chunk,
                                     input_labels=torch.ones(chunk.shape[:3], dtype=torch.long, device=self.device))
                    masks = self.processor.post_process_masks(out.pred_masks[0], crop.size, crop.reshaped,
                                                              binarize=False)
                    kept = filter_masks(masks, out.iou_scores[0], size, box, pred_iou_thresh=pred_iou_thresh,
                                        stability_score_thresh=stability_score_thresh, mask_threshold=mask_threshold,
                                        stability_score_offset=stability_score_offset)
                rles += kept[0]
                scores.append(kept[1].float().cpu())
                boxes.append(kept[2].cpu())
                done += 1
                if bar is not None:
                    bar.update(1)
                if progress is not None:
                    progress(done, total)
        if bar is not None:
            bar.close()
        all_scores, all_boxes = torch.cat(scores), torch.cat(boxes)
        keep = box_nms(all_boxes, all_scores, crops_nms_thresh) if len(all_scores) else torch.zeros(0, dtype=torch.long)
        result: dict[str, Any] = {"masks": [rle_to_mask(rles[i]) for i in keep.tolist()],
                                  "scores": all_scores[keep].tolist()}
        if output_rle_mask:
            result["rle_mask"] = [rles[i] for i in keep.tolist()]
        if output_bboxes_mask:
            result["bounding_boxes"] = all_boxes[keep].tolist()
        return result


def check_options(options: dict[str, Any]) -> None:
    """Refuse impossible generator settings, naming the option and the range."""
    ppb = options["points_per_batch"]
    if ppb is not None and (isinstance(ppb, bool) or not isinstance(ppb, int) or ppb < 1):
        raise InputError(f"points_per_batch={ppb!r}: use a whole number of at least 1 (or None: every point at once).")
    for name in ("points_per_crop", "crop_n_points_downscale_factor"):
        v = options[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"{name}={v!r}: use a whole number of at least 1.")
    if isinstance(options["crops_n_layers"], bool) or not isinstance(options["crops_n_layers"], int) \
            or options["crops_n_layers"] < 0:
        raise InputError(f"crops_n_layers={options['crops_n_layers']!r}: use 0 (the whole image) or more.")
    for name in ("pred_iou_thresh", "stability_score_thresh", "crops_nms_thresh", "crop_overlap_ratio"):
        v = options[name]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise InputError(f"{name}={v!r}: use a number from 0 to 1.")
