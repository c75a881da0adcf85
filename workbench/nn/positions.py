"""Position embeddings of image feature maps that more than one family uses (DETR, Mask2Former, OneFormer)."""

from __future__ import annotations

import math

import torch


def sine_positions(mask: torch.Tensor, num_features: int, dtype: torch.dtype, temperature: float = 10000.0) -> torch.Tensor:
    """(B, h, w) bool mask of real cells -> (B, h*w, 2 * num_features): DETR's normalised sine embedding (y then x)."""
    m = mask.to(dtype)
    y = m.cumsum(1)
    x = m.cumsum(2)
    eps, scale = 1e-6, 2 * math.pi
    y = y / (y[:, -1:, :] + eps) * scale
    x = x / (x[:, :, -1:] + eps) * scale
    dim_t = torch.arange(num_features, dtype=torch.int64, device=mask.device).to(dtype)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / num_features)
    px, py = x[..., None] / dim_t, y[..., None] / dim_t  # (B, h, w, F)
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=4).flatten(3)
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=4).flatten(3)
    return torch.cat((py, px), dim=3).flatten(1, 2)  # (B, h*w, 2F)
