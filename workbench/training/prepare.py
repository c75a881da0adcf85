"""Sequence classification, headless: everything between "a model and a dataset" and a `Trainer`.

`prepare_classification` loads the splits, builds (or checks) the classification head for the
dataset's labels, finds the tokenizer and tokenizes both splits; `predict_labels` is the quick
look at a few texts that the FineTune cockpit shows before, during and after training. Scripts
call the same functions the cockpit does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .data import label_mapping, load_splits, tokenize_dataset


@dataclass
class Prepared:
    """What a classification run needs, ready for `Trainer(model, args, train_dataset, eval_dataset, ...)`."""

    model: Any
    tokenizer: Any
    train_dataset: Any  # tokenized: model inputs + `labels` (class ids)
    eval_dataset: Any
    label_names: list[str]  # class id -> name, from the model's id2label
    raw_train: Any  # the splits before tokenization
    raw_eval: Any


def load_classifier(model: Any, labels: Sequence[Any], tokenizer: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) for `labels`. `model`: a loaded model (kept as it is) or a hub id / folder, loaded
    with a fresh head of one class per distinct label (sorted); `tokenizer` None: the model's own."""
    from ..auto import AutoModelForSequenceClassification, AutoTokenizer

    if model is None or (isinstance(model, str) and not model.strip()):
        raise InputError("no model: pass model=... (a hub id, a folder, or a model with a classification head).")
    if isinstance(model, (str, os.PathLike)):
        names = [str(v) for v in sorted(set(labels), key=str)]
        id2label = dict(enumerate(names))
        model = AutoModelForSequenceClassification.from_pretrained(
            str(model).strip(), num_labels=len(names), id2label=id2label, label2id={n: i for i, n in id2label.items()},
            ignore_mismatched_sizes=True)
    if tokenizer is None:
        tokenizer = AutoTokenizer.for_model(model, needed_by="fine-tuning")
    elif isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = AutoTokenizer.from_pretrained(tokenizer)
    return model, tokenizer


def prepare_classification(model: Any, train: Any, validation: Any = None, *, text_column: str = "text",
                           label_column: str = "label", tokenizer: Any = None, max_length: int | None = 128,
                           seed: int = 42) -> Prepared:
    """Splits (see `load_splits`), model and tokenizer (see `load_classifier`), labels checked against
    the head, both splits tokenized. Errors say which column, label or argument to fix."""
    raw_train, raw_eval = load_splits(train, validation, columns=[text_column, label_column], seed=seed)
    model, tokenizer = load_classifier(model, list(raw_train[label_column]), tokenizer)
    config = model.config
    label_mapping(list(raw_train[label_column]) + list(raw_eval[label_column]), config)  # a clear error before any work
    tokenized = [tokenize_dataset(split, tokenizer, text_column=text_column, label_column=label_column, config=config,
                                  max_length=max_length) for split in (raw_train, raw_eval)]
    id2label = dict(getattr(config, "id2label", {}) or {})
    label_names = [str(id2label.get(i, i)) for i in range(int(getattr(config, "num_labels", len(id2label))))]
    return Prepared(model, tokenizer, tokenized[0], tokenized[1], label_names, raw_train, raw_eval)


def predict_labels(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int | None = 128) -> list[tuple[str, float]]:
    """(best label, its probability) per text; the model's train/eval mode is left as it was (safe mid-training)."""
    import torch

    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        with torch.no_grad():
            enc = tokenizer(list(texts), padding=True, truncation=max_length is not None, max_length=max_length,
                            return_tensors="pt")
            logits = model(**{k: v.to(device) for k, v in enc.items()}).logits.float()
        probs = logits.softmax(-1).cpu()
    finally:
        model.train(was_training)
    id2label = model.config.id2label
    return [(id2label.get(int(p.argmax()), str(int(p.argmax()))), float(p.max())) for p in probs]
