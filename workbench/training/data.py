"""Datasets for training: local files via `datasets`, train/evaluation splits, batched
tokenization, dynamic padding, and label checks against the model's label map."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import InputError, WorkbenchError

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "labels")
_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


class LabelMismatchError(WorkbenchError, ValueError):
    """Dataset labels the model's classification head does not know."""


def load_local_dataset(path: str | os.PathLike | Mapping[str, str], split: str | None = "train") -> Any:
    """A CSV/TSV/JSON(L)/Parquet file (or {"train": file, "validation": file}) as a `datasets.Dataset`."""
    import datasets

    files = {k: str(v) for k, v in path.items()} if isinstance(path, Mapping) else {"train": str(path)}
    for name in files.values():
        if not Path(name).is_file():
            raise InputError(f"dataset file {name!r} does not exist; give a path to a .csv, .json(l) or .parquet file.")
    suffix = Path(next(iter(files.values()))).suffix.lower()
    if suffix not in _FORMATS:
        raise InputError(f"cannot read {suffix!r} files; use one of {sorted(_FORMATS)}.")
    extra = {"delimiter": "\t"} if suffix == ".tsv" else {}
    loaded = datasets.load_dataset(_FORMATS[suffix], data_files=files, **extra)
    return loaded[split] if split is not None else loaded


def load_splits(train: Any, validation: Any = None, *, columns: Sequence[str] = (), seed: int = 42) -> tuple[Any, Any]:
    """Train and evaluation splits as `datasets.Dataset`s, checked for `columns`.

    `train`: a `Dataset`, a `DatasetDict` (its "train" split; "validation" or "test" evaluates when
    `validation` is None), a local CSV/TSV/JSON(L)/Parquet file, or a hub dataset id.
    `validation`: a `Dataset` or a local file; None: the DatasetDict's split, else a tenth of `train`
    held out (shuffled with `seed`).
    """
    import datasets

    if train is None or (isinstance(train, str) and not train.strip()):
        raise InputError("no dataset: pass dataset=... (a datasets.Dataset, a CSV/JSON/Parquet file, or a hub id).")
    if isinstance(train, (str, os.PathLike)):
        train = load_local_dataset(train) if os.path.isfile(train) else datasets.load_dataset(str(train))
    if isinstance(validation, (str, os.PathLike)):
        validation = load_local_dataset(validation)
    if isinstance(train, datasets.DatasetDict):
        if validation is None:
            validation = next((train[s] for s in ("validation", "test") if s in train), None)
        train = train["train"] if "train" in train else train[next(iter(train))]
    if len(train) == 0:
        raise InputError("the dataset is empty; it needs at least one labelled row.")
    check_columns(train, columns, "the dataset")
    if validation is None:
        split = train.train_test_split(test_size=max(1, len(train) // 10), seed=seed)
        train, validation = split["train"], split["test"]
    check_columns(validation, columns, "the evaluation dataset")
    return train, validation


def check_columns(dataset: Any, columns: Sequence[str], what: str = "dataset") -> None:
    names = list(getattr(dataset, "column_names", None) or (dataset[0].keys() if len(dataset) else []))
    missing = [c for c in columns if c not in names]
    if missing:
        raise InputError(f"{what} has no column(s) {missing}; its columns are {names}. Pick the right text/label column names.")


def label_mapping(values: Sequence[Any], config: Any) -> dict[Any, int]:
    """Map the dataset's label values to the model's class ids, or explain how to fix the head.

    Strings are matched against `config.label2id`; integers must be valid class ids.
    """
    distinct = sorted(set(values), key=str)
    label2id = dict(getattr(config, "label2id", {}) or {})
    num_labels = int(getattr(config, "num_labels", len(label2id)))
    mapping: dict[Any, int] = {}
    unknown = []
    for value in distinct:
        if isinstance(value, str) and value in label2id:
            mapping[value] = int(label2id[value])
        elif isinstance(value, str) and value.lstrip("-").isdigit() and 0 <= int(value) < num_labels:
            mapping[value] = int(value)
        elif isinstance(value, (int,)) and not isinstance(value, bool) and 0 <= value < num_labels:
            mapping[value] = int(value)
        else:
            unknown.append(value)
    if unknown:
        names = [str(v) for v in distinct]
        id2label = {i: n for i, n in enumerate(names)}
        raise LabelMismatchError(
            f"labels {unknown[:10]} are not in the model's label map {label2id} ({num_labels} classes). "
            f"Load the model with a head for your labels: from_pretrained(..., num_labels={len(names)}, "
            f"id2label={id2label}, label2id={ {n: i for i, n in id2label.items()} }, ignore_mismatched_sizes=True) "
            "(ignore_mismatched_sizes=True re-initialises a head of a different size)."
        )
    return mapping


def tokenize_dataset(
    dataset: Any,
    tokenizer: Any,
    *,
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str | None = "label",
    config: Any = None,
    max_length: int | None = 128,
    batch_size: int = 1000,
) -> Any:
    """Tokenize a `datasets.Dataset` in batches (`.map(batched=True)`), keeping only model inputs.

    Labels go to a `labels` column as class ids (checked against `config` when given).
    """
    if dataset is None or len(dataset) == 0:
        raise InputError("the dataset is empty; it needs at least one row to train or evaluate on.")
    columns = [text_column] + ([text_pair_column] if text_pair_column else []) + ([label_column] if label_column else [])
    check_columns(dataset, columns)
    mapping = label_mapping(dataset[label_column], config) if (label_column and config is not None) else None

    def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        pair = batch[text_pair_column] if text_pair_column else None
        out = dict(tokenizer(batch[text_column], pair, truncation=max_length is not None, max_length=max_length))
        if label_column:
            out["labels"] = [mapping[v] if mapping is not None else v for v in batch[label_column]]
        return out

    return dataset.map(encode, batched=True, batch_size=batch_size, remove_columns=list(dataset.column_names), desc="tokenizing")


class DataCollatorWithPadding:
    """Pad each batch only to its longest row (dynamic padding) with the tokenizer's `pad`."""

    def __init__(self, tokenizer: Any, pad_to_multiple_of: int | None = None) -> None:
        self.tokenizer = tokenizer
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]) -> dict[str, Any]:
        import torch

        if isinstance(features, Mapping):
            columns = dict(features)
        else:
            columns = {key: [row[key] for row in features] for key in features[0]}
        if "label" in columns and "labels" not in columns:
            columns["labels"] = columns.pop("label")
        labels = columns.pop("labels", None)
        inputs = {k: v for k, v in columns.items() if k in MODEL_INPUTS}
        batch = dict(self.tokenizer.pad(inputs, padding=True, pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="pt"))
        if labels is not None:
            batch["labels"] = torch.as_tensor(labels)
        return batch


def default_collate(features: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """Stack already equal-length rows into tensors (no tokenizer given)."""
    import torch

    columns = dict(features) if isinstance(features, Mapping) else {k: [r[k] for r in features] for k in features[0]}
    if "label" in columns and "labels" not in columns:
        columns["labels"] = columns.pop("label")
    try:
        return {k: torch.as_tensor(v) for k, v in columns.items() if k in MODEL_INPUTS}
    except ValueError as err:
        raise InputError(f"rows have different lengths ({err}); pass processing_class=tokenizer so batches are padded.") from None
