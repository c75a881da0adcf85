"""OneFormer's processor: images through the checkpoint's image processor (resize by the shortest/longest edge,
normalise, pad the batch with a pixel mask), and the task each image is segmented for as `task_inputs`: the text
"the task is {semantic|instance|panoptic}" tokenized with the CLIP tokenizer the checkpoint ships, padded to
`task_seq_length` (the model reads the ids as a vector). Post-processing as the reference's OneFormer image processor:
semantic maps, instances and panoptic segments in each image's original pixels (`workbench.processors.segmentation`).

The reference's processor zeroes the padding (ids x attention mask); its image-segmentation pipeline keeps the
tokenizer's pad id. `task_token_ids(..., zero_padding=...)` does either, so each path equals its counterpart.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from .segmentation import Segments, oneformer_instance, universal_panoptic, universal_semantic

TASKS = ("semantic", "instance", "panoptic")
TASK_SEQ_LENGTH = 77  # the reference's default


def task_token_ids(tokenizer: Any, tasks: Sequence[str], length: int, zero_padding: bool = True) -> Any:
    """(len(tasks), length) int64 token ids of "the task is {task}" for each task."""
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise InputError(f"task {bad[0]!r} is not a OneFormer task; pass one of {', '.join(TASKS)} per image.")
    encoding = tokenizer([f"the task is {t}" for t in tasks], padding="max_length", max_length=length, truncation=True,
                         return_tensors="pt")
    ids = encoding["input_ids"]
    return ids * encoding["attention_mask"] if zero_padding else ids


@dataclass
class OneFormerProcessor:
    """`processor(images, task_inputs="panoptic")` -> {"pixel_values", "pixel_mask", "task_inputs"} (torch tensors);
    `task_inputs` is one task for every image or one per image."""

    image_processor: Any
    tokenizer: Any
    task_seq_length: int = TASK_SEQ_LENGTH

    def __call__(self, images: Any, task_inputs: str | Sequence[str] = "panoptic", *, return_tensors: str = "pt",
                 device: Any = None) -> dict[str, Any]:
        prepared = self.image_processor(images, return_tensors=return_tensors, device=device)
        out = {k: prepared[k] for k in self.image_processor.model_input_names}  # what the model takes
        n = len(out["pixel_values"])
        tasks = [task_inputs] * n if isinstance(task_inputs, str) else list(task_inputs)
        if len(tasks) != n:
            raise InputError(f"{len(tasks)} task_inputs for {n} images; pass one task for all or one per image.")
        ids = task_token_ids(self.tokenizer, tasks, self.task_seq_length)
        out["task_inputs"] = ids if device is None else ids.to(device)
        return out

    @property
    def model_input_names(self) -> tuple[str, ...]:
        return (*self.image_processor.model_input_names, "task_inputs")

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        self.image_processor.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        return Path(folder)

    # -- post-processing (one model output for the batch; sizes (height, width) per image) ------------
    @staticmethod
    def _rows(outputs: Any, target_sizes: Sequence[tuple[int, int]] | None) -> list[tuple[Any, Any, Any]]:
        classes, masks = outputs.class_queries_logits, outputs.masks_queries_logits
        if target_sizes is not None and len(target_sizes) != len(classes):
            raise InputError(f"{len(target_sizes)} target_sizes for a batch of {len(classes)}; pass one per image.")
        sizes = list(target_sizes) if target_sizes is not None else [None] * len(classes)
        return list(zip(classes.detach().cpu(), masks.detach().cpu(), sizes))

    def post_process_semantic_segmentation(self, outputs: Any, target_sizes: Sequence[tuple[int, int]] | None = None
                                           ) -> list[Any]:
        """Each image's (H, W) class map."""
        return [universal_semantic(c, m, s).segmentation.long() for c, m, s in
                self._rows(outputs, target_sizes)]

    def post_process_instance_segmentation(self, outputs: Any, threshold: float = 0.5, mask_threshold: float = 0.5,
                                           overlap_mask_area_threshold: float = 0.8,
                                           target_sizes: Sequence[tuple[int, int]] | None = None) -> list[dict[str, Any]]:
        """Each image's {"segmentation": (H, W) segment ids, "segments_info": [{"id", "label_id", "was_fused",
        "score"}]} (the reference's demo mode, task "instance")."""
        return [as_dict(oneformer_instance(c, m, threshold, mask_threshold, overlap_mask_area_threshold, s))
                for c, m, s in self._rows(outputs, target_sizes)]

    def post_process_panoptic_segmentation(self, outputs: Any, threshold: float = 0.5, mask_threshold: float = 0.5,
                                           overlap_mask_area_threshold: float = 0.8,
                                           label_ids_to_fuse: Collection[int] | None = None,
                                           target_sizes: Sequence[tuple[int, int]] | None = None) -> list[dict[str, Any]]:
        """As instance segmentation, every query's best class competing; `label_ids_to_fuse` merge into one segment."""
        return [as_dict(universal_panoptic(c, m, threshold, mask_threshold, overlap_mask_area_threshold,
                                           label_ids_to_fuse, s, antialias=True))
                for c, m, s in self._rows(outputs, target_sizes)]


def as_dict(seg: Segments) -> dict[str, Any]:
    return {"segmentation": seg.segmentation, "segments_info": seg.segments}


__all__ = ["OneFormerProcessor", "TASKS", "task_token_ids"]
