"""text-classification (alias sentiment-analysis): labels and scores for a text or a text pair.

Reference output format, quirks included: a bare string without `top_k` gives `[{label, score}]`
(a one-item list); with `top_k=k` (or None for all labels) each input gives a list sorted by
score. A pair is `{"text": ..., "text_pair": ...}`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..auto import AutoModelForSequenceClassification
from ..errors import InputError
from .text_common import TextPipeline, check_text, default_function, sigmoid, softmax, with_attentions

_FUNCTIONS = ("softmax", "sigmoid", "none")
_UNSET = object()


class TextClassificationPipeline(TextPipeline):
    task = "text-classification"
    default_model = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
    auto_model = AutoModelForSequenceClassification

    def _is_single(self, inputs: Any) -> bool:
        return False

    def _check_type(self, item: Any, index: int) -> None:
        if isinstance(item, dict):
            if set(item) - {"text", "text_pair"} or "text" not in item:
                raise InputError(
                    f"input {index} is a dict without 'text' or with other keys (it has {sorted(item)}); a text pair "
                    "is {'text': '...', 'text_pair': '...'}."
                )
            check_text(item["text"], index, self.task)
            if "text_pair" in item:
                check_text(item["text_pair"], index, self.task, "text_pair")
        elif isinstance(item, (list, tuple)):
            raise InputError(
                f"the {self.task!r} pipeline expects a string or a text-pair dict; input {index} is a "
                f"{type(item).__name__}: to classify a text pair pass {{'text': 'My text', 'text_pair': 'My pair'}}."
            )
        else:
            check_text(item, index, self.task)

    def default_function(self) -> str:
        return default_function(self.model.config)

    def __call__(self, inputs: Any, *, batch_size: int | None = None, top_k: Any = _UNSET,
                 function_to_apply: str | None = None, return_attentions: bool = False) -> Any:
        legacy = top_k is _UNSET
        if not legacy and top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise InputError(f"top_k must be a positive int or None (all labels), got {top_k!r}.")
        function = (function_to_apply or self.default_function()).lower()
        if function not in _FUNCTIONS:
            raise InputError(f"function_to_apply={function_to_apply!r}; use one of {', '.join(_FUNCTIONS)}.")
        out = super().__call__(inputs, batch_size=batch_size, top_k=None if legacy else top_k,
                               legacy=legacy, function=function, return_attentions=return_attentions)
        if isinstance(inputs, str) and legacy:  # the reference wraps a bare string's single result in a list
            if return_attentions:
                return {**out, "result": [out["result"]]}
            return [out]
        return out

    def _run_batch(self, items: list[Any], *, top_k: int | None, legacy: bool, function: str,
                   return_attentions: bool) -> list[Any]:
        if isinstance(items[0], dict):
            texts = [x["text"] for x in items]
            pairs = [x.get("text_pair") for x in items]
            if any(p is None for p in pairs) and not all(p is None for p in pairs):
                # Pairs and single texts tokenize differently: run them one by one.
                return [r for x in items for r in self._run_batch([x], top_k=top_k, legacy=legacy, function=function,
                                                                  return_attentions=return_attentions)]
            encoding = self.tokenize(texts, None if pairs[0] is None else pairs)
        else:
            encoding = self.tokenize(items)
        out, attentions = self.forward(encoding, return_attentions)
        logits = out.logits.float().cpu().numpy()
        results = []
        for row in range(len(items)):
            result = self.postprocess(logits[row], top_k, legacy, function)
            results.append(with_attentions(result, attentions[row]) if attentions else result)
        return results

    def postprocess(self, logits: np.ndarray, top_k: int | None, legacy: bool, function: str) -> Any:
        scores = {"softmax": softmax, "sigmoid": sigmoid, "none": lambda x: x}[function](logits)
        labels = self.labels()
        if legacy:
            return {"label": labels[int(scores.argmax())], "score": float(scores.max())}
        ranked = sorted(({"label": labels[i], "score": float(s)} for i, s in enumerate(scores)),
                        key=lambda d: d["score"], reverse=True)
        return ranked if top_k is None else ranked[:top_k]
