"""image-classification: labels and scores for images, in the reference's format.

One image gives `[{"label", "score"}, ...]` (the `top_k` best, 5 by default), a list gives one such
list per image. `.attention(image)` records the model's patch self-attention ("patches", with the grid).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..auto import AutoModelForImageClassification
from ..errors import InputError
from ..inspect import AttentionRecord, attention_record
from .image_common import ImagePipeline, grid_tokens
from .text_common import default_function, sigmoid, softmax

_FUNCTIONS = {"softmax": softmax, "sigmoid": sigmoid, "none": lambda x: x}


class ImageClassificationPipeline(ImagePipeline):
    task = "image-classification"
    default_model = "google/vit-base-patch16-224"
    auto_model = AutoModelForImageClassification

    def __call__(self, inputs: Any = None, *, images: Any = None, top_k: int = 5, function_to_apply: str | None = None,
                 timeout: float | None = None, batch_size: int | None = None) -> Any:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise InputError(f"top_k must be a positive int, got {top_k!r}.")
        function = (function_to_apply or default_function(self.model.config)).lower()
        if function not in _FUNCTIONS:
            raise InputError(f"function_to_apply={function_to_apply!r}; use one of {', '.join(_FUNCTIONS)}.")
        return super().__call__(self.inputs_from(inputs, images), batch_size=batch_size, top_k=top_k,
                                function=function, timeout=timeout)

    def _run_batch(self, items: list[Any], *, top_k: int, function: str, timeout: float | None) -> list[Any]:
        logits = self.model(**self.pixels(self.read(items, timeout))).logits.float().cpu().numpy()
        return [self.postprocess(row, top_k, function) for row in logits]

    def postprocess(self, logits: np.ndarray, top_k: int, function: str) -> list[dict[str, Any]]:
        scores = _FUNCTIONS[function](logits)
        labels = self.model.config.id2label
        ranked = sorted(({"label": labels[i], "score": float(s)} for i, s in enumerate(scores)),
                        key=lambda d: d["score"], reverse=True)
        return ranked[: min(top_k, len(ranked))]

    def attention(self, image: Any, *, layers: Sequence[int] | None = None, timeout: float | None = None) -> AttentionRecord:
        """The model's patch self-attention on `image`: kind "patches", tokens [CLS] then the grid row by row."""
        self._check_type(image, 0)
        inputs = self.pixels(self.read([image], timeout))
        rows, cols = self.model.grid(inputs["pixel_values"])
        tokens = ["[CLS]"] + grid_tokens(rows, cols)
        return attention_record(self.model, inputs, query_tokens=tokens, kind="patches", layers=layers, grid=(rows, cols))
