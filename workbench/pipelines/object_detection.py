"""object-detection: boxes, labels and scores for images, in the reference's format.

One image gives `[{"score", "label", "box": {"xmin", "ymin", "xmax", "ymax"}}, ...]` (the queries whose best
class scores over `threshold`, boxes in the original image's pixels as ints), a list gives one list per image.
Images are batched when they come out of the processor at the same size; images of other sizes run in their
own batches, since padding changes what a convolutional backbone sees (the reference runs one at a time).

`.attention(image)` records the decoder's cross-attention from each object query to the feature map
(kind "cross", keys on the feature grid); `.explain(image)` gives every query's box, best label and score
with its cross-attention heat map, for panels that filter and draw in the browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..auto import AutoModelForObjectDetection
from ..errors import InputError
from ..inspect import AttentionRecord, attention_record, capture_attention
from ..processors.image import post_process_object_detection
from .image_common import ImagePipeline, grid_tokens


class ObjectDetectionPipeline(ImagePipeline):
    task = "object-detection"
    default_model = "facebook/detr-resnet-50"
    auto_model = AutoModelForObjectDetection

    def __call__(self, inputs: Any = None, *, images: Any = None, threshold: float = 0.5, timeout: float | None = None,
                 batch_size: int | None = None) -> Any:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise InputError(f"threshold must be a number from 0 to 1, got {threshold!r}.")
        return super().__call__(self.inputs_from(inputs, images), batch_size=batch_size, threshold=float(threshold),
                                timeout=timeout)

    def _run_batch(self, items: list[Any], *, threshold: float, timeout: float | None) -> list[Any]:
        results: list[Any] = [None] * len(items)
        for rows, pixels, sizes in self.same_size_groups(self.read(items, timeout)):
            for i, found in zip(rows, self._detect(pixels, sizes, threshold)):
                results[i] = self.postprocess(found)
        return results

    def _detect(self, pixels: np.ndarray, sizes: list[tuple[int, int]], threshold: float) -> list[dict[str, Any]]:
        """Images of one processed size in one forward pass -> the kept queries of each (torch tensors)."""
        import torch

        out = self.model(pixel_values=torch.from_numpy(pixels).to(self.device))
        return post_process_object_detection(out.logits, out.pred_boxes, threshold=threshold, target_sizes=sizes)

    def postprocess(self, found: dict[str, Any]) -> list[dict[str, Any]]:
        labels = self.model.config.id2label
        boxes = found["boxes"].int().tolist()  # truncated toward zero, as the reference
        return [{"score": s, "label": labels[int(c)], "box": {"xmin": b[0], "ymin": b[1], "xmax": b[2], "ymax": b[3]}}
                for s, c, b in zip(found["scores"].tolist(), found["labels"].tolist(), boxes)]

    # -- inspection --------------------------------------------------------------------------------
    def _one(self, image: Any, timeout: float | None) -> tuple[dict[str, Any], tuple[int, int]]:
        self._check_type(image, 0)
        pixels, size = self.image_processor.prepare(self.read([image], timeout)[0])
        import torch

        return {"pixel_values": torch.from_numpy(pixels[None]).to(self.device)}, size

    def attention(self, image: Any, *, layers: Sequence[int] | None = None, timeout: float | None = None) -> AttentionRecord:
        """The decoder's cross-attention on `image`: (layers, heads, queries, grid cells), kind "cross" with the grid."""
        inputs, _ = self._one(image, timeout)
        rows, cols = self.model.grid(inputs["pixel_values"])
        queries = [f"query {q}" for q in range(self.model.config.num_queries)]
        return attention_record(self.model, inputs, query_tokens=queries, key_tokens=grid_tokens(rows, cols),
                                kind="cross", layers=layers, grid=(rows, cols))

    def explain(self, image: Any, *, timeout: float | None = None) -> dict[str, Any]:
        """Every object query on `image` in one run: its box (original pixels, float), best label and score, and
        where it looked: the last decoder layer's cross-attention, mean over heads, on the feature grid.

        Returns {"size": (height, width), "grid": (rows, cols), "scores": (Q,), "label_ids": (Q,), "labels":
        [names by id], "boxes": (Q, 4) xmin, ymin, xmax, ymax, "attention": (Q, rows, cols)} (numpy)."""
        import torch

        inputs, size = self._one(image, timeout)
        rows, cols = self.model.grid(inputs["pixel_values"])
        last = self.model.config.decoder_layers - 1
        with torch.inference_mode(), capture_attention(self.model, "cross", layers=[last]) as found:
            out = self.model(**inputs)
        [(_, probs)] = found  # (1, H, Q, rows*cols)
        every = post_process_object_detection(out.logits, out.pred_boxes, threshold=-1.0, target_sizes=[size])[0]
        labels = self.model.config.id2label
        return {
            "size": size, "grid": (rows, cols),
            "scores": every["scores"].float().cpu().numpy(), "label_ids": every["labels"].cpu().numpy().astype(np.int32),
            "labels": [labels[i] for i in range(len(labels))],
            "boxes": every["boxes"].float().cpu().numpy(),
            "attention": probs[0].float().mean(0).reshape(-1, rows, cols).cpu().numpy(),
        }
