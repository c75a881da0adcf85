"""Attention behind one signature: fused sdpa by default, eager when probabilities are wanted."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .hooks import HookPoint


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    dropout_p: float = 0.0,
    scale: float | None = None,
    is_causal: bool = False,
    probs_hook: HookPoint | None = None,
) -> torch.Tensor:
    """Scaled dot-product attention. q, k, v: (B, H, T, D); mask: additive float, broadcastable to (B, H, Tq, Tk).

    The eager path runs only when `probs_hook` is being captured, so the probabilities
    can be recorded (or edited) there; otherwise torch's fused kernel does the work.
    """
    if probs_hook is None or not probs_hook.active:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale  # (B, H, Tq, Tk)
    if is_causal:
        tq, tk = scores.shape[-2:]
        causal = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(tk - tq)
        scores = scores.masked_fill(~causal, torch.finfo(scores.dtype).min)
    if mask is not None:
        scores = scores + mask
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    probs = probs_hook(probs)
    if dropout_p > 0.0:
        probs = F.dropout(probs, p=dropout_p)
    return torch.matmul(probs, v)  # (B, H, Tq, D)


def additive_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """(B, Tk) 1/0 padding mask -> (B, 1, 1, Tk) additive mask; None when nothing is masked."""
    if attention_mask is None:
        return None
    if attention_mask.dim() == 2:
        if bool(attention_mask.all()):
            return None  # no padding: let sdpa take its fastest path
        attention_mask = attention_mask[:, None, None, :]
    return (1.0 - attention_mask.to(dtype)) * torch.finfo(dtype).min
