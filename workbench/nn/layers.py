"""Small building blocks more than one vision family uses."""

from __future__ import annotations

import torch


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: during training, drop a sample's whole residual branch with probability p (and scale the
    kept ones by 1 / (1 - p)); the identity at inference."""
    if p == 0.0 or not training:
        return x
    keep = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(1 - p)
    return x / (1 - p) * keep
