"""What the text pipelines share: input checks, tokenization, score functions, attention capture.

Every text task runs the same middle stage: tokenize a batch (single texts or text pairs),
run the model once, and hand each item its own slice of the outputs. `TextPipeline.forward`
does that and, with `return_attentions=True`, also records the attention probabilities through
the hook points (`workbench.hooks.capture`), so only then do the layers leave the fused path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..inspect import AttentionRecord, attention_record, capture_attention, segments_of
from .base import Pipeline


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the max as the reference does (same rounding)."""
    shifted = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def default_function(config: Any) -> str:
    """The reference's score function for a classifier: regression -> none, multi-label or one label ->
    sigmoid, else softmax (text and image classification alike)."""
    problem = getattr(config, "problem_type", None)
    if problem == "regression":
        return "none"
    if problem == "multi_label_classification" or config.num_labels == 1:
        return "sigmoid"
    return "softmax"


@dataclass
class Attentions:
    """Attention probabilities of one input: `layers[l]` is (heads, T, T) over `tokens`."""

    tokens: list[str]
    layers: list[torch.Tensor]

    def stacked(self) -> torch.Tensor:
        return torch.stack(self.layers)  # (L, H, T, T)


def with_attentions(result: Any, attentions: Attentions) -> dict[str, Any]:
    """The per-input result when `return_attentions=True`: the usual result plus the attentions."""
    return {"result": result, "attentions": attentions.layers, "tokens": attentions.tokens}


def check_text(item: Any, index: int, task: str, what: str = "text") -> str:
    if not isinstance(item, str):
        raise InputError(
            f"the {task!r} pipeline expects a string (or a list of strings); input {index}"
            f"{'' if what == 'text' else f' ({what})'} is a {type(item).__name__}: {item!r:.80}."
        )
    if not item.strip():
        raise InputError(f"input {index} of the {task!r} pipeline is an empty {what}; pass some text.")
    return item


def _size(item: Any) -> int:
    if isinstance(item, str):
        return len(item)
    if isinstance(item, dict):
        return sum(len(v) for v in item.values() if isinstance(v, str))
    return 0


class TextPipeline(Pipeline):
    """A pipeline over a tokenizer and an encoder model with a task head."""

    def _check_type(self, item: Any, index: int) -> None:
        check_text(item, index, self.task)

    def _batch_order(self, items: list[Any]) -> list[int]:
        # Batches of similar lengths pad less; results go back to the input order.
        return sorted(range(len(items)), key=lambda i: -_size(items[i]))

    def tokenize(self, texts: list[str], pairs: list[str] | None = None, **options: Any):
        """A padded batch as tensors; `options` go to the tokenizer (truncation, offsets, ...)."""
        if pairs is None:
            return self.tokenizer(texts, padding=True, return_tensors="pt", **options)
        return self.tokenizer(texts, pairs, padding=True, return_tensors="pt", **options)

    def model_inputs(self, encoding: Any) -> dict[str, torch.Tensor]:
        names = ("input_ids", "attention_mask", "token_type_ids")
        return self.to_device({k: encoding[k] for k in names if k in encoding})

    def forward(self, encoding: Any, return_attentions: bool = False,
                run: Callable[[dict[str, torch.Tensor]], Any] | None = None) -> tuple[Any, list[Attentions] | None]:
        """Run the model (or `run(inputs)`) on a tokenized batch; with `return_attentions`, also each row's attentions."""
        inputs = self.model_inputs(encoding)
        run = run or (lambda batch: self.model(**batch))
        if not return_attentions:
            return run(inputs), None
        with capture_attention(self.model, "self") as found:
            out = run(inputs)
        layers = [probs for _, probs in found]  # each (B, H, T, T)
        mask = inputs.get("attention_mask")
        per_row = []
        for row in range(inputs["input_ids"].shape[0]):
            keep = mask[row].bool() if mask is not None else slice(None)
            tokens = self.tokenizer.convert_ids_to_tokens(inputs["input_ids"][row][keep].tolist())
            per_row.append(Attentions(tokens, [a[row][:, keep][:, :, keep].float().cpu() for a in layers]))
        return out, per_row

    def attention(self, text: str, text_pair: str | None = None, *, layers: Sequence[int] | None = None) -> AttentionRecord:
        """The model's self-attention on `text` (and `text_pair`), as one `AttentionRecord` for viewers."""
        check_text(text, 0, self.task)
        limit = getattr(self.model.config, "max_position_embeddings", None)
        enc = self.tokenizer(text, text_pair, return_tensors="pt", truncation=limit is not None, max_length=limit)
        segments = segments_of(enc.sequence_ids()) if text_pair is not None else None
        return attention_record(self.model, self.model_inputs(enc), query_tokens=list(enc.tokens()), kind="self",
                                layers=layers, segment_ids=segments)

    def tokens_to_string(self, tokens: list[str]) -> str:
        """The reference's `convert_tokens_to_string`: the backend decoder joins the pieces."""
        decoder = self.tokenizer.backend_tokenizer.decoder
        return decoder.decode(tokens) if decoder is not None else " ".join(tokens)

    def labels(self) -> dict[int, str]:
        return {int(k): v for k, v in self.model.config.id2label.items()}
