"""Datasets for training: local files via `datasets`, train/evaluation splits, batched
tokenization, dynamic padding, and label checks against the model's label map."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..errors import InputError, UnsupportedModelError, WorkbenchError
from ..models import family

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
    names = column_names(dataset)
    missing = [c for c in columns if c not in names]
    if missing:
        raise InputError(f"{what} has no column(s) {missing}; its columns are {names}. Pick the right text/label column names.")


IGNORE_INDEX = -100  # a row (or token) labelled -100 is skipped by the loss, as in the reference


def label_mapping(values: Iterable[Any], config: Any, *, names: bool = True, what: str = "the dataset") -> dict[Any, int]:
    """Map label values to the model's class ids, or raise `LabelMismatchError` naming the bad values and the fix.

    The one label check, whichever way labels reach a model. `tokenize_dataset` maps raw values
    (names=True: strings through `config.label2id`, digit strings and integers as ids); the Trainer
    checks the rows it is given (names=False: a batch can only hold integer class ids). -100 passes
    unchanged in both.
    """
    distinct = sorted({_plain(v) for v in values}, key=str)
    label2id = dict(getattr(config, "label2id", {}) or {})
    num_labels = int(getattr(config, "num_labels", len(label2id)))
    mapping: dict[Any, int] = {}
    unknown, named, negative, other = [], [], [], []
    for value in distinct:
        if _is_int(value):
            if 0 <= value < num_labels or value == IGNORE_INDEX:
                mapping[value] = int(value)
            else:
                (negative if value < 0 else unknown).append(value)
        elif isinstance(value, str) and value in label2id:
            if names:
                mapping[value] = int(label2id[value])
            else:
                named.append(value)
        elif isinstance(value, str) and names and value.lstrip("-").isdigit() and 0 <= int(value) < num_labels:
            mapping[value] = int(value)
        elif isinstance(value, str):
            unknown.append(value)
        else:
            other.append(value)  # floats, booleans, None
    problems = []
    if unknown:
        problems.append(f"labels {unknown[:10]} are not in the model's label map {label2id} ({num_labels} classes). "
                        + _head_fix([v for v in distinct if v not in other and v != IGNORE_INDEX]))
    if named:
        problems.append(f"labels {named[:10]} are label names, but the Trainer needs class ids: map them through the "
                        f"model's label2id {label2id}, as tokenize_dataset(dataset, tokenizer, config=model.config) does.")
    if negative:
        problems.append(f"labels {negative[:10]} are negative, but class ids start at 0 (only -100, which the loss "
                        f"ignores, may be negative); map them to 0..{num_labels - 1}.")
    if None in other:
        problems.append("some rows have no label (None): drop them, e.g. dataset.filter(lambda row: row['labels'] is "
                        "not None), or label them -100 so the loss ignores them.")
    if [v for v in other if v is not None]:
        problems.append(f"labels {[v for v in other if v is not None][:10]} are not integer class ids: a "
                        f"{num_labels}-class head needs integer class ids 0..{num_labels - 1}; cast the column to int, "
                        "or, for regression (one number per row), load the model with num_labels=1.")
    if problems:
        raise LabelMismatchError(f"{what} has labels the model's head cannot take: " + " ".join(problems))
    return mapping


def _head_fix(labels: list[Any]) -> str:
    """How to get a head that takes `labels`: room for the largest id, or one class per name."""
    if all(_is_int(v) for v in labels):
        return (f"Load the model with a head that has room for them: from_pretrained(..., num_labels={max(labels) + 1}, "
                "ignore_mismatched_sizes=True), or map them to the head's ids.")
    id2label = dict(enumerate(str(v) for v in labels))
    return (f"Load the model with a head for your labels: from_pretrained(..., num_labels={len(id2label)}, "
            f"id2label={id2label}, label2id={ {n: i for i, n in id2label.items()} }, ignore_mismatched_sizes=True) "
            "(ignore_mismatched_sizes=True re-initialises a head of a different size).")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    """numpy and torch scalars (and arrays) as Python values, so every source is checked alike."""
    return value.tolist() if hasattr(value, "tolist") else value


_LABEL_MAP_HEADS = ("sequence-classification", "token-classification")


def check_labels(dataset: Any, model: Any, what: str, *, required: bool = False) -> None:
    """The Trainer's check of rows that may not have come through `tokenize_dataset`, before step 1.

    A label outside the head gets the same `LabelMismatchError` as on the helper path (not
    "IndexError: Target 5 is out of bounds" at the first batch). `required`: a model that learns
    from `labels` needs that column. Heads without a label map (regression, multi-label, language
    modelling, spans) are not checked.
    """
    columns = column_names(dataset)
    name = next((c for c in ("labels", "label") if c in columns), None)  # the collators rename "label"
    takes_labels = "labels" in inspect.signature(model.forward).parameters
    if name is None:
        if required and takes_labels:
            raise InputError(
                f"the {what} has no 'labels' column (columns: {columns}); {type(model).__name__} learns from it. "
                "Add the class ids as 'labels', e.g. tokenize_dataset(dataset, tokenizer, label_column=..., "
                "config=model.config)."
            )
        return
    config, task = getattr(model, "config", None), _head_task(model)
    if (task not in _LABEL_MAP_HEADS or getattr(config, "num_labels", 2) == 1
            or getattr(config, "problem_type", None) in ("regression", "multi_label_classification")):
        return
    # one columnar read for a datasets.Dataset; other datasets are read row by row, once
    rows = dataset[name] if hasattr(dataset, "column_names") else (dataset[i].get(name) for i in range(len(dataset)))
    values = [_plain(v) for v in rows]
    if task == "token-classification":
        values = [token for row in values for token in (row if isinstance(row, list) else [row])]
    elif any(isinstance(v, list) for v in values):
        return  # multi-hot rows: multi-label classification has no class ids to check
    label_mapping(values, config, names=False, what=f"the {what}")


def _head_task(model: Any) -> str | None:
    """The task head `model` is (a key of its family's HEADS), or None for a model we do not know."""
    try:
        heads = family(getattr(getattr(model, "config", None), "model_type", None)).HEADS
    except UnsupportedModelError:
        return None
    return next((task for task, cls in heads.items() if isinstance(model, cls)), None)


def column_names(dataset: Any) -> list[str]:
    """A `datasets.Dataset`'s columns, or the keys of a list of dicts' first row."""
    return list(getattr(dataset, "column_names", None) or (dataset[0].keys() if len(dataset) else []))


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


def as_columns(features: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """A batch as columns (name -> values), whether it came as rows or as columns already."""
    return dict(features) if isinstance(features, Mapping) else {k: [row[k] for row in features] for k in features[0]}


class DataCollatorWithPadding:
    """Pad each batch only to its longest row (dynamic padding) with the tokenizer's `pad`."""

    def __init__(self, tokenizer: Any, pad_to_multiple_of: int | None = None) -> None:
        self.tokenizer = tokenizer
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]) -> dict[str, Any]:
        import torch

        columns = as_columns(features)
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

    columns = as_columns(features)
    if "label" in columns and "labels" not in columns:
        columns["labels"] = columns.pop("label")
    try:
        return {k: torch.as_tensor(v) for k, v in columns.items() if k in MODEL_INPUTS}
    except ValueError as err:
        raise InputError(f"rows have different lengths ({err}); pass processing_class=tokenizer so batches are padded.") from None


class DataCollatorForMaskClassification:
    """Image rows for mask-classification models (Mask2Former): `pixel_values` (C, H, W) stacked into a batch;
    `mask_labels` (targets, H, W) and `class_labels` (targets,) kept as per-image lists, since every image has its
    own number of targets."""

    def __call__(self, features: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]) -> dict[str, Any]:
        import torch

        columns = as_columns(features)
        missing = [k for k in ("pixel_values", "mask_labels", "class_labels") if k not in columns]
        if missing:
            raise InputError(f"the rows have no {missing} (columns: {sorted(columns)}); each row needs pixel_values "
                             "(channels, height, width), mask_labels (targets, height, width) of 0/1 and class_labels "
                             "(targets,) of class ids.")
        try:
            pixels = torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in columns["pixel_values"]])
        except RuntimeError as err:
            raise InputError(f"the images of a batch differ in size ({err}); resize them to one size with the "
                             "image processor first.") from None
        return {"pixel_values": pixels,
                "mask_labels": [torch.as_tensor(m, dtype=torch.float32) for m in columns["mask_labels"]],
                "class_labels": [torch.as_tensor(c, dtype=torch.long) for c in columns["class_labels"]]}
