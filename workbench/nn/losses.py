"""Losses the task heads share, computed as the reference library computes them."""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F


def sequence_classification_loss(logits: torch.Tensor, labels: torch.Tensor, config: Any) -> torch.Tensor:
    """Regression for one label, cross-entropy for class ids, BCE for multi-hot labels (as the reference)."""
    num_labels = config.num_labels
    problem = config.problem_type
    if problem is None:
        if num_labels == 1:
            problem = "regression"
        elif labels.dtype in (torch.long, torch.int):
            problem = "single_label_classification"
        else:
            problem = "multi_label_classification"
    if problem == "regression":
        if num_labels == 1:
            return F.mse_loss(logits.squeeze(-1), labels.squeeze(-1).to(logits.dtype))
        return F.mse_loss(logits, labels.to(logits.dtype))
    if problem == "single_label_classification":
        return F.cross_entropy(logits.view(-1, num_labels), labels.view(-1))
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


def token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over tokens; label -100 marks tokens to ignore."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def span_loss(start_logits: torch.Tensor, end_logits: torch.Tensor, start_positions: torch.Tensor,
              end_positions: torch.Tensor) -> torch.Tensor:
    """Question answering: mean of start and end cross-entropies; positions outside the input are ignored."""
    n = start_logits.shape[1]
    start = start_positions.reshape(-1).clamp(0, n)
    end = end_positions.reshape(-1).clamp(0, n)
    return (F.cross_entropy(start_logits, start, ignore_index=n) + F.cross_entropy(end_logits, end, ignore_index=n)) / 2


def ctc_loss(logits: torch.Tensor, labels: torch.Tensor, logit_lengths: torch.Tensor, *, blank: int,
             reduction: str = "mean", zero_infinity: bool = False) -> torch.Tensor:
    """CTC over (B, T, V) logits; label positions holding -100 or the blank id are padding (as the reference)."""
    labels = labels.to(logits.device)
    keep = (labels != -100) & (labels != blank)
    log_probs = F.log_softmax(logits, dim=-1, dtype=torch.float32).transpose(0, 1)  # (T, B, V)
    with torch.backends.cudnn.flags(enabled=False):  # cuDNN's CTC has other length rules
        return F.ctc_loss(log_probs, labels.masked_select(keep), logit_lengths, keep.sum(-1), blank=blank,
                          reduction=reduction, zero_infinity=zero_infinity)


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy: position i predicts label i + 1 (-100 ignored), as the reference."""
    shifted = F.pad(labels, (0, 1), value=-100)[..., 1:]
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), shifted.reshape(-1),
                                             ignore_index=-100)
