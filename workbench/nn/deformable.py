"""Multi-scale deformable attention (Deformable DETR; Mask2Former's and OneFormer's pixel decoders) in plain
PyTorch: each query reads a few bilinearly sampled points per head and per feature level (`grid_sample`, no
compiled extension) and mixes them with its own softmax weights.

`multi_scale_deformable_attention` is the op: values of every level flattened into one sequence, the sampling
locations in [0, 1] (x, y) of each level, the weights. The reference's pure-PyTorch path computes the same numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def multi_scale_deformable_attention(value: torch.Tensor, shapes: list[tuple[int, int]], locations: torch.Tensor,
                                     weights: torch.Tensor) -> torch.Tensor:
    """value (B, S, H, D) with S = sum of h * w over `shapes` (each level row by row); locations (B, Q, H, L, P, 2)
    as (x, y) in [0, 1] of each level; weights (B, Q, H, L, P) -> (B, Q, H * D).

    Points outside a map read zeros (grid_sample's padding) and centres of cells are at (i + 0.5) / size, as
    `align_corners=False` puts them."""
    B, S, H, D = value.shape
    _, Q, _, L, P, _ = locations.shape
    # points before queries, so each point's samples are one contiguous (D, Q) plane: the weighted sum is then a
    # few multiply-adds over whole planes, not a multiply and a sum over a trailing axis of size P
    grids = (2 * locations - 1).permute(0, 2, 3, 4, 1, 5).flatten(0, 1)  # (B*H, L, P, Q, 2) in grid_sample's [-1, 1]
    w = weights.permute(0, 2, 3, 4, 1).flatten(0, 1)  # (B*H, L, P, Q)
    values = value.permute(0, 2, 3, 1).flatten(0, 1)  # (B*H, D, S): every level's cells, channels first
    out = value.new_zeros(B * H, D, Q)
    start = 0
    for level, (h, w_) in enumerate(shapes):
        v = values[:, :, start:start + h * w_].reshape(B * H, D, h, w_)
        start += h * w_
        sampled = F.grid_sample(v, grids[:, level], mode="bilinear", padding_mode="zeros",
                                align_corners=False)  # (B*H, D, P, Q)
        for point in range(P):
            out.addcmul_(sampled[:, :, point], w[:, None, level, point])
    return out.reshape(B, H * D, Q).transpose(1, 2)  # (B, Q, H*D)


def reference_points(shapes: list[tuple[int, int]], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(S, 2) the centre (x, y) in [0, 1] of every cell of every level, levels one after another, row by row."""
    points = []
    for h, w in shapes:
        y, x = torch.meshgrid(torch.linspace(0.5, h - 0.5, h, dtype=dtype, device=device) / h,
                              torch.linspace(0.5, w - 0.5, w, dtype=dtype, device=device) / w, indexing="ij")
        points.append(torch.stack((x.reshape(-1), y.reshape(-1)), -1))
    return torch.cat(points, 0)


__all__ = ["multi_scale_deformable_attention", "reference_points"]
