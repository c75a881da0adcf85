"""Set prediction with masks (Mask2Former, OneFormer): queries are matched one-to-one to target masks by the
Hungarian algorithm on a class + mask cost, then supervised by cross-entropy (unmatched queries learn "no object")
and by sigmoid-BCE and dice losses on sampled points (PointRend's uncertainty sampling) instead of every pixel.

Every random draw is `torch.rand` on the global generator, in the reference's order (per image: the matcher's points;
then the loss's oversampled points and its random points), so one seed reproduces the reference's loss exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def sample_point(features: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """features (N, C, H, W), points (N, P, 2) as (x, y) in [0, 1] -> (N, C, P), bilinear, zero outside."""
    return F.grid_sample(features, 2.0 * points[:, :, None] - 1.0, align_corners=False)[..., 0]


def pairwise_sigmoid_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """logits (Q, P), labels (T, P) in [0, 1] -> (Q, T): each pair's mean binary cross-entropy over the points.
    BCE(x, y) = y * softplus(-x) + (1 - y) * softplus(x): two matmuls instead of Q x T x P terms."""
    n = logits.shape[1]
    pos = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")
    neg = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction="none")
    return (pos / n) @ labels.T + (neg / n) @ (1 - labels).T


def pairwise_dice(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """logits (Q, P), labels (T, P) -> (Q, T): 1 - (2 |p.y| + 1) / (|p| + |y| + 1), p = sigmoid(logits)."""
    probs = logits.sigmoid()
    numerator = 2 * probs @ labels.T
    denominator = probs.sum(-1)[:, None] + labels.sum(-1)[None, :]
    return 1 - (numerator + 1) / (denominator + 1)


def sigmoid_bce_loss(logits: torch.Tensor, labels: torch.Tensor, num_masks: torch.Tensor) -> torch.Tensor:
    """Matched pairs (N, P): mean BCE over points, summed over masks, divided by the number of target masks."""
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(1).sum() / num_masks


def dice_loss(logits: torch.Tensor, labels: torch.Tensor, num_masks: torch.Tensor) -> torch.Tensor:
    """Matched pairs (N, P): dice loss summed over masks, divided by the number of target masks."""
    probs = logits.sigmoid()
    loss = 1 - (2 * (probs * labels).sum(-1) + 1) / (probs.sum(-1) + labels.sum(-1) + 1)
    return loss.sum() / num_masks


def linear_sum_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The assignment of rows to columns with the least total cost (each used once; min(rows, cols) pairs), as
    (row indices ascending, their columns). Exact: shortest augmenting paths with dual potentials (the Hungarian
    method, O(n^2 m)), vectorised over columns; equal to scipy.optimize.linear_sum_assignment where the optimum is
    unique."""
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"the cost matrix must be 2-D; got shape {cost.shape}.")
    transposed = cost.shape[0] > cost.shape[1]
    if transposed:
        cost = cost.T
    n, m = cost.shape  # n <= m: every row gets a column
    u, v = np.zeros(n + 1), np.zeros(m + 1)  # dual potentials; index 0 is a virtual row / column
    owner = np.zeros(m + 1, dtype=np.int64)  # the row (1-based) holding each column, 0 when free
    way = np.zeros(m + 1, dtype=np.int64)  # the previous column on the shortest path
    for i in range(1, n + 1):
        owner[0], j0 = i, 0
        dist = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = owner[j0]
            reduced = cost[i0 - 1] - u[i0] - v[1:]
            better = ~used[1:] & (reduced < dist[1:])
            dist[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(used[1:], np.inf, dist[1:])
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[owner[used]] += delta
            v[used] -= delta
            dist[~used] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:  # flip the augmenting path
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    cols = np.nonzero(owner[1:])[0]
    rows = owner[1:][cols] - 1
    if transposed:
        rows, cols = cols, rows
    order = np.argsort(rows)
    return rows[order], cols[order]


@torch.no_grad()
def match(masks: torch.Tensor, classes: torch.Tensor, mask_labels: Sequence[torch.Tensor],
          class_labels: Sequence[torch.Tensor], num_points: int, class_weight: float, mask_weight: float,
          dice_weight: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """masks (B, Q, h, w) logits, classes (B, Q, C + 1) logits -> per image (query ids ascending, their target ids).
    The cost of a pair: -class_weight * p(target class) + the mask BCE and dice on `num_points` random points
    (the same points for every pair of an image); NaN / inf costs become the largest float (matched last)."""
    out = []
    for i in range(masks.shape[0]):
        probs = classes[i].softmax(-1)[:, class_labels[i]]
        pred = masks[i][:, None]
        target = mask_labels[i].to(pred)[:, None]
        points = torch.rand(1, num_points, 2, device=pred.device)
        target = sample_point(target, points.expand(target.shape[0], -1, -1))[:, 0]
        pred = sample_point(pred, points.expand(pred.shape[0], -1, -1))[:, 0]
        cost = mask_weight * pairwise_sigmoid_bce(pred, target) - class_weight * probs \
            + dice_weight * pairwise_dice(pred, target)
        big = torch.finfo(cost.dtype).max
        cost = torch.nan_to_num(cost, nan=big, posinf=big, neginf=big)
        rows, cols = linear_sum_assignment(cost.cpu().numpy())
        out.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
    return out


@torch.no_grad()
def uncertain_points(logits: torch.Tensor, num_points: int, oversample_ratio: float,
                     importance_sample_ratio: float) -> torch.Tensor:
    """logits (N, 1, h, w) -> (N, num_points, 2) in [0, 1]: the `importance_sample_ratio` share are the most
    uncertain (|logit| smallest) of `oversample_ratio` x as many random points, the rest uniformly random."""
    n = logits.shape[0]
    drawn = int(num_points * oversample_ratio)
    points = torch.rand(n, drawn, 2, device=logits.device)
    uncertainty = -sample_point(logits, points)[:, 0].abs()
    k = int(importance_sample_ratio * num_points)
    keep = uncertainty.topk(k, dim=1)[1]
    points = torch.gather(points, 1, keep[..., None].expand(-1, -1, 2))
    if num_points - k > 0:
        points = torch.cat([points, torch.rand(n, num_points - k, 2, device=logits.device)], 1)
    return points


def pad_masks(mask_labels: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per image (T_i, h_i, w_i) -> (B, max T, max h, max w), zeros where an image has no mask or pixel."""
    size = [max(m.shape[d] for m in mask_labels) for d in range(3)]
    out = mask_labels[0].new_zeros(len(mask_labels), *size)
    for m, o in zip(mask_labels, out):
        o[:m.shape[0], :m.shape[1], :m.shape[2]] = m
    return out


def mask_classification_losses(masks: torch.Tensor, classes: torch.Tensor, mask_labels: Sequence[torch.Tensor],
                               class_labels: Sequence[torch.Tensor], empty_weight: torch.Tensor, *, num_points: int,
                               oversample_ratio: float, importance_sample_ratio: float, class_weight: float,
                               mask_weight: float, dice_weight: float) -> dict[str, torch.Tensor]:
    """One decoder step's unweighted losses: {"loss_mask", "loss_dice", "loss_cross_entropy"}. Unmatched queries are
    supervised towards the last class ("no object", weighted by `empty_weight`); matched pairs' masks are compared
    on `num_points` uncertain points each."""
    pairs = match(masks, classes, mask_labels, class_labels, num_points, class_weight, mask_weight, dice_weight)
    num_masks = torch.as_tensor(float(sum(len(c) for c in class_labels)), device=class_labels[0].device).clamp(min=1)
    batch = torch.cat([torch.full_like(q, i) for i, (q, _) in enumerate(pairs)])
    queries = torch.cat([q for q, _ in pairs])
    targets = torch.cat([t for _, t in pairs])
    pred = masks[batch, queries][:, None]
    target = pad_masks(mask_labels)[batch, targets][:, None]
    points = uncertain_points(pred, num_points, oversample_ratio, importance_sample_ratio)
    with torch.no_grad():
        point_labels = sample_point(target.to(pred.dtype), points)[:, 0]
    point_logits = sample_point(pred, points)[:, 0]
    target_classes = torch.full(classes.shape[:2], classes.shape[-1] - 1, dtype=torch.int64, device=classes.device)
    target_classes[batch, queries] = torch.cat([c[t] for c, (_, t) in zip(class_labels, pairs)]).to(target_classes)
    return {"loss_mask": sigmoid_bce_loss(point_logits, point_labels, num_masks),
            "loss_dice": dice_loss(point_logits, point_labels, num_masks),
            "loss_cross_entropy": F.cross_entropy(classes.transpose(1, 2), target_classes, weight=empty_weight)}
