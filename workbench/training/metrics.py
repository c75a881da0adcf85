"""Classification metrics with numpy only: accuracy, precision/recall/F1, confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np


def _as_labels(predictions: Any) -> np.ndarray:
    arr = np.asarray(predictions)
    return arr.argmax(-1) if arr.ndim > 1 else arr


def accuracy(predictions: Any, labels: Any) -> float:
    pred, ref = _as_labels(predictions), np.asarray(labels)
    return float((pred == ref).mean()) if ref.size else 0.0


def confusion_matrix(predictions: Any, labels: Any, num_labels: int | None = None) -> np.ndarray:
    """Rows are true labels, columns predicted labels (as scikit-learn)."""
    pred, ref = _as_labels(predictions).astype(int), np.asarray(labels).astype(int)
    n = num_labels or int(max(pred.max(initial=-1), ref.max(initial=-1)) + 1)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (ref, pred), 1)
    return matrix


def precision_recall_f1(predictions: Any, labels: Any, average: str = "macro", num_labels: int | None = None) -> dict[str, float]:
    """average="macro": unweighted mean over classes; "micro": from global counts. 0/0 counts as 0."""
    matrix = confusion_matrix(predictions, labels, num_labels)
    tp = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(0).astype(float), matrix.sum(1).astype(float)
    if average == "micro":
        tp, predicted, actual = tp.sum(keepdims=True), predicted.sum(keepdims=True), actual.sum(keepdims=True)
    elif average != "macro":
        raise ValueError(f"average={average!r}; use 'macro' or 'micro'.")
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())}


def classification_metrics(eval_pred: Any) -> dict[str, float]:
    """A ready `compute_metrics`: accuracy plus macro precision/recall/F1."""
    predictions, labels = eval_pred.predictions, eval_pred.label_ids
    scores = precision_recall_f1(predictions, labels, "macro")
    return {"accuracy": accuracy(predictions, labels), "f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"]}


def rank_correlation(a: Any, b: Any, valid: Any = None) -> float:
    """Spearman's rank correlation of two arrays (same shape) over the `valid` entries (default: where both are
    finite): the Pearson correlation of their ranks, ties given their average rank. 1: the same order, -1: reversed.
    What a relative depth (only its order means anything) can be scored with against a measured one."""
    x, y = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"rank_correlation needs arrays of one size; got {np.asarray(a).shape} and {np.asarray(b).shape}.")
    keep = np.isfinite(x) & np.isfinite(y)
    if valid is not None:
        keep &= np.asarray(valid, dtype=bool).ravel()
    x, y = x[keep], y[keep]
    if x.size < 2:
        return float("nan")

    def ranks(v: np.ndarray) -> np.ndarray:
        _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
        ends = np.cumsum(counts)
        return ((ends - (counts - 1) / 2.0) - 1)[inverse]  # average 0-based rank of each tie group

    rx, ry = ranks(x), ranks(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denom = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")
