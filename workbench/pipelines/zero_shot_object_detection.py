"""zero-shot-object-detection: boxes for any text queries (OWLv2), in the reference's format.

`pipe(image, candidate_labels=["a cat", "a remote control"])` gives `[{"score", "label", "box": {"xmin", "ymin",
"xmax", "ymax"}}, ...]` best first: every (patch, label) pair whose sigmoid score is over `threshold` (0.1), boxes in
the original image's pixels (ints, truncated as the reference), at most `top_k`. A list of images gives one list
per image; `candidate_labels` is one list for all of them (or one comma-separated string), or one list per image.

The reference runs the whole model once per label; here a batch of images goes through the vision tower once and
the labels through the text tower once (recent labels' embeddings are kept), then the light heads score every
patch against every label - the same numbers. `image_guided_detection(image, query_image)` finds what an example
image shows; `explain(image, ...)` gives every patch's box, best query and score with the queries' score maps, for
panels that filter and draw in the browser.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..auto import AutoModelForZeroShotObjectDetection
from ..errors import InputError
from ..processors.image import center_to_corners
from ..processors.owlv2 import (Owlv2ImageProcessor, post_process_image_guided_detection, square_scale,
                                suppress_overlaps)
from .image_common import ImagePipeline
from .zero_shot import parse_labels

TEXT_CACHE = 256  # labels whose query embeddings are kept


@dataclass
class _Request:
    image: Any
    labels: list[str]


def _box(b: Sequence[int]) -> dict[str, int]:
    return {"xmin": b[0], "ymin": b[1], "xmax": b[2], "ymax": b[3]}


class ZeroShotObjectDetectionPipeline(ImagePipeline):
    task = "zero-shot-object-detection"
    default_model = "google/owlv2-base-patch16-ensemble"
    auto_model = AutoModelForZeroShotObjectDetection
    image_processor_class = Owlv2ImageProcessor

    def __init__(self, model: Any, processor: Any = None, *, device: Any = None, batch_size: int = 8) -> None:
        super().__init__(model, processor, device=device, batch_size=batch_size)
        if self.tokenizer is self.processor:
            raise InputError(f"the {self.task!r} pipeline needs the checkpoint's tokenizer as well as its image "
                             "processor; pass a folder that has both (tokenizer files, preprocessor_config.json).")
        self._queries: OrderedDict[str, torch.Tensor] = OrderedDict()

    def __call__(self, image: Any = None, candidate_labels: Any = None, *, images: Any = None, threshold: float = 0.1,
                 top_k: int | None = None, timeout: float | None = None, batch_size: int | None = None) -> Any:
        """`image` (or `images=`): one image or a list; `candidate_labels`: the text queries (a list, one
        comma-separated string, or one list per image)."""
        image = self.inputs_from(image, images)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise InputError(f"threshold must be a number from 0 to 1, got {threshold!r}.")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise InputError(f"top_k must be a positive whole number (or None for every box), got {top_k!r}.")
        batch = isinstance(image, (list, tuple))
        pictures = list(image) if batch else [image]
        per_image = (batch and isinstance(candidate_labels, (list, tuple)) and len(candidate_labels) > 0
                     and all(isinstance(x, (list, tuple)) for x in candidate_labels))
        if per_image and len(candidate_labels) != len(pictures):
            raise InputError(f"{len(pictures)} images but {len(candidate_labels)} lists of candidate_labels; give one "
                             "list per image, or one list for all of them.")
        labels = ([parse_labels(c, self.task) for c in candidate_labels] if per_image
                  else [parse_labels(candidate_labels, self.task)] * len(pictures))
        requests = [_Request(p, lab) for p, lab in zip(pictures, labels)]
        return super().__call__(requests if batch else requests[0], batch_size=batch_size, threshold=float(threshold),
                                top_k=top_k, timeout=timeout)

    def _check_type(self, item: Any, index: int) -> None:
        super()._check_type(item.image, index)

    def _run_batch(self, items: list[_Request], *, threshold: float, top_k: int | None,
                   timeout: float | None) -> list[Any]:
        rgbs = self.read([r.image for r in items], timeout)
        feature_map, sizes = self.features(rgbs)
        feats, boxes = self._patches(feature_map, sizes)
        results = []
        for b, request in enumerate(items):
            scores = self._scores(feats[b : b + 1], request.labels)[0]  # (P, L)
            pixels = boxes[b].int().tolist()  # truncated toward zero, as the reference
            found = [{"score": float(scores[p, q]), "label": label, "box": _box(pixels[p])}
                     for q, label in enumerate(request.labels) for p in np.flatnonzero(scores[:, q] > threshold).tolist()]
            found.sort(key=lambda r: -r["score"])  # stable: ties keep the label, then patch, order
            results.append(found[:top_k] if top_k else found)
        return results

    # -- the steps ---------------------------------------------------------------------------------
    def features(self, rgbs: list[np.ndarray]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """Images (RGB uint8) -> the (B, rows, cols, C) feature map and their original (height, width)."""
        prepared = [self.image_processor.prepare(x) for x in rgbs]
        pixels = torch.from_numpy(np.stack([p for p, _ in prepared])).to(self.device, self.model.dtype)
        with torch.inference_mode():
            return self.model.image_features(pixels)[0], [s for _, s in prepared]

    def _last_features(self, rgb: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        """The feature map of `rgb`, kept for the last photo: panels re-querying one photo run only the text tower
        and the heads."""
        key = (rgb.shape, hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).digest())
        if getattr(self, "_last", (None,))[0] != key:
            feature_map, [size] = self.features([rgb])
            self._last = (key, feature_map, size)
        return self._last[1], self._last[2]

    def _patches(self, feature_map: torch.Tensor, sizes: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, P, C) patch features and (B, P, 4) boxes as corners in original pixels (float)."""
        b, rows, cols, c = feature_map.shape
        feats = feature_map.reshape(b, rows * cols, c)
        with torch.inference_mode():
            boxes = center_to_corners(self.model.predict_boxes(feats, rows, cols).float())
        return feats, boxes * square_scale(sizes).to(boxes)

    def query_embeds(self, labels: Sequence[str]) -> torch.Tensor:
        """(labels, D) normalised text query embeddings; recent labels come from a cache (padding is masked and the
        text attends causally, so a label encoded with others gives the numbers it gives alone)."""
        missing = list(dict.fromkeys(label for label in labels if label not in self._queries))
        if missing:
            encoding = self.tokenizer(missing, return_tensors="pt", padding=True)
            with torch.inference_mode():
                found, _ = self.model.text_query_embeds(encoding["input_ids"].to(self.device),
                                                        encoding["attention_mask"].to(self.device))
            self._queries.update(zip(missing, found))
        for label in labels:
            self._queries.move_to_end(label)
        rows = torch.stack([self._queries[label] for label in labels])
        while len(self._queries) > TEXT_CACHE:
            self._queries.popitem(last=False)
        return rows

    def _scores(self, feats: torch.Tensor, labels: Sequence[str]) -> np.ndarray:
        """(B, P, C) patch features x labels -> (B, P, L) sigmoid scores (numpy)."""
        queries = self.query_embeds(labels)
        with torch.inference_mode():
            logits, _ = self.model.class_head(feats, queries[None].expand(len(feats), -1, -1))
        return logits.float().sigmoid().cpu().numpy()

    # -- image-guided detection ----------------------------------------------------------------------
    def _guided(self, image: Any, query_image: Any, timeout: float | None) -> tuple[Any, tuple[int, int]]:
        for i, x in enumerate((image, query_image)):
            self._check_type(_Request(x, []), i)
        target, query = self.read([image, query_image], timeout)
        (pixels, size), (query_pixels, _) = self.image_processor.prepare(target), self.image_processor.prepare(query)
        as_batch = [torch.from_numpy(p[None]).to(self.device, self.model.dtype) for p in (pixels, query_pixels)]
        with torch.inference_mode():
            return self.model.image_guided_detection(*as_batch), size

    def image_guided_detection(self, image: Any, query_image: Any, *, threshold: float = 0.0,
                               nms_threshold: float = 0.3, timeout: float | None = None) -> list[dict[str, Any]]:
        """What `query_image` shows, found in `image`: [{"score", "box"}] best first, as the reference's
        `post_process_image_guided_detection` (non-maximum suppression; scores rescaled so the best box is 1)."""
        out, size = self._guided(image, query_image, timeout)
        found = post_process_image_guided_detection(out.logits, out.target_pred_boxes, threshold=threshold,
                                                    nms_threshold=nms_threshold, target_sizes=[size])
        if not found:
            return []
        scores, boxes = found[0]["scores"].tolist(), found[0]["boxes"].int().tolist()
        return sorted(({"score": s, "box": _box(b)} for s, b in zip(scores, boxes)), key=lambda r: -r["score"])

    # -- for panels ----------------------------------------------------------------------------------
    def explain(self, image: Any, candidate_labels: Any = None, *, query_image: Any = None,
                nms_threshold: float = 0.3, timeout: float | None = None) -> dict[str, Any]:
        """Every patch's box (original pixels, float), best query and its score, and each query's score map.

        Text queries (`candidate_labels`) or an example image (`query_image`: its most object-like patch is the
        query, labelled "example"; overlapping boxes are suppressed as the reference does for image queries).
        Returns {"size": (height, width), "grid": (rows, cols), "scores": (P,), "label_ids": (P,), "labels",
        "boxes": (P, 4) xmin, ymin, xmax, ymax, "maps": (queries, rows, cols) scores} (numpy)."""
        if query_image is not None:
            out, size = self._guided(image, query_image, timeout)
            labels = ["example"]
            scores = out.logits.float().sigmoid()[0].cpu()  # (P, 1)
            rows, cols = out.image_embeds.shape[1:3]
            boxes = center_to_corners(out.target_pred_boxes[0].float()).cpu()
            best = suppress_overlaps(scores[:, 0].clone(), boxes, nms_threshold)  # as the reference's
            scores = best[:, None].numpy()
            boxes = boxes * square_scale([size])[0]
        else:
            self._check_type(_Request(image, []), 0)
            labels = parse_labels(candidate_labels, self.task)
            feature_map, size = self._last_features(self.read([image], timeout)[0])
            rows, cols = feature_map.shape[1:3]
            feats, boxes = self._patches(feature_map, [size])
            scores, boxes = self._scores(feats, labels)[0], boxes[0].cpu()
        return {"size": size, "grid": (int(rows), int(cols)), "scores": scores.max(-1).astype(np.float32),
                "label_ids": scores.argmax(-1).astype(np.int32), "labels": labels,
                "boxes": boxes.numpy().astype(np.float32),
                "maps": scores.T.reshape(len(labels), rows, cols).astype(np.float32)}
